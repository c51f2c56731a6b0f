// SecretBox: secrets the manager must read back (today the console users' TOTP secrets) kept in
// the database encrypted with a key that is not in the database: libsodium's crypto_secretbox
// (XSalsa20-Poly1305, a random 24-byte nonce per value). A stolen database dump, or a read-only
// SQL injection, then yields no usable second factor.
//
// The key is 32 random bytes in a file of the manager's state directory (`manager.key`, mode
// 0600, created by `ward-manager init` and, when missing, by `serve`). Every manager node sharing
// one database needs the same file (copy it like the TLS key); without it, sealed values cannot
// be opened (kDataLoss), and the users concerned enrol again after an admin turns their factor
// off.
//
// A sealed value is "sb1:" + base64url(nonce || ciphertext || tag), no padding.
// Thread-safety: immutable after construction; Seal/Open may run from many threads.
#pragma once

#include <array>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ward::manager {

class SecretBox {
 public:
  static constexpr size_t kKeyBytes = 32;
  using Key = std::array<unsigned char, kKeyBytes>;

  // Reads the key file, or creates it (0600, its directory 0700 when created) when it does not
  // exist; `created` says which. Errors: a file of the wrong size or readable by group/others
  // (kFailedPrecondition, naming the file), I/O (kUnavailable).
  static Result<SecretBox> LoadOrCreate(const std::filesystem::path& file, bool* created = nullptr);
  // A key that lives in memory only (tests; a manager without a state directory).
  static SecretBox Ephemeral();
  explicit SecretBox(const Key& key) : key_(key) {}

  std::string Seal(std::string_view plain) const;
  // kDataLoss when `sealed` was not sealed with this key or was changed; kInvalidArgument when it
  // is not a sealed value at all.
  Result<std::string> Open(std::string_view sealed) const;
  static bool IsSealed(std::string_view value) { return value.starts_with("sb1:"); }
  // A 32-byte key for another purpose, derived from this one (BLAKE2b keyed with this key over
  // `purpose`): e.g. the seed of the update-signing key (docs/updates.md), the same on every
  // node sharing manager.key.
  Key DeriveKey(std::string_view purpose) const;

 private:
  Key key_{};
};

}  // namespace ward::manager
