// The `firewall` module's schema (agent/core/module_schema.h): policy validation, the commands a
// manager may queue for it, the event fields the manager indexes. Part of
// ward::firewall_policy, which links no engine (the manager links it).
#pragma once

#include "agent/core/module_schema.h"

namespace ward::agent::firewall {

Status Validate(const PolicySection& section, const ConfigNode& document);
bool Enabled(const PolicySection& section);
const ModuleSchema& Schema();

}  // namespace ward::agent::firewall
