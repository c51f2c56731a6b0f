// The agent's identity after activation, in <state-dir>/transport/identity.json (mode 0600, in a
// 0700 directory), and the last policy the manager sent, in <state-dir>/transport/policy.json, so
// a restart without the manager still runs it. Files are replaced atomically (write, fsync,
// rename): a crash leaves the old or the new file, never half of one.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "agent/transport/protocol.h"
#include "common/status.h"

namespace ward::agent::transport {

struct Identity {
  std::string agent_id;
  std::string credential;
  std::string tenant_id;
  std::string manager_url;
  std::string fingerprint;  // pinned SHA-256 of the manager certificate (64 hex)
  std::string proxy;        // "" = direct (or the environment's https_proxy at run time)
  std::string machine_id;   // at activation
  int heartbeat_interval_s = 60;
};

std::filesystem::path TransportDir(const std::filesystem::path& state_dir);
// Creates <state-dir>/transport (0700).
Status PrepareTransportDir(const std::filesystem::path& state_dir);

// NotFound when the agent was never activated.
Result<Identity> LoadIdentity(const std::filesystem::path& state_dir);
Status SaveIdentity(const std::filesystem::path& state_dir, const Identity& id);
Result<Identity> ParseIdentity(std::string_view text, std::string_view where);

// NotFound when no policy was received yet.
Result<ManagedPolicy> LoadCachedPolicy(const std::filesystem::path& state_dir);
Status SaveCachedPolicy(const std::filesystem::path& state_dir, const ManagedPolicy& policy);

// $WARD_MACHINE_ID when set (a seam for tests simulating cloned hosts), else /etc/machine-id.
std::string MachineId();

// Writes a file atomically with the given mode.
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view content, int mode);

}  // namespace ward::agent::transport
