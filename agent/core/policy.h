// Policy: the one document that says what the agent does; one top-level key per module, plus
// `agent` for the agent's own settings. The same schema comes from a local YAML file or, managed,
// from the manager as JSON. Parsing names the file, line and key of the first error.
//
//   agent:
//     name: web-01                  # host.name in events (default: the host name)
//     outputs:
//       stdout: true                # JSON lines on standard output
//       file: true                  # JSON lines in <state-dir>/events.jsonl, rotated
//       file_max_size: 10M
//       file_keep: 5
//     queue_capacity: 65536         # in-process event queue; beyond it events are dropped+counted
//     spool_max_size: 256M          # managed: the on-disk event spool (docs/transport.md)
//     manager:                      # managed: bootstrap settings for unattended activation
//       url: https://manager:4119
//       token: wat_...
//       proxy: http://user:pass@proxy:3128
//       fingerprint: <sha-256 hex>
//   integrity: { ... }
#pragma once

#include <filesystem>
#include <span>
#include <string>

#include "agent/core/module.h"
#include "common/config_node.h"

namespace ward::agent {

// `agent.manager`: where an unattended install activates (docs/transport.md).
struct ManagerSettings {
  bool present = false;
  std::string url;
  std::string token;
  std::string proxy;
  std::string fingerprint;
};

struct AgentSettings {
  std::string name;  // empty = gethostname()
  bool stdout_output = true;
  bool file_output = true;
  uint64_t file_max_size = 10 << 20;
  int file_keep = 5;
  size_t queue_capacity = 65536;
  uint64_t spool_max_size = 256ull << 20;
  ManagerSettings manager;
};

class Policy {
 public:
  // Parses and validates a whole document against the given module schemas.
  static Result<Policy> FromNode(ConfigNode root, std::span<const ModuleSchema> modules);
  static Result<Policy> FromNode(ConfigNode root, std::span<const ModuleSpec> modules);
  static Result<Policy> LoadFile(const std::filesystem::path& file,
                                 std::span<const ModuleSchema> modules);

  const AgentSettings& agent() const { return agent_; }
  // The module's section, or nullptr when absent.
  const ConfigNode* Section(std::string_view module) const { return root_.Find(module); }
  // True when the section is present and not `enabled: false`.
  bool Enabled(const ModuleSchema& spec) const;
  const ConfigNode& root() const { return root_; }

 private:
  ConfigNode root_;
  AgentSettings agent_;
};

}  // namespace ward::agent
