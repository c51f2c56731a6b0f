// OSSEC's OS_Regex / OS_Match dialects and PCRE2 with limits: the first line is the pattern, the
// rest the text. Every pattern must compile or be refused, and every match must finish; the
// prefilters and the lower-cased copy (the fast paths the engine uses) never change a result.
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
  std::string lowered = text;
  for (char& c : lowered) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  if (auto r = OsRegex::Compile(pattern)) {
    long end = 0;
    std::vector<std::string> caps;
    bool hit = r->Execute(text.c_str(), &end, &caps);
    if (hit && (end < -1 || end > static_cast<long>(text.size()))) __builtin_trap();
    long end2 = 0;
    std::vector<std::string> caps2;
    if (r->Execute(text.c_str(), &end2, &caps2, lowered.c_str()) != hit) __builtin_trap();
    if (hit && (end2 != end || caps2 != caps)) __builtin_trap();
    OsRegex::SetPrefiltersForTesting(false);
    long end3 = 0;
    std::vector<std::string> caps3;
    bool hit3 = r->Execute(text.c_str(), &end3, &caps3);
    OsRegex::SetPrefiltersForTesting(true);
    if (hit3 != hit || (hit && (end3 != end || caps3 != caps))) __builtin_trap();
    (void)r->Match(text.c_str());
  }
  if (auto m = OsMatch::Compile(pattern)) {
    if (m->Match(text.c_str()) != m->Match(text.c_str(), lowered.c_str())) __builtin_trap();
  }
  if (auto p = Expression::Compile(ExpressionType::kPcre2, pattern, false, true)) {
    std::vector<std::string> caps;
    long end = 0;
    bool hit = p->Match(text.c_str(), &end, &caps);
    // PCRE2's minimum-length and anchored first-byte rejections change no answer.
    Expression::SetPcre2PrefiltersForTesting(false);
    std::vector<std::string> caps2;
    long end2 = 0;
    bool hit2 = p->Match(text.c_str(), &end2, &caps2);
    Expression::SetPcre2PrefiltersForTesting(true);
    if (hit2 != hit || (hit && (end2 != end || caps2 != caps))) __builtin_trap();
  }
  return 0;
}
