// The `egress` module's schema (agent/core/module_schema.h): policy validation and the event
// fields the manager indexes. Part of ward::egress_policy, which links no engine (the manager
// links it).
#pragma once

#include "agent/core/module_schema.h"

namespace ward::agent::egress {

Status Validate(const PolicySection& section, const ConfigNode& document);
bool Enabled(const PolicySection& section);
const ModuleSchema& Schema();

}  // namespace ward::agent::egress
