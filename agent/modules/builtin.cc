#include "agent/modules/builtin.h"

#include <vector>

#include "agent/modules/antimalware/antimalware_module.h"
#include "agent/modules/autoheal/autoheal_module.h"
#include "agent/modules/egress/egress_module.h"
#include "agent/modules/firewall/firewall_module.h"
#include "agent/modules/integrity/integrity_module.h"
#include "agent/modules/ips/ips_module.h"
#include "agent/modules/loginspect/loginspect_module.h"

namespace ward::agent {

std::span<const ModuleSpec> BuiltinModules() {
  static const ModuleSpec kModules[] = {
      {integrity::Schema(), &integrity::Create},     {autoheal::Schema(), &autoheal::Create},
      {antimalware::Schema(), &antimalware::Create}, {ips::Schema(), &ips::Create},
      {loginspect::Schema(), &loginspect::Create},   {firewall::Schema(), &firewall::Create},
      {egress::Schema(), &egress::Create},
  };
  return kModules;
}

std::span<const CommandHandler> BuiltinCommandHandlers() {
  static const std::vector<CommandHandler> kHandlers = [] {
    std::vector<CommandHandler> all;
    for (auto handlers : {integrity::Handlers(), antimalware::Handlers(), firewall::Handlers()}) {
      all.insert(all.end(), handlers.begin(), handlers.end());
    }
    return all;
  }();
  return kHandlers;
}

}  // namespace ward::agent
