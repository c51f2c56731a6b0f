// SHA-256 and HMAC-SHA-256 through OpenSSL 3 EVP (which uses the CPU's SHA instructions).
// Thread-safety: each object is for one thread at a time; distinct objects are independent.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ward {

using Sha256Digest = std::array<uint8_t, 32>;

std::string DigestHex(const Sha256Digest& d);

// Incremental SHA-256. Reset() makes the object reusable without reallocating.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Reset();
  void Update(const void* data, size_t len);
  Sha256Digest Finish();

  static Sha256Digest Of(std::string_view data);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Hashes everything readable from fd (from its current offset) using buf as the read buffer.
// Returns the digest and, through bytes_read, how many bytes went in. Fails on a read error.
Result<Sha256Digest> Sha256Fd(int fd, std::span<uint8_t> buf, Sha256& hasher,
                              uint64_t* bytes_read = nullptr);

// HMAC-SHA-256 with a fixed key; Compute() may be called repeatedly.
class HmacSha256 {
 public:
  static Result<std::unique_ptr<HmacSha256>> Create(std::span<const uint8_t> key);
  ~HmacSha256();

  Sha256Digest Compute(std::string_view data);

 private:
  HmacSha256() = default;
  struct State;
  std::unique_ptr<State> state_;
};

// Fills buf with cryptographically secure random bytes (getrandom).
Status RandomBytes(std::span<uint8_t> buf);

}  // namespace ward
