// Small text helpers: UTF-8 validation, lossless rendering of arbitrary bytes, hex, base64.
// All functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ward {

bool IsValidUtf8(std::string_view bytes);
// Replaces each byte that is not part of valid UTF-8 with U+FFFD.
std::string LossyUtf8(std::string_view bytes);
std::string ToHex(std::span<const uint8_t> bytes);
std::string Base64Encode(std::string_view bytes);
std::optional<std::string> Base64Decode(std::string_view text);
// Lexical normalisation of an absolute path: "//a/./b/../c/" -> "/a/c"; ".." never climbs above
// "/". No file system access (symlinks are not resolved). REQUIRES: path starts with '/'.
std::string NormalizeAbsolutePath(std::string_view path);
// The value of one hex digit (0-9, a-f, A-F), -1 for any other byte.
int HexDigitValue(char c);
// `s` with its letters upper-cased (std::toupper, per byte).
std::string UpperCase(std::string_view s);
// Whether `a` and `b` are equal ignoring the case of letters (std::tolower, per byte).
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace ward
