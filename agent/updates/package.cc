#include "agent/updates/package.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/hash.h"

namespace ward::updates {
namespace {

using json = nlohmann::json;

bool IsLowerHex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

Result<std::string> Field(const json& doc, const char* name) {
  auto it = doc.find(name);
  if (it == doc.end() || !it->is_string()) {
    return InvalidArgument(fmt::format("package manifest: {}: missing or not a string", name));
  }
  return it->get<std::string>();
}

}  // namespace

Status CheckPackageVersion(std::string_view v) {
  if (v.empty() || v.size() > 64) return InvalidArgument("a version has 1-64 bytes");
  if (v.front() < '0' || v.front() > '9') return InvalidArgument("a version starts with a digit");
  for (char c : v) {
    if (!IsAlnum(c) && c != '.' && c != '+' && c != '~' && c != '-') {
      return InvalidArgument("a version has only letters, digits and . + ~ -");
    }
  }
  if (v.find("..") != std::string_view::npos) return InvalidArgument("'..' in a version");
  return Status::Ok();
}

std::string SerializePackageManifest(const PackageManifest& m) {
  json j = {
      {"format", kPackageFormat}, {"name", m.name},     {"version", m.version}, {"arch", m.arch},
      {"file", m.file},           {"sha256", m.sha256}, {"size", m.size}};
  return j.dump();
}

Result<PackageManifest> ParsePackageManifest(std::string_view text) {
  if (text.size() > kMaxManifestBytes) return InvalidArgument("package manifest: too large");
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return InvalidArgument("package manifest: not a JSON object");
  }
  WARD_ASSIGN_OR_RETURN(std::string format, Field(doc, "format"));
  if (format != kPackageFormat) {
    return InvalidArgument(fmt::format("package manifest: format: '{}' is not {}",
                                       format.substr(0, 64), kPackageFormat));
  }
  PackageManifest m;
  WARD_ASSIGN_OR_RETURN(m.name, Field(doc, "name"));
  if (m.name != "ward-agent") {
    return InvalidArgument("package manifest: name: only ward-agent is installed");
  }
  WARD_ASSIGN_OR_RETURN(m.version, Field(doc, "version"));
  if (Status s = CheckPackageVersion(m.version); !s.ok()) {
    return InvalidArgument(fmt::format("package manifest: version: {}", s.message()));
  }
  WARD_ASSIGN_OR_RETURN(m.arch, Field(doc, "arch"));
  if (m.arch.empty() || m.arch.size() > 32 ||
      !std::all_of(m.arch.begin(), m.arch.end(), [](char c) { return IsAlnum(c) || c == '-'; })) {
    return InvalidArgument("package manifest: arch: letters, digits and '-', 1-32 bytes");
  }
  WARD_ASSIGN_OR_RETURN(m.file, Field(doc, "file"));
  if (m.file != fmt::format("{}_{}_{}.deb", m.name, m.version, m.arch)) {
    return InvalidArgument("package manifest: file: not <name>_<version>_<arch>.deb");
  }
  WARD_ASSIGN_OR_RETURN(m.sha256, Field(doc, "sha256"));
  if (!IsLowerHex64(m.sha256)) {
    return InvalidArgument("package manifest: sha256: not 64 lowercase hex digits");
  }
  auto size = doc.find("size");
  if (size == doc.end() || !size->is_number_unsigned() || size->get<uint64_t>() == 0 ||
      size->get<uint64_t>() > kMaxPackageBytes) {
    return InvalidArgument("package manifest: size: expected 1 to 512 MiB");
  }
  m.size = size->get<uint64_t>();
  return m;
}

Result<PackageManifest> VerifyPackageManifest(const SignedManifest& s, const PublicKey& key,
                                              std::string_view version) {
  WARD_RETURN_IF_ERROR(Verify(s.manifest, s.signature, key));
  WARD_ASSIGN_OR_RETURN(PackageManifest m, ParsePackageManifest(s.manifest));
  if (m.version != version) {
    return InvalidArgument(fmt::format("package manifest: version {} where {} was offered",
                                       m.version, version.substr(0, 64)));
  }
  return m;
}

Status CheckPackageBytes(const PackageManifest& m, std::string_view bytes) {
  if (bytes.size() != m.size) {
    return DataLoss(fmt::format("{}: {} bytes where the signed manifest says {}", m.file,
                                bytes.size(), m.size));
  }
  if (std::string got = DigestHex(Sha256::Of(bytes)); got != m.sha256) {
    return DataLoss(
        fmt::format("{}: SHA-256 {} where the signed manifest says {}", m.file, got, m.sha256));
  }
  return Status::Ok();
}

}  // namespace ward::updates
