#include "manager/auth/passwords.h"

#include <sodium.h>

namespace ward::manager {
namespace {

constexpr unsigned long long kOps = 2;
constexpr size_t kMem = 19u << 20;

bool Init() {
  static const bool ok = sodium_init() >= 0;
  return ok;
}

}  // namespace

Result<std::string> HashPassword(std::string_view password) {
  if (!Init()) return Internal("libsodium could not be initialised");
  if (password.empty() || password.size() > kMaxPasswordLength) {
    return InvalidArgument("password: expected 1..1024 bytes");
  }
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), kOps, kMem,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Internal("password hashing ran out of memory");
  }
  return std::string(out);
}

bool VerifyPassword(std::string_view hash, std::string_view password) {
  if (!Init() || hash.empty() || hash.size() >= crypto_pwhash_STRBYTES ||
      !hash.starts_with("$argon2id$")) {
    return false;
  }
  std::string h(hash);  // NUL-terminated for libsodium
  return crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) == 0;
}

void VerifyPasswordDummy(std::string_view password) {
  static const std::string dummy = [] {
    auto h = HashPassword("ward-dummy-password-for-timing");
    return h ? *h : std::string();
  }();
  (void)VerifyPassword(dummy, password);
}

std::string NewPassword() {
  Init();
  static constexpr std::string_view kAlphabet = "abcdefghjkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY34679";
  std::string out;
  out.reserve(20);
  for (int i = 0; i < 20; ++i) {
    out.push_back(kAlphabet[randombytes_uniform(static_cast<uint32_t>(kAlphabet.size()))]);
  }
  return out;
}

}  // namespace ward::manager
