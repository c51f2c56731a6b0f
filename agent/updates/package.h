// Agent packages from the manager (docs/updates.md, "Agent upgrades"): the manager offers an
// agent the ward-agent Debian package of its target version with a manifest signed by the same
// Ed25519 update key as the update bundles:
//   {"format": "ward-agent-package/1", "name": "ward-agent", "version": "0.1.1",
//    "arch": "amd64", "file": "ward-agent_0.1.1_amd64.deb", "sha256": "<64 hex>", "size": 123}
// The agent installs the package only when the manifest verifies with its pinned key, names the
// version it was offered, and the downloaded bytes have the manifest's size and SHA-256.
//
// Everything here reads bytes that crossed the network: the parser checks every field and
// returns an error naming it; nothing throws. The file name is one path component
// ([A-Za-z0-9.+~_-], ends in .deb, no ".."), so it can never leave the directory it is written to.
// Thread-safety: pure functions and plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "agent/updates/bundle.h"
#include "common/status.h"

namespace ward::updates {

inline constexpr std::string_view kPackageFormat = "ward-agent-package/1";
inline constexpr uint64_t kMaxPackageBytes = uint64_t{512} << 20;

struct PackageManifest {
  std::string name = "ward-agent";
  std::string version;  // Debian version: [A-Za-z0-9.+~-], starts with a digit, ≤ 64 bytes
  std::string arch;     // "amd64"
  std::string file;     // "<name>_<version>_<arch>.deb"
  std::string sha256;   // 64 lowercase hex digits
  uint64_t size = 0;
};

// Ok when `v` is a Debian version string as above (also what the API accepts as a target).
Status CheckPackageVersion(std::string_view v);
// The manifest's canonical JSON text (what is signed).
std::string SerializePackageManifest(const PackageManifest& m);
// Parses and validates: format, name "ward-agent", version, arch, file (= name_version_arch.deb),
// sha256, 0 < size ≤ kMaxPackageBytes. Errors name the field.
Result<PackageManifest> ParsePackageManifest(std::string_view text);
// Verifies the signature (kPermissionDenied when it does not verify), then parses; the manifest
// must name `version` (a manager cannot hand out another package than the one it offers).
Result<PackageManifest> VerifyPackageManifest(const SignedManifest& s, const PublicKey& key,
                                              std::string_view version);
// Ok when `bytes` are the package `m` describes; kDataLoss naming size or SHA-256 otherwise.
Status CheckPackageBytes(const PackageManifest& m, std::string_view bytes);

}  // namespace ward::updates
