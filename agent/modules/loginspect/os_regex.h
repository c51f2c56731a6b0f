// OSSEC/Wazuh's two home-grown pattern dialects, reproduced byte for byte (docs/loginspect.md):
//   OsMatch  ("sregex", <match>): '|'-separated literals, '^' / '$' anchors, '!' negation,
//            ASCII case-insensitive substring search.
//   OsRegex  (<regex>, <prematch>): '|'-separated sub-patterns of literals and the classes
//            \w \d \s \p \W \D \S \. \t and the escapes \( \) \\ \$ \| \<, each class optionally
//            followed by '+' or '*', one level of capture parentheses, '^' / '$' anchors; the
//            matcher is OSSEC's bounded backtracker (four saved retry points), with its quirks.
// Both are immutable after Compile and safe to use from many threads; matching is linear in
// the line length times the pattern length (no exponential backtracking by construction).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ward::agent::loginspect {

class OsMatch {
 public:
  static Result<OsMatch> Compile(std::string_view pattern);
  // REQUIRES: `text` NUL-terminated at text[size] (std::string::c_str()); bytes after an embedded
  // NUL are not seen, as in OSSEC. `lowered`, when given, is `text` with A-Z lower-cased (same
  // length): the search then runs on it with memmem/memcmp.
  bool Match(const char* text, const char* lowered = nullptr) const;
  const std::string& raw() const { return raw_; }

 private:
  enum class Kind { kSubstring, kPrefix, kSuffix, kExact, kAll };
  struct Sub {
    Kind kind;
    std::string text;  // lower-cased
  };
  std::string raw_;
  std::vector<Sub> subs_;
  bool negate_ = false;
};

class OsRegex {
 public:
  // Case-insensitive like every OSSEC rule/decoder pattern.
  static Result<OsRegex> Compile(std::string_view pattern);

  // Runs the sub-patterns in order. On a match returns true, sets *end to the offset of OSSEC's
  // "end of match" pointer (the last byte consumed; may be -1 for an empty leading match) and,
  // when `captures` is given, fills it with the captured groups of the matching sub-pattern.
  // REQUIRES: `text` NUL-terminated.
  // `lowered` (optional): `text` with A-Z lower-cased, same length, to search literals fast.
  bool Execute(const char* text, long* end, std::vector<std::string>* captures,
               const char* lowered = nullptr) const;
  bool Match(const char* text) const {
    long end = 0;
    return Execute(text, &end, nullptr);
  }
  const std::string& raw() const { return raw_; }
  bool has_captures() const { return has_captures_; }
  // Tests only: turns the literal / first-byte prefilters off (process-wide) so a test can
  // check they never change a result.
  static void SetPrefiltersForTesting(bool on);

 private:
  struct Sub {
    std::string code;          // compiled: escapes as (BACKSLASH, class id), ')' folded to '('
    std::vector<long> parens;  // offsets of '(' in `code`
    bool begin = false;
    bool end = false;
    // Runs of literal bytes (lower-cased, longest first, at most four) every match must contain,
    // each consecutively, somewhere in the text; a text without one of them is rejected
    // without running the matcher.
    std::vector<std::string> required;
    // '^' patterns whose first token needs a byte: the bytes it accepts (else empty).
    std::vector<bool> first_byte;
  };
  long Run(const Sub& sub, const unsigned char* s, std::vector<long>* marks, const char* lowered,
           size_t len) const;

  std::string raw_;
  std::vector<Sub> subs_;
  bool has_captures_ = false;
};

}  // namespace ward::agent::loginspect
