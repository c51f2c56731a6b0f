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

}  // namespace
}  // namespace ward::agent::loginspect
