// The manager's TLS identity: a self-signed certificate made on first start when the operator
// gives none, and the SHA-256 fingerprint agents pin (docs/agent-protocol.md).
// Thread-safety: functions; file writes are not synchronised with other processes beyond
// create-then-rename.
#pragma once

#include <filesystem>
#include <string>

#include "common/status.h"

namespace ward::manager {

struct TlsFiles {
  std::filesystem::path cert;
  std::filesystem::path key;
  bool created = false;  // made just now
};

// Returns <dir>/tls/cert.pem and key.pem, creating them when absent: an EC P-256 key (mode
// 0600) and a self-signed X.509 v3 certificate valid for 10 years with subjectAltName
// DNS:localhost, IP:127.0.0.1, IP:::1 and DNS:<hostname>.
Result<TlsFiles> EnsureSelfSignedCertificate(const std::filesystem::path& dir,
                                             const std::string& hostname);

// SHA-256 of the certificate's DER encoding as 64 lowercase hex digits (first certificate in
// the PEM file).
Result<std::string> CertificateFingerprint(const std::filesystem::path& cert_pem);

// The certificate's public key as curl's --pinnedpubkey wants it: "sha256//" + base64 of the
// SHA-256 of its SubjectPublicKeyInfo (DER). Deployment scripts pin the manager with it.
Result<std::string> PublicKeyPin(const std::filesystem::path& cert_pem);

}  // namespace ward::manager
