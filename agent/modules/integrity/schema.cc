#include "agent/modules/integrity/schema.h"

#include "agent/modules/integrity/config.h"

namespace ward::agent::integrity {

Status Validate(const PolicySection& section, const ConfigNode& /*document*/) {
  return ParseIntegrityConfig(section).status();
}

bool Enabled(const PolicySection& section) {
  auto c = ParseIntegrityConfig(section);
  return c.has_value() && c->enabled;
}

const ModuleSchema& Schema() {
  static constexpr CommandSpec kCommands[] = {
      {"integrity.check",
       "full check of the policy's paths against the baseline (read-only); one event per change",
       R"({"type": "object", "additionalProperties": false})"},
  };
  static constexpr std::string_view kFields[] = {"file.path"};
  static const ModuleSchema kSchema{"integrity", &Validate, &Enabled, kCommands, kFields};
  return kSchema;
}

}  // namespace ward::agent::integrity
