#include "agent/modules/schemas.h"

#include "agent/modules/antimalware/schema.h"
#include "agent/modules/autoheal/schema.h"
#include "agent/modules/egress/schema.h"
#include "agent/modules/firewall/schema.h"
#include "agent/modules/integrity/schema.h"
#include "agent/modules/ips/schema.h"
#include "agent/modules/loginspect/schema.h"

namespace ward::agent {

std::span<const ModuleSchema> ModuleSchemas() {
  static const ModuleSchema kSchemas[] = {
      integrity::Schema(),  autoheal::Schema(), antimalware::Schema(), ips::Schema(),
      loginspect::Schema(), firewall::Schema(), egress::Schema(),
  };
  return kSchemas;
}

std::span<const CommandSpec> AgentCommands() {
  static constexpr CommandSpec kCommands[] = {
      {"policy.reload", "applies the cached policy again (as SIGHUP does)",
       R"({"type": "object", "additionalProperties": false})"},
  };
  return kCommands;
}

std::vector<const CommandSpec*> AllCommands() {
  std::vector<const CommandSpec*> all;
  for (const auto& c : AgentCommands()) all.push_back(&c);
  for (const auto& s : ModuleSchemas()) {
    for (const auto& c : s.commands) all.push_back(&c);
  }
  return all;
}

const CommandSpec* FindCommand(std::string_view name) {
  for (const CommandSpec* c : AllCommands()) {
    if (c->name == name) return c;
  }
  return nullptr;
}

}  // namespace ward::agent
