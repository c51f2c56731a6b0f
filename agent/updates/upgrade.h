// AgentUpgrade: a managed agent upgrading its own package when the manager offers it a target
// version (docs/updates.md, "Agent upgrades"). The heartbeat reply's "updates" object carries
//   "agent_package": {"version": "0.1.1", "manifest": "<text>", "signature": "<base64>"}
// (a manifest of agent/updates/package.h signed with the update key). The agent
//   1. verifies the signature with the pinned update key and that the manifest names the offered
//      version (a bad signature installs nothing: event agent_upgrade_refused, state "failed");
//   2. downloads the package over the agent channel (POST /agent/v1/upgrade/package {"file"},
//      through the proxy when one is configured) and checks its size and SHA-256 (a mismatch
//      installs nothing, is reported the same way);
//   3. writes it to <state>/upgrade/<file> and starts the installer detached from itself
//      (LaunchDetached: a transient systemd unit where systemd runs, else a double-forked child
//      in its own session), so the package's restart of the agent cannot kill the install;
//   4. after the restart the new agent reports its version; an install that failed (the
//      installer's exit status, written beside the package) is reported at the next heartbeat as
//      "failed" with the installer's output, and that version is not tried again until the
//      manager offers another.
// A version refused for what it is (signature, hash, size, installer failure) is not retried;
// one that could not be downloaded (manager away, 5xx) is retried at the next heartbeat.
// Thread-safety: Apply() from one thread (the heartbeat's); StatusJson() from any.
#pragma once

#include <filesystem>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/updates/package.h"
#include "agent/updates/sync.h"
#include "common/clock.h"
#include "common/event_sink.h"

namespace ward::updates {

struct UpgradeOffer {
  std::string version;
  SignedManifest signed_manifest;
};
// The "agent_package" object of a heartbeat reply's "updates"; errors name the field.
Result<UpgradeOffer> ParseUpgradeOffer(const nlohmann::json& j);

// Runs `argv` (argv[0] an absolute path) detached from the calling process: as a transient
// systemd unit (`systemd-run --unit <unit> --collect`) when /run/systemd/system exists and
// `use_systemd`, else as a grandchild in a session of its own (fork, setsid, fork; the middle
// process exits at once, so the child is re-parented away from the agent and survives its
// restart). stdin is /dev/null, stdout and stderr go to `log`. Returns what was started
// ("unit ward-agent-upgrade-..." or "pid N"); kUnavailable when it could not be started.
Result<std::string> LaunchDetached(const std::vector<std::string>& argv,
                                   const std::filesystem::path& log, const std::string& unit,
                                   bool use_systemd);

struct UpgradeOptions {
  std::filesystem::path state_dir;
  std::string running_version;  // this agent's package version
  // The installer; the package path is appended. Default: dpkg --force-confold -i.
  std::vector<std::string> install_command = {"/usr/bin/dpkg", "--force-confold", "-i"};
  bool use_systemd = true;  // LaunchDetached's choice (tests force the double fork)
};

class AgentUpgrade {
 public:
  AgentUpgrade(UpgradeOptions options, EventSink& events, const Clock& clock);

  // Acts on an offer (see the header comment). `key_b64` is the offered update key (pinned on
  // first sight, as for update bundles).
  void Apply(const UpgradeOffer& offer, std::string_view key_b64, const PostFn& post);
  // {"state": "downloading"|"installing"|"failed"|"done", "version": target,
  //  "running_version", "error"}; {} when no upgrade was ever offered.
  nlohmann::json StatusJson() const;

 private:
  Status Run(const UpgradeOffer& offer, std::string_view key_b64, const PostFn& post, bool& retry);
  // The last install's outcome, read from <state>/upgrade/ (exit status file) once it exists.
  void CheckInstall();
  void SetState(std::string state, const std::string& version, std::string error);
  void Refuse(const std::string& version, const Status& s, std::string_view action);

  UpgradeOptions options_;
  std::filesystem::path dir_;  // <state>/upgrade
  EventSink& events_;
  const Clock& clock_;
  std::string refused_;     // version not to try again
  std::string installing_;  // version whose installer runs
  mutable std::mutex mu_;
  nlohmann::json status_ = nlohmann::json::object();
};

}  // namespace ward::updates
