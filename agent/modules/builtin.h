// The one list of modules the agent knows, in start order. Nothing registers itself.
#pragma once

#include <span>

#include "agent/core/command.h"
#include "agent/core/module.h"

namespace ward::agent {

std::span<const ModuleSpec> BuiltinModules();

// The handlers of the commands the modules' schemas declare (agent/core/command.h), each
// module's Handlers() in the order above.
std::span<const CommandHandler> BuiltinCommandHandlers();

}  // namespace ward::agent
