// OSSEC's OS_Regex / OS_Match dialects and PCRE2 with limits: the first line is the pattern, the
// rest the text. Every pattern must compile or be refused, and every match must finish.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/modules/loginspect/expression.h"
#include "agent/modules/loginspect/os_regex.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  std::string pattern = in.substr(0, nl);
  std::string text = nl == std::string::npos ? "" : in.substr(nl + 1);
  using ward::agent::loginspect::Expression;
  using ward::agent::loginspect::ExpressionType;
  using ward::agent::loginspect::OsMatch;
  using ward::agent::loginspect::OsRegex;
  if (auto r = OsRegex::Compile(pattern)) {
    long end = 0;
    std::vector<std::string> caps;
    if (r->Execute(text.c_str(), &end, &caps)) {
      if (end < -1 || end > static_cast<long>(text.size())) __builtin_trap();
    }
    (void)r->Match(text.c_str());
  }
  if (auto m = OsMatch::Compile(pattern)) (void)m->Match(text.c_str());
  if (auto p = Expression::Compile(ExpressionType::kPcre2, pattern, false, true)) {
    std::vector<std::string> caps;
    long end = 0;
    (void)p->Match(text.c_str(), &end, &caps);
  }
  return 0;
}
