// Console passwords: Argon2id through libsodium's crypto_pwhash_str (the stored string carries
// the algorithm, its parameters and the salt), and the generated passwords `ward-manager init`
// and POST /api/v1/users hand out once.
// Parameters: t = 2 passes over m = 19 MiB, one lane (OWASP's Argon2id minimum), so that 16
// concurrent sign-ins stay within ~300 MiB.
// Thread-safety: pure functions (libsodium is initialised once, thread-safely).
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace ward::manager {

// REQUIRES: password is 1..1024 bytes (callers validate; longer is kInvalidArgument).
Result<std::string> HashPassword(std::string_view password);

// True when `password` matches `hash` (a crypto_pwhash_str string). An empty or malformed hash
// matches nothing. Takes about as long as HashPassword either way.
bool VerifyPassword(std::string_view hash, std::string_view password);

// Spends the time a verification takes without a stored hash (for unknown user names, so the
// answer's timing does not tell which names exist).
void VerifyPasswordDummy(std::string_view password);

// 20 characters from an alphabet without look-alikes (about 111 bits).
std::string NewPassword();

// Passwords chosen by people: 12..1024 bytes.
inline constexpr size_t kMinPasswordLength = 12;
inline constexpr size_t kMaxPasswordLength = 1024;

}  // namespace ward::manager
