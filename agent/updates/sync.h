// UpdateSync: what a managed agent does with the update bundles its manager offers in a
// heartbeat reply (docs/updates.md, docs/agent-protocol.md "Update bundles"):
//   "updates": {"key": "<Ed25519 public key, base64>",
//               "bundles": [{"kind": "clamav", "version": 7}, ...]}
// For each offered kind the policy refers to ("managed:<kind>") whose version differs from the
// one in force, it fetches the signed manifest (POST /agent/v1/updates/manifest), verifies the
// signature with the pinned key, fetches the files it does not hold by SHA-256
// (POST /agent/v1/updates/file), verifies sizes, hashes and formats (Installer), points
// <kind>/current at the new version and asks the modules using that kind to reload. A module
// that cannot load it keeps its previous engine (no scan gap: the old one serves until the new
// one is compiled) and the link goes back to the previous version. Every outcome is one event
// (`ward` / `update_applied`, `update_rejected`); a version refused for what it is (signature,
// hash, size, format, reload) is not tried again until the manager offers another, a version
// that could not be fetched is tried again at the next heartbeat.
// Thread-safety: Apply() from one thread (the heartbeat's); StatusJson() from any.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/updates/installer.h"
#include "common/clock.h"
#include "common/event_sink.h"

namespace ward::updates {

struct Offer {
  std::string key;                                       // base64
  std::vector<std::pair<std::string, int64_t>> bundles;  // kind, version
};
// The heartbeat reply's "updates" object; errors name the field.
Result<Offer> ParseOffer(const nlohmann::json& j);
// The kinds a policy document refers to: every string "managed:<kind>" anywhere in it.
std::set<std::string> WantedKinds(const nlohmann::json& policy_document);

// POSTs a JSON body to the manager; returns (HTTP status, body) or an error when no reply came.
using PostFn =
    std::function<Result<std::pair<int, std::string>>(std::string_view path, std::string body)>;
// Reconfigures the modules that use `kind` with the bundle now in force.
using ReloadFn = std::function<Status(std::string_view kind)>;

class UpdateSync {
 public:
  UpdateSync(std::filesystem::path state_dir, EventSink& events, const Clock& clock,
             FormatCheck check, ReloadFn reload);

  // Returns true when some bundle was applied.
  bool Apply(const Offer& offer, const std::set<std::string>& wanted, const PostFn& post);
  // {"clamav": {"version": 7, "applied_at": "...", "error": "..."}, ...}: the heartbeat's
  // status.updates.
  nlohmann::json StatusJson() const;

 private:
  // Outcome of one bundle: Ok, or the error (with `retry` false when the version itself is bad).
  Status ApplyOne(const PublicKey& key, const std::string& kind, int64_t version,
                  const PostFn& post, bool& retry);
  void Report(const std::string& kind, int64_t version, int64_t previous, const Status& s,
              const StageReport* r);

  std::filesystem::path state_dir_;
  Installer installer_;
  EventSink& events_;
  const Clock& clock_;
  FormatCheck check_;
  ReloadFn reload_;
  std::map<std::string, int64_t> refused_;  // kind -> version refused for what it is
  mutable std::mutex mu_;
  nlohmann::json status_ = nlohmann::json::object();
};

}  // namespace ward::updates
