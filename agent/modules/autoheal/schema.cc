#include "agent/modules/autoheal/schema.h"

#include "agent/modules/autoheal/config.h"

namespace ward::agent::autoheal {

Status Validate(const PolicySection& section, const ConfigNode& document) {
  return ParseAutohealSettings(section, document).status();
}

bool Enabled(const PolicySection& section) {
  auto c = ParseAutohealConfig(section);
  return c.has_value() && c->enabled;
}

const ModuleSchema& Schema() {
  static constexpr std::string_view kFields[] = {"file.path"};
  static const ModuleSchema kSchema{"autoheal", &Validate, &Enabled, {}, kFields};
  return kSchema;
}

}  // namespace ward::agent::autoheal
