// How integrity changes and conditions become events (see docs/events.md).
#pragma once

#include <string>
#include <string_view>

#include "agent/modules/integrity/record.h"
#include "common/clock.h"
#include "common/event.h"

namespace ward::agent::integrity {

// How a change was noticed: "realtime", "scheduled", "startup" (changed while the agent was not
// running), "check" (the CLI), "rescan" (after a lost notification).
Event ChangeEvent(const Clock& clock, const Change& change, std::string_view detected_by);

// A condition of the module itself (warning, overflow, baseline recorded, tampering ...).
Event StatusEvent(const Clock& clock, std::string_view action, Severity severity,
                  std::string_view message);

// Adds file.* fields describing `r` (only the attributes in `attrs`, plus type and path).
void SetFileFields(Event& e, const FileRecord& r, uint32_t attrs);

// Owner and group names, cached; "" when unknown.
std::string UserName(uint32_t uid);
std::string GroupName(uint32_t gid);

}  // namespace ward::agent::integrity
