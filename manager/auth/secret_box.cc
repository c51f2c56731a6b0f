#include "manager/auth/secret_box.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace ward::manager {

namespace {

constexpr std::string_view kPrefix = "sb1:";
constexpr int kB64 = sodium_base64_VARIANT_URLSAFE_NO_PADDING;

bool SodiumReady() {
  static const bool ok = sodium_init() >= 0;
  return ok;
}

Status Errno(std::string_view what, const std::filesystem::path& f) {
  return Unavailable(fmt::format("{} {}: {}", what, f.string(), std::strerror(errno)));
}

}  // namespace

Result<SecretBox> SecretBox::LoadOrCreate(const std::filesystem::path& file, bool* created) {
  if (!SodiumReady()) return Internal("libsodium did not initialise");
  if (created) *created = false;
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT) {
    std::error_code ec;
    if (file.has_parent_path() && !std::filesystem::exists(file.parent_path(), ec)) {
      std::filesystem::create_directories(file.parent_path(), ec);
      if (ec) {
        return Unavailable(fmt::format("create {}: {}", file.parent_path().string(), ec.message()));
      }
      ::chmod(file.parent_path().c_str(), 0700);
    }
    Key key;
    randombytes_buf(key.data(), key.size());
    // A temporary name of this process's own: nodes sharing a state dir may start together, and
    // one must never truncate or unlink the file another is about to link.
    std::string tmp = file.string() + ".tmp.XXXXXX";
    int w = ::mkostemp(tmp.data(), O_CLOEXEC);
    if (w < 0) return Errno("create", tmp);
    bool ok = ::fchmod(w, 0600) == 0 &&
              ::write(w, key.data(), key.size()) == static_cast<ssize_t>(key.size()) &&
              ::fsync(w) == 0;
    ::close(w);
    if (!ok) {
      ::unlink(tmp.c_str());
      return Errno("write", tmp);
    }
    // link() fails when another process created the file meanwhile: read theirs.
    if (::link(tmp.c_str(), file.c_str()) == 0) {
      ::unlink(tmp.c_str());
      if (created) *created = true;
      return SecretBox(key);
    }
    ::unlink(tmp.c_str());
    if (errno != EEXIST) return Errno("create", file);
    fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  }
  if (fd < 0) return Errno("open", file);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return Errno("stat", file);
  }
  if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
    ::close(fd);
    return FailedPrecondition(fmt::format(
        "{}: the manager's secret key must be a regular file readable by its owner only (0600)",
        file.string()));
  }
  Key key;
  ssize_t n = ::read(fd, key.data(), key.size());
  char extra;
  ssize_t more = ::read(fd, &extra, 1);
  ::close(fd);
  if (n != static_cast<ssize_t>(key.size()) || more != 0) {
    return FailedPrecondition(fmt::format(
        "{}: expected exactly {} bytes (the manager's secret key)", file.string(), key.size()));
  }
  return SecretBox(key);
}

SecretBox SecretBox::Ephemeral() {
  WARD_CHECK(SodiumReady());
  Key key;
  randombytes_buf(key.data(), key.size());
  return SecretBox(key);
}

std::string SecretBox::Seal(std::string_view plain) const {
  WARD_CHECK(SodiumReady());
  std::vector<unsigned char> box(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES +
                                 plain.size());
  unsigned char* nonce = box.data();
  randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(box.data() + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const unsigned char*>(plain.data()), plain.size(), nonce,
                        key_.data());
  std::string out(sodium_base64_ENCODED_LEN(box.size(), kB64), '\0');
  sodium_bin2base64(out.data(), out.size(), box.data(), box.size(), kB64);
  out.resize(std::strlen(out.c_str()));
  return std::string(kPrefix) + out;
}

Result<std::string> SecretBox::Open(std::string_view sealed) const {
  if (!SodiumReady()) return Internal("libsodium did not initialise");
  if (!IsSealed(sealed)) return InvalidArgument("not a sealed value");
  sealed.remove_prefix(kPrefix.size());
  std::vector<unsigned char> box(sealed.size());
  size_t len = 0;
  if (sodium_base642bin(box.data(), box.size(), sealed.data(), sealed.size(), nullptr, &len,
                        nullptr, kB64) != 0 ||
      len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
    return DataLoss("sealed value: not valid base64 or too short");
  }
  const size_t clen = len - crypto_secretbox_NONCEBYTES;
  std::string plain(clen - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plain.data()),
                                 box.data() + crypto_secretbox_NONCEBYTES, clen, box.data(),
                                 key_.data()) != 0) {
    return DataLoss(
        "sealed value does not open with this manager's key (another key file, or changed)");
  }
  return plain;
}

SecretBox::Key SecretBox::DeriveKey(std::string_view purpose) const {
  Key out{};
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(purpose.data()),
                     purpose.size(), key_.data(), key_.size());
  return out;
}

}  // namespace ward::manager
