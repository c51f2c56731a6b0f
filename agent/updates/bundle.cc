#include "agent/updates/bundle.h"

#include <fmt/format.h>
#include <sodium.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

namespace ward::updates {
namespace {

using json = nlohmann::json;

// Extensions each kind may carry (lower case, without the dot).
bool ExtensionAllowed(std::string_view kind, std::string_view ext) {
  static constexpr std::string_view kClam[] = {
      "cvd", "cld", "cud", "hdb", "hsb", "hdu", "hsu", "mdb",  "msb",  "mdu",  "msu",
      "ndb", "ndu", "ldb", "ldu", "idb", "cdb", "fp",  "sfp",  "ign",  "ign2", "pdb",
      "gdb", "wdb", "ftm", "crb", "cbc", "cat", "imp", "pwdb", "info", "cfg"};
  static constexpr std::string_view kYara[] = {"yar", "yara"};
  static constexpr std::string_view kCrs[] = {"conf", "data"};
  static constexpr std::string_view kRules[] = {"conf", "data", "xml", "yaml", "yml", "rules"};
  auto in = [&](auto& list) {
    return std::find(std::begin(list), std::end(list), ext) != std::end(list);
  };
  if (kind == "clamav") return in(kClam);
  if (kind == "yara") return in(kYara);
  if (kind == "crs") return in(kCrs);
  if (kind == "rules") return in(kRules);
  if (kind == "feeds") {
    return std::any_of(kFeedExtensions.begin(), kFeedExtensions.end(),
                       [&](const FeedFormatExtension& f) { return f.extension == ext; });
  }
  return false;
}

bool IsLowerHex(std::string_view s, size_t n) {
  return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

Status CheckFileName(std::string_view kind, std::string_view name) {
  if (!IsKind(kind)) return InvalidArgument(fmt::format("unknown bundle kind '{}'", kind));
  if (name.empty() || name.size() > 128) return InvalidArgument("a file name has 1-128 bytes");
  if (name.front() == '.' || name.front() == '-') {
    return InvalidArgument("a file name may not start with '.' or '-'");
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      return InvalidArgument(
          "a file name is one path component of letters, digits, '.', '_' and '-'");
    }
  }
  if (name.find("..") != std::string_view::npos) return InvalidArgument("'..' in a file name");
  size_t dot = name.rfind('.');
  if (dot == std::string_view::npos) {
    return InvalidArgument(fmt::format("a {} file needs an extension", kind));
  }
  std::string ext(name.substr(dot + 1));
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!ExtensionAllowed(kind, ext)) {
    return InvalidArgument(fmt::format("extension .{} is not a {} file", ext, kind));
  }
  return Status::Ok();
}

std::string SerializeManifest(const Manifest& m) {
  json files = json::array();
  for (const auto& f : m.files) {
    json e = {{"name", f.name}, {"sha256", f.sha256}, {"size", f.size}};
    if (f.delta) {
      e["delta"] = {{"from_sha256", f.delta->from_sha256},
                    {"sha256", f.delta->sha256},
                    {"size", f.delta->size}};
    }
    files.push_back(std::move(e));
  }
  json doc = {{"format", std::string(kManifestFormat)},
              {"kind", m.kind},
              {"version", m.version},
              {"created", m.created},
              {"files", std::move(files)}};
  return doc.dump();
}

Result<Manifest> ParseManifest(std::string_view text) {
  if (text.size() > kMaxManifestBytes) return InvalidArgument("manifest: larger than 1 MiB");
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return InvalidArgument("manifest: not a JSON object");
  }
  auto str = [&](const json& o, const char* key, std::string_view where) -> Result<std::string> {
    auto it = o.find(key);
    if (it == o.end() || !it->is_string()) {
      return InvalidArgument(fmt::format("{}{}: missing or not a string", where, key));
    }
    return it->get<std::string>();
  };
  Manifest m;
  WARD_ASSIGN_OR_RETURN(std::string format, str(doc, "format", "manifest: "));
  if (format != kManifestFormat) {
    return InvalidArgument(
        fmt::format("manifest: format: '{}' is not {}", format, kManifestFormat));
  }
  WARD_ASSIGN_OR_RETURN(m.kind, str(doc, "kind", "manifest: "));
  if (!IsKind(m.kind)) return InvalidArgument(fmt::format("manifest: kind: unknown '{}'", m.kind));
  auto v = doc.find("version");
  if (v == doc.end() || !v->is_number_integer() || v->get<int64_t>() < 1) {
    return InvalidArgument("manifest: version: not an integer >= 1");
  }
  m.version = v->get<int64_t>();
  WARD_ASSIGN_OR_RETURN(m.created, str(doc, "created", "manifest: "));
  if (m.created.size() > 64) return InvalidArgument("manifest: created: too long");
  auto files = doc.find("files");
  if (files == doc.end() || !files->is_array()) {
    return InvalidArgument("manifest: files: missing or not an array");
  }
  if (files->size() > kMaxFiles) return InvalidArgument("manifest: files: too many");
  std::set<std::string> names;
  for (size_t i = 0; i < files->size(); ++i) {
    const json& f = (*files)[i];
    std::string where = fmt::format("manifest: files[{}].", i);
    if (!f.is_object())
      return InvalidArgument(fmt::format("manifest: files[{}]: not an object", i));
    FileEntry e;
    WARD_ASSIGN_OR_RETURN(e.name, str(f, "name", where));
    if (Status s = CheckFileName(m.kind, e.name); !s.ok()) {
      return InvalidArgument(fmt::format("{}name: {}", where, s.message()));
    }
    if (!names.insert(e.name).second) {
      return InvalidArgument(fmt::format("{}name: '{}' twice", where, e.name));
    }
    WARD_ASSIGN_OR_RETURN(e.sha256, str(f, "sha256", where));
    if (!IsLowerHex(e.sha256, 64)) {
      return InvalidArgument(fmt::format("{}sha256: not 64 lowercase hex digits", where));
    }
    auto size = f.find("size");
    if (size == f.end() || !size->is_number_unsigned() || size->get<uint64_t>() > kMaxFileBytes) {
      return InvalidArgument(fmt::format("{}size: not an integer 0..4 GiB", where));
    }
    e.size = size->get<uint64_t>();
    if (auto d = f.find("delta"); d != f.end()) {
      if (!d->is_object()) return InvalidArgument(fmt::format("{}delta: not an object", where));
      Delta delta;
      WARD_ASSIGN_OR_RETURN(delta.from_sha256, str(*d, "from_sha256", where + "delta."));
      WARD_ASSIGN_OR_RETURN(delta.sha256, str(*d, "sha256", where + "delta."));
      if (!IsLowerHex(delta.from_sha256, 64) || !IsLowerHex(delta.sha256, 64)) {
        return InvalidArgument(fmt::format("{}delta: sha256s are 64 lowercase hex digits", where));
      }
      auto dsize = d->find("size");
      if (dsize == d->end() || !dsize->is_number_unsigned() ||
          dsize->get<uint64_t>() > kMaxFileBytes) {
        return InvalidArgument(fmt::format("{}delta.size: not an integer 0..4 GiB", where));
      }
      delta.size = dsize->get<uint64_t>();
      e.delta = std::move(delta);
    }
    m.files.push_back(std::move(e));
  }
  return m;
}

