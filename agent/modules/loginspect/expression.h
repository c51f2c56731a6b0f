// One condition of a decoder or rule: OS_Match, OS_Regex, PCRE2 (JIT, bounded by match and depth
// limits so a hostile line cannot stall the pipeline), a literal string, or an IP/netmask list;
// optionally negated (negate="yes"). Immutable after Compile; Match is thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/modules/loginspect/os_regex.h"
#include "common/status.h"

namespace ward::agent::loginspect {

enum class ExpressionType { kOsMatch, kOsRegex, kPcre2, kString, kIpList };

// Parses a type="..." attribute value ("osmatch", "osregex", "pcre2", "string", "osip_array").
Result<ExpressionType> ParseExpressionType(std::string_view name);

class Pcre2Pattern;

class Expression {
 public:
  static Result<Expression> Compile(ExpressionType type, std::string_view pattern, bool negate,
                                    bool want_captures);
  // Adds one more entry (IP lists and multi-element OR patterns).
  Status Append(std::string_view pattern);

  // REQUIRES: `text` NUL-terminated. `end` (optional) receives OSSEC's end-of-match offset,
  // `captures` (optional) the groups. `lowered` (optional): `text` with A-Z lower-cased, same
  // length — OS_Match/OS_Regex then search their literals in it with memmem/memchr.
  bool Match(const char* text, long* end = nullptr, std::vector<std::string>* captures = nullptr,
             const char* lowered = nullptr) const;

  // PCRE2: leave out the groups that did not take part in the match (OSSEC's OSPcre2_Execute);
  // by default they are captured empty (Wazuh).
  void SkipUnsetGroups() { skip_unset_ = true; }

  // Tests and fuzzing: turn PCRE2's cheap rejections (minimum length, anchored first byte) off
  // to compare the results with and without them. Not thread-safe; on by default.
  static void SetPcre2PrefiltersForTesting(bool on);

  ExpressionType type() const { return type_; }
  const std::string& raw() const { return raw_; }
  bool negate() const { return negate_; }
  // True once this pattern has hit the PCRE2 match limit (then it counts as "no match").
  bool limit_hit() const;

 private:
  struct IpNet {
    bool negated = false;
    bool v4 = false;
    uint32_t addr = 0;
    uint32_t mask = 0;
    std::string text;
  };
  ExpressionType type_ = ExpressionType::kOsMatch;
  std::string raw_;
  bool negate_ = false;
  bool want_captures_ = false;
  bool skip_unset_ = false;
  std::shared_ptr<const OsMatch> osmatch_;
  std::shared_ptr<const OsRegex> osregex_;
  std::shared_ptr<Pcre2Pattern> pcre2_;
  std::vector<IpNet> ips_;
};

}  // namespace ward::agent::loginspect
