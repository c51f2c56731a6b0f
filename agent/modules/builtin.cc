#include "agent/modules/builtin.h"

#include "agent/modules/antimalware/antimalware_module.h"
#include "agent/modules/autoheal/autoheal_module.h"
#include "agent/modules/integrity/integrity_module.h"
#include "agent/modules/ips/ips_module.h"

namespace ward::agent {

std::span<const ModuleSpec> BuiltinModules() {
  static const ModuleSpec kModules[] = {
      {integrity::Schema(), &integrity::Create},
      {autoheal::Schema(), &autoheal::Create},
      {antimalware::Schema(), &antimalware::Create},
      {ips::Schema(), &ips::Create},
  };
  return kModules;
}

}  // namespace ward::agent
