// The `integrity` module: at start, compares the watched paths with the stored baseline and
// reports what changed while the agent was not running; then watches them in real time
// (fanotify, else inotify) and runs a full check on the policy's schedule. Bursts of writes to a
// path are coalesced: a path is looked at once it has been quiet for `settle` (at most 1 s after
// its first notification). Lost notifications (queue overflow) trigger a full rescan and an
// event; directories that could not be watched (inotify limit) are polled and an event says so.
#pragma once

#include <memory>

#include "agent/core/module.h"
#include "agent/modules/integrity/schema.h"

namespace ward::agent::integrity {

std::unique_ptr<Module> Create(const ModuleContext& ctx);

}  // namespace ward::agent::integrity
