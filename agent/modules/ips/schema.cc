#include "agent/modules/ips/schema.h"

#include "agent/modules/ips/config.h"

namespace ward::agent::ips {

Status Validate(const PolicySection& section, const ConfigNode& /*document*/) {
  return ParseIpsConfig(section).status();
}

bool Enabled(const PolicySection& section) {
  if (const ConfigNode* e = section.Find("enabled")) {
    auto v = ReadBool(*e);
    return v.has_value() && *v;
  }
  return true;
}

const ModuleSchema& Schema() {
  static constexpr std::string_view kFields[] = {"url.original", "rule.id", "rule.name"};
  static const ModuleSchema kSchema{"ips", &Validate, &Enabled, {}, kFields};
  return kSchema;
}

}  // namespace ward::agent::ips
