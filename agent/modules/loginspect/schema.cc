#include "agent/modules/loginspect/schema.h"

#include "agent/modules/loginspect/config.h"

namespace ward::agent::loginspect {

Status Validate(const PolicySection& section, const ConfigNode& /*document*/) {
  return ParseLoginspectConfig(section).status();
}

bool Enabled(const PolicySection& section) {
  auto c = ParseLoginspectConfig(section);
  return c.has_value() && c->enabled;
}

const ModuleSchema& Schema() {
  static constexpr std::string_view kFields[] = {"rule.id", "log.file.path"};
  static const ModuleSchema kSchema{"loginspect", &Validate, &Enabled, {}, kFields};
  return kSchema;
}

}  // namespace ward::agent::loginspect