KeyPair KeyPairFromSeed(std::span<const unsigned char, 32> seed) {
  KeyPair k;
  crypto_sign_seed_keypair(k.public_key.data(), k.secret_key.data(), seed.data());
  return k;
}

namespace {

std::string ToBase64(const unsigned char* data, size_t len) {
  std::string out(sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), data, len, sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

// Decodes exactly `n` bytes of standard base64 into out.
bool FromBase64(std::string_view b64, unsigned char* out, size_t n) {
  size_t len = 0;
  if (b64.size() > 4 * ((n + 2) / 3)) return false;
  return sodium_base642bin(out, n, b64.data(), b64.size(), nullptr, &len, nullptr,
                           sodium_base64_VARIANT_ORIGINAL) == 0 &&
         len == n;
}

}  // namespace

std::string Sign(std::string_view message, const KeyPair& key) {
  unsigned char sig[crypto_sign_BYTES];
  crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(message.data()),
                       message.size(), key.secret_key.data());
  return ToBase64(sig, sizeof sig);
}

Status Verify(std::string_view message, std::string_view signature_b64, const PublicKey& key) {
  unsigned char sig[crypto_sign_BYTES];
  if (!FromBase64(signature_b64, sig, sizeof sig)) {
    return PermissionDenied("signature: not base64 of 64 bytes");
  }
  if (crypto_sign_verify_detached(sig, reinterpret_cast<const unsigned char*>(message.data()),
                                  message.size(), key.data()) != 0) {
    return PermissionDenied("signature: does not verify with the manager's update key");
  }
  return Status::Ok();
}

std::string PublicKeyToBase64(const PublicKey& key) { return ToBase64(key.data(), key.size()); }

Result<PublicKey> PublicKeyFromBase64(std::string_view b64) {
  PublicKey k{};
  if (!FromBase64(b64, k.data(), k.size())) {
    return InvalidArgument("update key: not base64 of 32 bytes");
  }
  return k;
}

std::string SignedManifestToJson(const SignedManifest& s) {
  return json{{"manifest", s.manifest}, {"signature", s.signature}}.dump();
}

Result<SignedManifest> ParseSignedManifest(std::string_view json_text) {
  if (json_text.size() > 2 * kMaxManifestBytes) {
    return InvalidArgument("signed manifest: too large");
  }
  json doc = json::parse(json_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return InvalidArgument("signed manifest: not a JSON object");
  }
  SignedManifest s;
  auto m = doc.find("manifest");
  auto sig = doc.find("signature");
  if (m == doc.end() || !m->is_string()) {
    return InvalidArgument("signed manifest: manifest: missing or not a string");
  }
  if (sig == doc.end() || !sig->is_string()) {
    return InvalidArgument("signed manifest: signature: missing or not a string");
  }
  s.manifest = m->get<std::string>();
  s.signature = sig->get<std::string>();
  if (s.manifest.size() > kMaxManifestBytes) return InvalidArgument("manifest: larger than 1 MiB");
  return s;
}

Result<Manifest> VerifyAndParse(const SignedManifest& s, const PublicKey& key,
                                std::string_view kind, int64_t version) {
  WARD_RETURN_IF_ERROR(Verify(s.manifest, s.signature, key));
  WARD_ASSIGN_OR_RETURN(Manifest m, ParseManifest(s.manifest));
  if (!kind.empty() && m.kind != kind) {
    return InvalidArgument(fmt::format("manifest: kind '{}' where '{}' was asked", m.kind, kind));
  }
  if (version != 0 && m.version != version) {
    return InvalidArgument(
        fmt::format("manifest: version {} where {} was asked", m.version, version));
  }
  return m;
}

}  // namespace ward::updates
