#include "agent/modules/builtin.h"

#include "agent/modules/antimalware/antimalware_module.h"
#include "agent/modules/autoheal/autoheal_module.h"
#include "agent/modules/integrity/integrity_module.h"
#include "agent/modules/ips/ips_module.h"

namespace ward::agent {

std::span<const ModuleSpec> BuiltinModules() {
  static const ModuleSpec kModules[] = {
      {"integrity", &integrity::Create, &integrity::Validate, &integrity::Enabled},
      {"autoheal", &autoheal::Create, &autoheal::Validate, &autoheal::Enabled},
      {"antimalware", &antimalware::Create, &antimalware::Validate, &antimalware::Enabled},
      {"ips", &ips::Create, &ips::Validate, &ips::Enabled},
  };
  return kModules;
}

}  // namespace ward::agent
