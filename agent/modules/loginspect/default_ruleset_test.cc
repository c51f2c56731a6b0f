// Ward's default decoders and rules (ruleset/) against their own .ini tests
// (default_ruleset_tests/), run the way Wazuh's runtests.py runs a ruleset's tests.
#include <gtest/gtest.h>

#include "agent/modules/loginspect/ini_suite.h"

namespace ward::agent::loginspect {
namespace {

std::filesystem::path Here() {
  return std::filesystem::path(WARD_LOGINSPECT_SOURCE_DIR) / "agent/modules/loginspect";
}

TEST(DefaultRuleset, LoadsWithoutWarnings) {
  RulesetConfig c;
  c.decoder_dirs = {Here() / "ruleset/decoders"};
  c.rule_dirs = {Here() / "ruleset/rules"};
  auto rs = Ruleset::Load(c);
  ASSERT_TRUE(rs.has_value()) << rs.error().message();
  EXPECT_GE((*rs)->rule_count(), 50u);
  std::string warnings;
  for (const auto& w : (*rs)->warnings()) warnings += w + "\n";
  EXPECT_TRUE(warnings.empty()) << warnings;
}

TEST(DefaultRuleset, IniSuitePasses) {
  RulesetConfig c;
  c.decoder_dirs = {Here() / "ruleset/decoders"};
  c.rule_dirs = {Here() / "ruleset/rules"};
  auto rs = Ruleset::Load(c);
  ASSERT_TRUE(rs.has_value()) << rs.error().message();
  auto run = RunIniSuite(*rs, Here() / "default_ruleset_tests");
  ASSERT_TRUE(run.has_value()) << run.error().message();
  EXPECT_GE(run->total, 40);
  EXPECT_EQ(run->passed, run->total) << run->failures;
}

// sudo's lines hold " ; ", which runtests.py's ini reader (Python 2 RawConfigParser) cuts as an
// inline comment: they are checked here with the same -U check instead.
TEST(DefaultRuleset, SudoLines) {
  RulesetConfig c;
  c.decoder_dirs = {Here() / "ruleset/decoders"};
  c.rule_dirs = {Here() / "ruleset/rules"};
  auto rs = Ruleset::Load(c);
  ASSERT_TRUE(rs.has_value()) << rs.error().message();
  struct Case {
    const char* line;
    const char* rule;
    const char* level;
  };
  const Case cases[] = {
      {"Dec  7 10:00:00 web1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; "
       "COMMAND=/usr/bin/id",
       "180201", "3"},
      {"Dec  7 10:00:00 web1 sudo:    bob : 3 incorrect password attempts ; TTY=pts/0 ; "
       "PWD=/home/bob ; USER=root ; COMMAND=/bin/sh",
       "180202", "6"},
      {"Dec  7 10:00:00 web1 sudo:    eve : user NOT in sudoers ; TTY=pts/0 ; PWD=/home/eve ; "
       "USER=root ; COMMAND=/bin/sh",
       "180203", "9"},
  };
  for (const auto& k : cases) {
    std::string got;
    EXPECT_TRUE(RunUnitCheck(*rs, {k.line}, k.rule, k.level, "sudo", &got))
        << k.line << ": " << got;
  }
}

}  // namespace
}  // namespace ward::agent::loginspect
