#include "manager/auth/totp.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>

#include "common/hash.h"
#include "manager/auth/secrets.h"

namespace ward::manager {
namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

int Base32Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

std::string PercentEncode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '.' || c == '_' || c == '~' || c == '@';
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

}  // namespace

std::string Base32Encode(std::string_view bytes) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 5) {
      out += kAlphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += kAlphabet[(buffer << (5 - bits)) & 31];
  return out;
}

std::optional<std::string> Base32Decode(std::string_view text) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == ' ' || c == '=') continue;
    const int v = Base32Value(c);
    if (v < 0) return std::nullopt;
    buffer = (buffer << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out += static_cast<char>((buffer >> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return out;
}

std::string NewTotpSecret() {
  std::array<uint8_t, 20> key{};
  WARD_CHECK(RandomBytes(key).ok());
  return Base32Encode(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
}

int64_t TotpStep(TimePoint t) {
  const int64_t s = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  // floor division, so times before 1970 (never in practice) still step correctly
  return s >= 0 ? s / kTotpPeriodSeconds : -((-s + kTotpPeriodSeconds - 1) / kTotpPeriodSeconds);
}

std::string Hotp(std::string_view key, uint64_t counter, int digits) {
  WARD_CHECK(digits >= 6 && digits <= 8);
  std::array<unsigned char, 8> msg{};
  for (int i = 7; i >= 0; --i) {
    msg[static_cast<size_t>(i)] = static_cast<unsigned char>(counter & 0xff);
    counter >>= 8;
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_len = 0;
  WARD_CHECK(HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), msg.data(), msg.size(),
                  mac.data(), &mac_len) != nullptr);
  WARD_CHECK(mac_len == 20);
  const unsigned offset = mac[19] & 0x0f;
  const uint32_t binary = (static_cast<uint32_t>(mac[offset] & 0x7f) << 24) |
                          (static_cast<uint32_t>(mac[offset + 1]) << 16) |
                          (static_cast<uint32_t>(mac[offset + 2]) << 8) |
                          static_cast<uint32_t>(mac[offset + 3]);
  uint32_t mod = 1;
  for (int i = 0; i < digits; ++i) mod *= 10;
  return fmt::format("{:0{}}", binary % mod, digits);
}

std::optional<int64_t> VerifyTotp(std::string_view base32_secret, std::string_view code,
                                  TimePoint now) {
  if (code.size() != static_cast<size_t>(kTotpDigits)) return std::nullopt;
  for (char c : code) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  auto key = Base32Decode(base32_secret);
  if (!key || key->empty()) return std::nullopt;
  const int64_t step = TotpStep(now);
  std::optional<int64_t> found;
  for (int64_t s = step - 1; s <= step + 1; ++s) {
    // every candidate is computed and compared, whichever matches
    if (ConstantTimeEquals(Hotp(*key, static_cast<uint64_t>(s)), code) && !found) found = s;
  }
  return found;
}

std::string TotpUri(std::string_view issuer, std::string_view account,
                    std::string_view base32_secret) {
  return fmt::format("otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={}&period={}",
                     PercentEncode(issuer), PercentEncode(account), base32_secret,
                     PercentEncode(issuer), kTotpDigits, kTotpPeriodSeconds);
}

}  // namespace ward::manager
