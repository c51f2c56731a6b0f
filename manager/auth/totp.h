// TOTP second factor for console users (RFC 6238 over RFC 4226 HOTP): HMAC-SHA-1 from OpenSSL,
// 6 digits, 30-second steps counted from the Unix epoch, codes accepted one step either side of
// now (clock drift between the phone and the manager). A code's step is returned so the caller can
// refuse it a second time (Store::UseTotpStep keeps the last step used per user).
// Secrets are 20 random bytes (160 bits, RFC 4226's recommendation), written in base32 (RFC 4648,
// upper case, no padding) the way authenticator apps read them.
// Thread-safety: pure functions (randomness from getrandom).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ward::manager {

using TimePoint = std::chrono::system_clock::time_point;  // as manager/store/store.h

inline constexpr int kTotpDigits = 6;
inline constexpr int64_t kTotpPeriodSeconds = 30;

// RFC 4648 base32, upper case, no padding. Decoding accepts lower case, spaces and '=' padding;
// nullopt for any other character.
std::string Base32Encode(std::string_view bytes);
std::optional<std::string> Base32Decode(std::string_view text);

// A new secret: 20 random bytes, base32 (32 characters).
std::string NewTotpSecret();

// The step a time falls in: floor(unix seconds / 30).
int64_t TotpStep(TimePoint t);

// HOTP(secret, counter) truncated to `digits` decimal digits (zero-padded).
// REQUIRES: 6 <= digits <= 8. `key` is the raw secret (not base32).
std::string Hotp(std::string_view key, uint64_t counter, int digits = kTotpDigits);

// The step within [step(now) - 1, step(now) + 1] whose code is `code`, or nullopt (also for a
// malformed code or secret). Compares in constant time per candidate.
std::optional<int64_t> VerifyTotp(std::string_view base32_secret, std::string_view code,
                                  TimePoint now);

// otpauth://totp/<issuer>:<account>?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30
// (Google Authenticator's key URI format; issuer and account percent-encoded).
std::string TotpUri(std::string_view issuer, std::string_view account,
                    std::string_view base32_secret);

}  // namespace ward::manager
