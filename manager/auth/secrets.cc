#include "manager/auth/secrets.h"

#include <fmt/format.h>

#include "common/clock.h"
#include "common/event.h"
#include "common/hash.h"
#include "common/text.h"

namespace ward::manager {
namespace {

std::string RandomToken() {
  uint8_t b[32];
  WARD_CHECK(RandomBytes(b).ok());
  std::string s = Base64Encode(std::string_view(reinterpret_cast<const char*>(b), sizeof b));
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

}  // namespace

std::string NewApiKeySecret() { return "wak_" + RandomToken(); }
std::string NewActivationToken() { return "wat_" + RandomToken(); }
std::string NewAgentCredential(std::string_view agent_id) {
  return fmt::format("wac_{}_{}", agent_id, RandomToken());
}

std::string HashSecret(std::string_view secret) { return DigestHex(Sha256::Of(secret)); }

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string NewId() { return NewEventId(SystemClock().Now()); }

}  // namespace ward::manager
