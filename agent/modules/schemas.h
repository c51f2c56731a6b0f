// The schemas of the modules the agent knows, in the order of agent/modules/builtin.cc: what the
// manager needs of them (policy validation, commands, indexed event fields) without linking any
// engine. Nothing registers itself.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "agent/core/module_schema.h"

namespace ward::agent {

std::span<const ModuleSchema> ModuleSchemas();

// The commands the agent itself runs, not a module: policy.reload.
std::span<const CommandSpec> AgentCommands();

// Every command a manager may queue: the agent's, then each module's in order.
std::vector<const CommandSpec*> AllCommands();

// The command of this name among AllCommands(), or nullptr.
const CommandSpec* FindCommand(std::string_view name);

}  // namespace ward::agent
