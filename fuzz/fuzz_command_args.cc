// Command arguments (untrusted JSON from the API, and from the manager on the agent) against
// every command's argument schema (common/json_schema.h, agent/modules/schemas.h).
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "agent/modules/schemas.h"
#include "common/json_schema.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return 0;
  for (const ward::agent::CommandSpec* c : ward::agent::AllCommands()) {
    auto schema = nlohmann::json::parse(c->args_schema, nullptr, false);
    (void)ward::ValidateJson(schema, value, "args");
  }
  return 0;
}
