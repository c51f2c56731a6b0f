// The `autoheal` module: restores tampered content under its roots from git, driven by the
// integrity module's real-time events in the same process (no second file watcher). Lock files
// and refs are polled (`poll_interval`). See healer.h for what it does to each path.
#pragma once

#include <memory>

#include "agent/core/module.h"
#include "agent/modules/autoheal/schema.h"

namespace ward::agent::autoheal {

std::unique_ptr<Module> Create(const ModuleContext& ctx);

}  // namespace ward::agent::autoheal
