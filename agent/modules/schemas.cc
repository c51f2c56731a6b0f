#include "agent/modules/schemas.h"

#include "agent/modules/antimalware/schema.h"
#include "agent/modules/autoheal/schema.h"
#include "agent/modules/integrity/schema.h"
#include "agent/modules/ips/schema.h"

namespace ward::agent {

std::span<const ModuleSchema> ModuleSchemas() {
  static const ModuleSchema kSchemas[] = {
      integrity::Schema(),
      autoheal::Schema(),
      antimalware::Schema(),
      ips::Schema(),
  };
  return kSchemas;
}

const CommandSpec* FindCommand(std::span<const ModuleSchema> schemas, std::string_view name) {
  for (const auto& s : schemas) {
    for (const auto& c : s.commands) {
      if (c.name == name) return &c;
    }
  }
  return nullptr;
}

}  // namespace ward::agent
