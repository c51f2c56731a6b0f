#include "agent/modules/loginspect/os_regex.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ward::agent::loginspect {
namespace {

bool Re(const char* pattern, const char* text) {
  auto r = OsRegex::Compile(pattern);
  EXPECT_TRUE(r.has_value()) << pattern;
  return r.has_value() && r->Match(text);
}

std::vector<std::string> Caps(const char* pattern, const char* text) {
  auto r = OsRegex::Compile(pattern);
  EXPECT_TRUE(r.has_value()) << pattern;
  std::vector<std::string> out;
  long end = 0;
  if (!r->Execute(text, &end, &out)) return {"<no match>"};
  return out;
}

TEST(OsMatch, AnchorsAlternativesAndCase) {
  auto m = OsMatch::Compile("^Failed|illegal user|ssh2$|^exact$");
  ASSERT_TRUE(m.has_value());
  EXPECT_TRUE(m->Match("failed password"));
  EXPECT_FALSE(m->Match("xfailed"));
  EXPECT_TRUE(m->Match("an ILLEGAL USER here"));
  EXPECT_TRUE(m->Match("port 22 SSH2"));
  EXPECT_TRUE(m->Match("EXACT"));
  EXPECT_FALSE(m->Match("exact "));
  auto neg = OsMatch::Compile("!root");
  ASSERT_TRUE(neg.has_value());
  EXPECT_FALSE(neg->Match("user root"));
  EXPECT_TRUE(neg->Match("user bob"));
}

TEST(OsRegex, ClassesAreOssecs) {
  EXPECT_TRUE(Re("^\\d+$", "12345"));
  EXPECT_FALSE(Re("^\\d+$", "12a45"));
  EXPECT_TRUE(Re("^\\w+$", "a-b_c@d9"));  // \w takes '-', '_' and '@' in OSSEC
  EXPECT_FALSE(Re("^\\w+$", "a.b"));
  EXPECT_TRUE(Re("^\\p+$", "()*+,-.:;<=>?[]"));
  EXPECT_TRUE(Re("\\S+ \\S+", "x y"));
  EXPECT_TRUE(Re("a\\tb", "A\tB"));  // case-insensitive
  EXPECT_TRUE(Re("\\(x\\)", "(x)"));
}

TEST(OsRegex, CapturesLikeDecoders) {
  EXPECT_EQ(Caps("^Failed password for (\\S+) from (\\S+) port (\\d+)",
                 "Failed password for root from 10.0.0.1 port 22 ssh2"),
            (std::vector<std::string>{"root", "10.0.0.1", "22"}));
  EXPECT_EQ(Caps("user (\\w+)$", "invalid user admin"), (std::vector<std::string>{"admin"}));
  EXPECT_EQ(Caps("from (\\S+)", "no"), (std::vector<std::string>{"<no match>"}));
}

TEST(OsRegex, RejectsWhatOssecRejects) {
  EXPECT_FALSE(OsRegex::Compile("\\q").has_value());
  EXPECT_FALSE(OsRegex::Compile("((a))").has_value());
  EXPECT_FALSE(OsRegex::Compile("(a|b)").has_value());
  EXPECT_FALSE(OsRegex::Compile("(a").has_value());
}

TEST(OsRegex, HostileLineFinishesQuickly) {
  std::string line(200000, 'a');
  auto r = OsRegex::Compile("\\w+\\s+\\w+\\s+\\d+x");
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->Match(line.c_str()));
}

// The prefilters (required literal runs, '^' first byte, the lower-cased copy's memchr skip)
// only reject texts the matcher would reject: random patterns over OS_Regex's tokens and random
// texts over a small alphabet give the same result, end offset and captures with and without
// them, with and without the lower-cased copy.
TEST(OsRegex, PrefiltersNeverChangeAResult) {
  static const char* kTokens[] = {"a",   "b",   "c",   "A",   " ",   ":",   "-",   "1",
                                  "\\d", "\\w", "\\s", "\\S", "\\p", "\\.", "\\D", "\\W",
                                  "+",   "*",   "(",   ")",   "|",   "$",   "^",   "x"};
  static const char kText[] = "abcABC :-19x(";
  uint64_t seed = 0x9e3779b97f4a7c15ULL;
  auto next = [&seed] {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
  };
  int compiled = 0;
  int matched = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string pattern;
    size_t n = 1 + next() % 8;
    for (size_t k = 0; k < n; ++k)
      pattern += kTokens[next() % (sizeof(kTokens) / sizeof(*kTokens))];
    auto r = OsRegex::Compile(pattern);
    if (!r) continue;
    ++compiled;
    for (int j = 0; j < 8; ++j) {
      std::string text;
      size_t len = next() % 16;
      for (size_t k = 0; k < len; ++k) text += kText[next() % (sizeof(kText) - 1)];
      std::string lowered = text;
      for (char& c : lowered) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
      }
      OsRegex::SetPrefiltersForTesting(false);
      long end0 = 0;
      std::vector<std::string> caps0;
      bool hit0 = r->Execute(text.c_str(), &end0, &caps0);
      OsRegex::SetPrefiltersForTesting(true);
      for (const char* low : {static_cast<const char*>(nullptr), lowered.c_str()}) {
        long end1 = 0;
        std::vector<std::string> caps1;
        bool hit1 = r->Execute(text.c_str(), &end1, &caps1, low);
        ASSERT_EQ(hit0, hit1) << "pattern '" << pattern << "' text '" << text << "'";
        if (hit0) {
          EXPECT_EQ(end0, end1) << "pattern '" << pattern << "' text '" << text << "'";
          EXPECT_EQ(caps0, caps1) << "pattern '" << pattern << "' text '" << text << "'";
        }
      }
      matched += hit0 ? 1 : 0;
    }
  }
  EXPECT_GT(compiled, 5000);
  EXPECT_GT(matched, 1000);  // the patterns are not all trivially failing
  // The matcher reads a pattern as a C string: literals after an embedded NUL are not required
  // (found by fuzz_loginspect_regex).
  auto nul = OsRegex::Compile(std::string("\\w+\0failed", 10));
  ASSERT_TRUE(nul.has_value());
  EXPECT_TRUE(nul->Match("c 123!!"));
}

}  // namespace
}  // namespace ward::agent::loginspect
