// Request-target decoding for the network front (manager/api/server.cc): what a handler sees as
// HttpRequest::path and ::query. Untrusted bytes: fuzzed by fuzz_manager_front_head.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ward::manager {

// Percent-decodes `in` ("%41" -> "A"; a '%' not followed by two hex digits stays as it is);
// with plus_as_space, '+' becomes ' ' (query strings).
std::string PercentDecode(std::string_view in, bool plus_as_space);

// Splits an origin-form request target ("/path?query") into its decoded path and its query
// parameters: split at '&' and at the first '=', each part decoded with '+' as space, kept in
// order; parameters with an empty name are dropped. False (path and query unspecified) when the
// target does not start with '/' or its decoded path holds a NUL byte.
bool SplitTarget(std::string_view target, std::string& path,
                 std::vector<std::pair<std::string, std::string>>& query);

}  // namespace ward::manager
