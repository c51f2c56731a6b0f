// The schemas of the modules the agent knows, in the order of agent/modules/builtin.cc: what the
// manager needs of them (policy validation, commands, indexed event fields) without linking any
// engine. Nothing registers itself.
#pragma once

#include <span>

#include "agent/core/module_schema.h"

namespace ward::agent {

std::span<const ModuleSchema> ModuleSchemas();

// The command of this name in any module's table, or nullptr.
const CommandSpec* FindCommand(std::span<const ModuleSchema> schemas, std::string_view name);

}  // namespace ward::agent
