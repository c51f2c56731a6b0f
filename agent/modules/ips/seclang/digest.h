// MD5 and SHA-1 of a byte string, without allocation, for t:md5 and t:sha1 (which return the raw
// digest bytes, as libmodsecurity does). Not for security: the rule language asks for them.
// Thread-safety: pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace ward::seclang {

std::array<uint8_t, 16> Md5Digest(std::string_view data);
std::array<uint8_t, 20> Sha1Digest(std::string_view data);

}  // namespace ward::seclang
