// gzip (RFC 1952) through zlib, for event batches and compressed request bodies.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace ward::agent::transport {

std::string Gzip(std::string_view data);
// Fails on malformed input or when the output would exceed max_out bytes.
Result<std::string> Gunzip(std::string_view data, size_t max_out);

}  // namespace ward::agent::transport
