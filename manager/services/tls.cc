#include "manager/services/tls.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "common/hash.h"
#include "common/text.h"

namespace ward::manager {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct FileClose {
  void operator()(FILE* f) const { fclose(f); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using FilePtr = std::unique_ptr<FILE, FileClose>;

Status OpenSslError(std::string_view what) { return Internal(fmt::format("{} failed", what)); }

Status AddExtension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return OpenSslError(fmt::format("extension {}", value));
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1 ? Status::Ok() : OpenSslError("X509_add_ext");
}

// Writes through a temporary file and renames, so a crash never leaves half a PEM file.
template <typename WriteFn>
Status WritePem(const std::filesystem::path& path, mode_t mode, WriteFn write) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return ErrnoStatus(errno, fmt::format("create {}", tmp.string()));
  FilePtr f(fdopen(fd, "w"));
  if (!f) {
    ::close(fd);
    return ErrnoStatus(errno, "fdopen");
  }
  if (write(f.get()) != 1) return OpenSslError(fmt::format("writing {}", path.string()));
  if (fflush(f.get()) != 0 || fsync(fileno(f.get())) != 0) {
    return ErrnoStatus(errno, fmt::format("write {}", tmp.string()));
  }
  f.reset();
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Internal(fmt::format("rename {}: {}", tmp.string(), ec.message()));
  return Status::Ok();
}

}  // namespace

Result<TlsFiles> EnsureSelfSignedCertificate(const std::filesystem::path& dir,
                                             const std::string& hostname) {
  TlsFiles files{dir / "tls" / "cert.pem", dir / "tls" / "key.pem", false};
  std::error_code ec;
  if (std::filesystem::exists(files.cert, ec) && std::filesystem::exists(files.key, ec)) {
    return files;
  }
  std::filesystem::create_directories(dir / "tls", ec);
  if (ec) return Internal(fmt::format("create {}: {}", (dir / "tls").string(), ec.message()));
  std::filesystem::permissions(dir / "tls", std::filesystem::perms::owner_all, ec);

  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return OpenSslError("EVP_EC_gen(P-256)");
  X509Ptr cert(X509_new());
  if (!cert) return OpenSslError("X509_new");
  X509_set_version(cert.get(), 2);  // v3
  uint8_t serial[16];
  WARD_RETURN_IF_ERROR(RandomBytes(serial));
  serial[0] &= 0x7F;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  if (bn == nullptr) return OpenSslError("BN_bin2bn");
  ASN1_INTEGER* sn = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  if (sn == nullptr) return OpenSslError("BN_to_ASN1_INTEGER");
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  std::string cn = hostname.empty() ? "ward-manager" : hostname.substr(0, 64);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Ward"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  std::string san = "DNS:localhost,IP:127.0.0.1,IP:::1";
  bool host_ok = !hostname.empty() && hostname != "localhost" && hostname.size() < 254;
  for (char c : hostname) {
    host_ok &= (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.';
  }
  if (host_ok) san += ",DNS:" + hostname;
  WARD_RETURN_IF_ERROR(AddExtension(cert.get(), NID_subject_alt_name, san));
  WARD_RETURN_IF_ERROR(AddExtension(cert.get(), NID_basic_constraints, "critical,CA:FALSE"));
  WARD_RETURN_IF_ERROR(
      AddExtension(cert.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment"));
  WARD_RETURN_IF_ERROR(AddExtension(cert.get(), NID_ext_key_usage, "serverAuth"));
  WARD_RETURN_IF_ERROR(AddExtension(cert.get(), NID_subject_key_identifier, "hash"));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) return OpenSslError("X509_sign");

  WARD_RETURN_IF_ERROR(WritePem(files.key, 0600, [&](FILE* f) {
    return PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  }));
  WARD_RETURN_IF_ERROR(
      WritePem(files.cert, 0644, [&](FILE* f) { return PEM_write_X509(f, cert.get()); }));
  files.created = true;
  return files;
}

Result<std::string> CertificateFingerprint(const std::filesystem::path& cert_pem) {
  FilePtr f(fopen(cert_pem.c_str(), "re"));
  if (!f) return ErrnoStatus(errno, fmt::format("open {}", cert_pem.string()));
  X509Ptr cert(PEM_read_X509(f.get(), nullptr, nullptr, nullptr));
  if (!cert) return InvalidArgument(fmt::format("{}: no PEM certificate", cert_pem.string()));
  unsigned char* der = nullptr;
  int len = i2d_X509(cert.get(), &der);
  if (len <= 0) return OpenSslError("i2d_X509");
  auto digest =
      Sha256::Of(std::string_view(reinterpret_cast<const char*>(der), static_cast<size_t>(len)));
  OPENSSL_free(der);
  return DigestHex(digest);
}

Result<std::string> PublicKeyPin(const std::filesystem::path& cert_pem) {
  FilePtr f(fopen(cert_pem.c_str(), "re"));
  if (!f) return ErrnoStatus(errno, fmt::format("open {}", cert_pem.string()));
  X509Ptr cert(PEM_read_X509(f.get(), nullptr, nullptr, nullptr));
  if (!cert) return InvalidArgument(fmt::format("{}: no PEM certificate", cert_pem.string()));
  unsigned char* der = nullptr;
  int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert.get()), &der);
  if (len <= 0) return OpenSslError("i2d_X509_PUBKEY");
  auto digest =
      Sha256::Of(std::string_view(reinterpret_cast<const char*>(der), static_cast<size_t>(len)));
  OPENSSL_free(der);
  return "sha256//" + Base64Encode(std::string_view(reinterpret_cast<const char*>(digest.data()),
                                                    digest.size()));
}

}  // namespace ward::manager
