// The `autoheal` module: restores tampered content under its roots from git, driven by the
// integrity module's real-time events in the same process (no second file watcher). Lock files
// and refs are polled (`poll_interval`). See healer.h for what it does to each path.
#pragma once

#include <memory>

#include "agent/core/module.h"

namespace ward::agent::autoheal {

std::unique_ptr<Module> Create(const ModuleContext& ctx);
// Checks the section, and that every root is watched by the document's `integrity` section.
Status Validate(const PolicySection& section, const ConfigNode& document);
bool Enabled(const PolicySection& section);

}  // namespace ward::agent::autoheal
