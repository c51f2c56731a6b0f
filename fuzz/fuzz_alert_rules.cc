// Alert rules and channels of issue 19 on arbitrary bytes: a rule document (POST/PUT
// /api/v1/alert-rules) and a channel configuration (POST/PUT /api/v1/alert-channels) through
// their validators, and host/path globs against texts (must terminate quickly). A rule that is
// accepted must read back as itself.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "manager/alerting/rules.h"
#include "manager/alerting/senders.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ward::manager::alerting;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t cut = in.find('\n');
  std::string_view pattern = in.substr(0, cut);
  std::string_view text = cut == std::string_view::npos ? std::string_view() : in.substr(cut + 1);
  (void)GlobMatch(pattern, text);
  nlohmann::json doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return 0;
  for (bool builtin : {false, true}) {
    RuleSpec spec;
    if (!ParseRuleSpec(doc, builtin, spec)) {
      RuleSpec again;
      if (ParseRuleSpec(SpecJson(spec), false, again)) __builtin_trap();
      if (SpecJson(again) != SpecJson(spec)) __builtin_trap();
    }
  }
  (void)CheckChannelConfig("webhook", doc);
  (void)CheckChannelConfig("email", doc);
  return 0;
}
