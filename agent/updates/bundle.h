// Update bundles (docs/updates.md): the signed, versioned sets of signature and rule files the
// manager distributes to its agents (ClamAV databases, YARA rules, CRS and custom rule files).
//
// A bundle is described by its manifest, a JSON document whose exact bytes are signed with the
// manager's Ed25519 key (libsodium, detached signature):
//   {"format": "ward-update-bundle/1", "kind": "clamav", "version": 3,
//    "created": "2026-12-07T12:00:00Z",
//    "files": [{"name": "main.cvd", "sha256": "<64 hex>", "size": 123}, ...]}
// Agents fetch the files by their SHA-256 ("whole file by hash": a file an agent already holds
// is not fetched again) and verify each against the manifest.
//
// Everything here reads bytes that crossed the network: the parsers check every type, size and
// name and return an error naming the field; nothing throws. File names are hostile: a name is
// one path component of [A-Za-z0-9._-] with an extension the kind allows, so it can never leave
// the directory it is written into.
// Thread-safety: pure functions and plain values.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agent/updates/layout.h"
#include "common/status.h"

namespace ward::updates {

inline constexpr std::string_view kManifestFormat = "ward-update-bundle/1";
inline constexpr size_t kMaxManifestBytes = 1 << 20;
inline constexpr size_t kMaxFiles = 4096;
inline constexpr uint64_t kMaxFileBytes = uint64_t{4} << 30;
// Ok when `name` is a safe file name for a file of bundle `kind`; else kInvalidArgument saying
// why (path separators, "..", leading dot, characters, length, extension).
Status CheckFileName(std::string_view kind, std::string_view name);

// An incremental form of a file (docs/updates.md, "Incremental ClamAV updates"): a ClamAV
// .cdiff that turns the file whose SHA-256 is `from_sha256` (a version before) into this one.
struct Delta {
  std::string from_sha256;  // the file it applies to
  std::string sha256;       // the .cdiff itself
  uint64_t size = 0;
  auto operator<=>(const Delta&) const = default;
};

struct FileEntry {
  std::string name;
  std::string sha256;  // 64 lowercase hex digits
  uint64_t size = 0;
  std::optional<Delta> delta;  // ClamAV .cld/.cud only
};

struct Manifest {
  std::string kind;
  int64_t version = 0;  // 1, 2, ... per kind
  std::string created;  // RFC 3339
  std::vector<FileEntry> files;
};

// The manifest's canonical JSON text (what is signed).
std::string SerializeManifest(const Manifest& m);
// Parses and validates a manifest: format, kind, version ≥ 1, every name (CheckFileName), no
// duplicate names, sha256 (and a delta's) as 64 lowercase hex digits, sizes within kMaxFileBytes,
// at most kMaxFiles files. Errors name the field ("files[2].name: ...").
Result<Manifest> ParseManifest(std::string_view text);

// ---- Ed25519 ------------------------------------------------------------------------------------

using PublicKey = std::array<unsigned char, 32>;
using SecretKey = std::array<unsigned char, 64>;  // libsodium's seed || public key
struct KeyPair {
  PublicKey public_key{};
  SecretKey secret_key{};
};
// A key pair from a 32-byte seed (the manager derives the seed from manager.key).
KeyPair KeyPairFromSeed(std::span<const unsigned char, 32> seed);
// Detached signature over `message`, base64 (standard alphabet, padded).
std::string Sign(std::string_view message, const KeyPair& key);
// Ok when `signature_b64` is a valid signature of `message` by `key`; kPermissionDenied when it
// is not (or is not base64 of 64 bytes).
Status Verify(std::string_view message, std::string_view signature_b64, const PublicKey& key);
std::string PublicKeyToBase64(const PublicKey& key);
Result<PublicKey> PublicKeyFromBase64(std::string_view b64);

// What the manager hands an agent for one bundle: the manifest's exact text and its signature.
struct SignedManifest {
  std::string manifest;   // JSON text, signed as it is
  std::string signature;  // base64
};
// {"manifest": "...", "signature": "..."} <-> SignedManifest (sizes checked).
std::string SignedManifestToJson(const SignedManifest& s);
Result<SignedManifest> ParseSignedManifest(std::string_view json_text);
// Verifies the signature, then parses the manifest; the manifest must be of `kind` and `version`
// when they are given (a manager cannot hand out an old bundle as a new one).
Result<Manifest> VerifyAndParse(const SignedManifest& s, const PublicKey& key,
                                std::string_view kind = "", int64_t version = 0);

}  // namespace ward::updates
