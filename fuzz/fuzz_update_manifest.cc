// Update bundle manifests (agent/updates/bundle.h) come from the manager over the network: the
// signed envelope, the manifest, the heartbeat's offer and every file name must be parsed without
// crashing; a manifest that parses has only safe file names, and re-serialising it parses to the
// same manifest. Agent package manifests and upgrade offers (agent/updates/package.h,
// upgrade.h) too: a package manifest that parses names a file of one safe path component.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "agent/updates/bundle.h"
#include "agent/updates/package.h"
#include "agent/updates/sync.h"
#include "agent/updates/upgrade.h"

using namespace ward::updates;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto m = ParseManifest(in)) {
    for (const auto& f : m->files) {
      if (!CheckFileName(m->kind, f.name).ok() || f.name.find('/') != std::string::npos) {
        std::abort();
      }
    }
    auto again = ParseManifest(SerializeManifest(*m));
    if (!again || again->files.size() != m->files.size() || again->version != m->version) {
      std::abort();
    }
  }
  if (auto s = ParseSignedManifest(in)) {
    PublicKey key{};
    (void)VerifyAndParse(*s, key, "clamav", 1);
  }
  if (auto p = ParsePackageManifest(in)) {
    if (p->file.find('/') != std::string::npos || p->file.find("..") != std::string::npos ||
        p->size == 0 || !CheckPackageVersion(p->version).ok()) {
      std::abort();
    }
    auto again = ParsePackageManifest(SerializePackageManifest(*p));
    if (!again || again->file != p->file || again->sha256 != p->sha256) std::abort();
  }
  (void)CheckPackageVersion(in);
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (!j.is_discarded()) {
    (void)ParseOffer(j);
    (void)WantedKinds(j);
    if (auto o = ParseUpgradeOffer(j)) {
      PublicKey key{};
      (void)VerifyPackageManifest(o->signed_manifest, key, o->version);
    }
  }
  for (std::string_view kind : kKinds) (void)CheckFileName(kind, in);
  return 0;
}
