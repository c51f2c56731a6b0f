// Request targets come from the network: the IPS's path-prefix matching (path_prefix.h) must
// terminate, never crash, and keep its invariants: a normalised path is a fixed point (unless it
// holds a decoded '?' or '#', which a second pass would read as the query), and a target is
// covered exactly when its normalised path is. Input: prefix '\0' target.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/modules/ips/path_prefix.h"

using namespace ward::agent::ips;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nul = in.find('\0');
  std::string_view prefix = nul == std::string_view::npos ? "/api/" : in.substr(0, nul);
  std::string_view target = nul == std::string_view::npos ? in : in.substr(nul + 1);
  auto n = NormalizeRequestPath(target);
  if (n && n->find_first_of("?#") == std::string::npos) {
    auto again = NormalizeRequestPath(*n);
    if (!again || *again != *n) __builtin_trap();
  }
  if (ValidatePathPrefix(prefix).empty()) {
    bool covered = PathPrefixMatches(target, prefix);
    bool plain = n && n->find_first_of("?#") == std::string::npos;
    if (plain && covered != PathPrefixMatches(*n, prefix)) __builtin_trap();
    if (!n && covered) __builtin_trap();
  }
  return 0;
}
