#include "common/hash.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>

#include "common/text.h"

namespace ward {

std::string DigestHex(const Sha256Digest& d) { return ToHex(d); }

struct Sha256::State {
  EVP_MD_CTX* ctx = nullptr;
  EVP_MD* md = nullptr;
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
  state_->md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  state_->ctx = EVP_MD_CTX_new();
  WARD_CHECK(state_->md != nullptr && state_->ctx != nullptr);
  Reset();
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(state_->ctx);
  EVP_MD_free(state_->md);
}

void Sha256::Reset() { WARD_CHECK(EVP_DigestInit_ex2(state_->ctx, state_->md, nullptr) == 1); }

void Sha256::Update(const void* data, size_t len) {
  WARD_CHECK(EVP_DigestUpdate(state_->ctx, data, len) == 1);
}

Sha256Digest Sha256::Finish() {
  Sha256Digest d{};
  unsigned int n = 0;
  WARD_CHECK(EVP_DigestFinal_ex(state_->ctx, d.data(), &n) == 1 && n == d.size());
  return d;
}

Sha256Digest Sha256::Of(std::string_view data) {
  Sha256 h;
  h.Update(data.data(), data.size());
  return h.Finish();
}

Result<Sha256Digest> Sha256Fd(int fd, std::span<uint8_t> buf, Sha256& hasher,
                              uint64_t* bytes_read) {
  hasher.Reset();
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read");
    }
    hasher.Update(buf.data(), static_cast<size_t>(n));
    total += static_cast<uint64_t>(n);
  }
  if (bytes_read != nullptr) *bytes_read = total;
  return hasher.Finish();
}

struct HmacSha256::State {
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* ctx = nullptr;
};

Result<std::unique_ptr<HmacSha256>> HmacSha256::Create(std::span<const uint8_t> key) {
  std::unique_ptr<HmacSha256> h(new HmacSha256());
  h->state_ = std::make_unique<State>();
  h->state_->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (h->state_->mac == nullptr) return Internal("EVP_MAC_fetch(HMAC) failed");
  h->state_->ctx = EVP_MAC_CTX_new(h->state_->mac);
  if (h->state_->ctx == nullptr) return Internal("EVP_MAC_CTX_new failed");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(h->state_->ctx, key.data(), key.size(), params) != 1) {
    return Internal("EVP_MAC_init failed");
  }
  return h;
}

HmacSha256::~HmacSha256() {
  if (state_) {
    EVP_MAC_CTX_free(state_->ctx);
    EVP_MAC_free(state_->mac);
  }
}

Sha256Digest HmacSha256::Compute(std::string_view data) {
  // Re-initialising with a null key keeps the key set at Create().
  WARD_CHECK(EVP_MAC_init(state_->ctx, nullptr, 0, nullptr) == 1);
  WARD_CHECK(EVP_MAC_update(state_->ctx, reinterpret_cast<const unsigned char*>(data.data()),
                            data.size()) == 1);
  Sha256Digest d{};
  size_t n = 0;
  WARD_CHECK(EVP_MAC_final(state_->ctx, d.data(), &n, d.size()) == 1 && n == d.size());
  return d;
}

Status RandomBytes(std::span<uint8_t> buf) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = getrandom(buf.data() + done, buf.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "getrandom");
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace ward
