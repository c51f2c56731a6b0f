// The console account inputs of issue 14 (helper c1) on arbitrary bytes: a time zone name from
// PATCH /session (checked against the zoneinfo directory: it must never name a file outside it),
// and a TOTP code and base32 secret (sign-in, confirm, disable).
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "manager/auth/time_zones.h"
#include "manager/auth/totp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ward::manager;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // Names that climb out of the directory or are absolute are refused before any file access.
  if (ValidTimeZone(in) && (in.find("..") != std::string_view::npos || in.starts_with('/'))) {
    __builtin_trap();
  }
  // Split the input: the first 6 bytes as a code, the rest as a secret.
  std::string_view code = in.substr(0, std::min<size_t>(6, in.size()));
  std::string_view secret = in.substr(code.size());
  auto step = VerifyTotp(secret, code, TimePoint(std::chrono::seconds(1'800'000'000)));
  if (step && (*step < 59'999'999 || *step > 60'000'001)) __builtin_trap();
  auto decoded = Base32Decode(secret);
  if (decoded && Base32Decode(Base32Encode(*decoded)) != decoded) __builtin_trap();
  return 0;
}
