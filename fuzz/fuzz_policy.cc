// Policy documents (YAML from a file, JSON from the manager) through the agent's own validator.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "agent/core/policy.h"
#include "agent/modules/schemas.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto node = ward::ConfigNode::FromYaml(text, "fuzz.yaml");
  if (node) {
    auto p = ward::agent::Policy::FromNode(*node, ward::agent::ModuleSchemas());
    (void)p;
    (void)node->ToJson().dump();
  }
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) {
    auto jn = ward::ConfigNode::FromJson(j, "fuzz.json");
    if (jn) (void)ward::agent::Policy::FromNode(*jn, ward::agent::ModuleSchemas());
  }
  return 0;
}
