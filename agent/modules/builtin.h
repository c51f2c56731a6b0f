// The one list of modules the agent knows, in start order. Nothing registers itself.
#pragma once

#include <span>

#include "agent/core/module.h"

namespace ward::agent {
std::span<const ModuleSpec> BuiltinModules();
}  // namespace ward::agent
