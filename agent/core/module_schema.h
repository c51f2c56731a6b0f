// ModuleSchema: what is known of a module without its engine — how its policy section is
// validated, whether a section turns it on, the commands a manager may queue for it and the event
// fields the manager indexes for search. Each module's schema lives in its policy library
// (ward::<name>_policy, agent/modules/<name>/schema.{h,cc}), which links no engine: the manager
// links only these (agent/modules/schemas.h), the agent adds the runtime (agent/modules/builtin.h).
#pragma once

#include <span>
#include <string_view>

#include "common/config_node.h"
#include "common/status.h"

namespace ward::agent {

// A module's section of the policy document (the value under its top-level key).
using PolicySection = ConfigNode;

// A command a manager may queue for an agent (docs/agent-protocol.md). The agent runs it with
// the handler of the same name (agent/core/command.h); the manager accepts exactly these names.
struct CommandSpec {
  std::string_view name;     // "<module>.<verb>", e.g. integrity.check
  std::string_view summary;  // one line, for the API document
  // JSON Schema of the command's `args` (always an object), as JSON text; the subset
  // common/json_schema.h understands.
  std::string_view args_schema;
};

struct ModuleSchema {
  std::string_view name;
  // Validates a section without side effects.
  Status (*validate)(const PolicySection& section, const ConfigNode& document);
  // Whether a present section turns the module on (false when it says `enabled: false`).
  bool (*enabled)(const PolicySection& section);
  std::span<const CommandSpec> commands = {};
  // Event fields (dotted ECS names) the manager indexes for search, beyond the common ones.
  std::span<const std::string_view> indexed_fields = {};
};

}  // namespace ward::agent
