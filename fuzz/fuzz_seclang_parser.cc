// Rule files are parsed from text an administrator (or a policy from the manager) supplies: the
// parser must refuse anything malformed with a location, never crash or hang. Every rule that
// loads has its operator evaluated on a few values, so that parameters the parser accepted
// (@pm contents, @ipMatch networks, @validateByteRange ranges, regexes) are exercised too.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/modules/ips/seclang/parser.h"

using namespace ward::seclang;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  RuleParser parser;
  if (!parser.LoadText(text, "fuzz.conf", "/nonexistent").ok()) return 0;
  auto set = parser.Finish();
  if (!set.has_value()) return 0;
  OperatorScratch scratch;
  const std::string_view values[] = {"", "1.2.3.4", "<script>alert(1)</script>",
                                     "select * from t where 1=1 --", "%41%u0042\xc3\xa9"};
  for (const auto& r : (*set)->rules) {
    for (const Rule* p = r.get(); p != nullptr; p = p->chained.get()) {
      if (p->op == nullptr) continue;
      for (const auto v : values) {
        (void)p->op->Evaluate(v, p->op->param_has_macro() ? std::string_view("x") : p->op->param(),
                              scratch);
      }
    }
  }
  return 0;
}
