// Secrets the manager hands out once and keeps only as SHA-256 (hex) of the whole string:
//   API keys           wak_<43 chars base64url: 256 bits>
//   activation tokens  wat_<43 chars>
//   agent credentials  wac_<agent id>_<43 chars>
// Thread-safety: pure functions (randomness from getrandom).
#pragma once

#include <string>
#include <string_view>

#include "manager/store/store.h"

namespace ward::manager {

std::string NewApiKeySecret();
std::string NewActivationToken();
std::string NewAgentCredential(std::string_view agent_id);
// SHA-256 of the whole secret, 64 lowercase hex digits.
std::string HashSecret(std::string_view secret);
// Compares two strings in time independent of where they differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// A new time-ordered id (UUIDv7) for any stored object.
std::string NewId();

}  // namespace ward::manager
