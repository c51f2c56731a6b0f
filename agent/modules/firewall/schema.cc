#include "agent/modules/firewall/schema.h"

#include "agent/modules/firewall/config.h"

namespace ward::agent::firewall {

Status Validate(const PolicySection& section, const ConfigNode& /*document*/) {
  return ParseFirewallConfig(section).status();
}

bool Enabled(const PolicySection& section) {
  if (const ConfigNode* e = section.Find("enabled")) {
    auto v = ReadBool(*e);
    return v.has_value() && *v;
  }
  return true;
}

const ModuleSchema& Schema() {
  static constexpr CommandSpec kCommands[] = {
      {"firewall.blocked_list", "lists the addresses active response blocks, with their expiry",
       R"({"type": "object", "additionalProperties": false})"},
      {"firewall.unblock",
       "removes an address (without one: every address) from active response's block set",
       R"({"type": "object", "additionalProperties": false,
           "properties": {"address": {"type": "string", "minLength": 2, "maxLength": 64}}})"},
  };
  static constexpr std::string_view kFields[] = {"rule.id", "source.ip", "destination.ip"};
  static const ModuleSchema kSchema{"firewall", &Validate, &Enabled, kCommands, kFields};
  return kSchema;
}

}  // namespace ward::agent::firewall
