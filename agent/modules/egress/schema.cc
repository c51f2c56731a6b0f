#include "agent/modules/egress/schema.h"

#include "agent/modules/egress/config.h"

namespace ward::agent::egress {

Status Validate(const PolicySection& section, const ConfigNode& /*document*/) {
  return ParseEgressConfig(section).status();
}

bool Enabled(const PolicySection& section) {
  if (const ConfigNode* e = section.Find("enabled")) {
    auto v = ReadBool(*e);
    return v.has_value() && *v;
  }
  return true;
}

const ModuleSchema& Schema() {
  static constexpr std::string_view kFields[] = {"destination.domain", "url.original",
                                                 "destination.ip", "rule.id"};
  static const ModuleSchema kSchema{"egress", &Validate, &Enabled, {}, kFields};
  return kSchema;
}

}  // namespace ward::agent::egress
