#include <gtest/gtest.h>

#include <fstream>

#include "agent/modules/loginspect/expression.h"
#include "agent/modules/loginspect/ruleset.h"
#include "testing/temp_dir.h"

namespace ward::agent::loginspect {
namespace {

void Write(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Write(dir_.path() / "decoders/sshd.xml", R"(
<decoder name="sshd">
  <program_name>^sshd</program_name>
</decoder>
<decoder name="sshd-fail">
  <parent>sshd</parent>
  <prematch>^Failed \S+ </prematch>
  <regex offset="after_prematch">^for (\S+) from (\S+) port \d+</regex>
  <order>user, srcip</order>
</decoder>
<decoder name="json">
  <prematch>^{\s*"</prematch>
  <plugin_decoder>JSON_Decoder</plugin_decoder>
</decoder>)");
    Write(dir_.path() / "rules/sshd.xml", R"(
<var name="FREQ">3</var>
<group name="syslog,sshd,">
  <rule id="100" level="0">
    <decoded_as>sshd</decoded_as>
    <description>sshd messages</description>
  </rule>
  <rule id="101" level="5">
    <if_sid>100</if_sid>
    <match>Failed password</match>
    <description>Failed login for $(dstuser) from $(srcip)</description>
    <group>authentication_failed,</group>
  </rule>
  <rule id="102" level="10" frequency="$FREQ" timeframe="120">
    <if_matched_sid>101</if_matched_sid>
    <same_source_ip />
    <description>brute force</description>
  </rule>
  <rule id="110" level="3">
    <decoded_as>json</decoded_as>
    <field name="app.user.name">^alice$</field>
    <description>json nested</description>
  </rule>
</group>)");
    RulesetConfig c;
    c.decoder_dirs.push_back(dir_.path() / "decoders");
    c.rule_dirs.push_back(dir_.path() / "rules");
    auto r = Ruleset::Load(c);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    ruleset_ = *r;
  }
  test::TempDir dir_;
  std::shared_ptr<const Ruleset> ruleset_;
};

TEST_F(EngineTest, PredecodesDecodesAndMatchesAChildRule) {
  Session s(ruleset_);
  auto v =
      s.Process("Feb  9 11:44:56 host sshd[12]: Failed password for root from 10.1.1.1 port 22",
                "stdin", 1000);
  ASSERT_NE(v.rule, nullptr);
  EXPECT_EQ(v.rule->id, 101);
  EXPECT_EQ(v.event->hostname, "host");
  EXPECT_EQ(*v.event->program_name, "sshd");
  EXPECT_EQ(*v.event->Static("srcip"), "10.1.1.1");
  EXPECT_EQ(*v.event->Static("dstuser"), "root");
  EXPECT_NE(FormatLogtest(v).find("Failed login for root from 10.1.1.1"), std::string::npos);
}

TEST_F(EngineTest, FrequencyFiresOnTheNthEventFromTheSameSource) {
  Session s(ruleset_);
  const char* a = "Feb  9 11:44:56 host sshd[12]: Failed password for root from 10.1.1.1 port 22";
  const char* b = "Feb  9 11:44:56 host sshd[12]: Failed password for root from 10.9.9.9 port 22";
  EXPECT_EQ(s.Process(a, "stdin", 1000).rule->id, 101);
  EXPECT_EQ(s.Process(b, "stdin", 1001).rule->id, 101);
  EXPECT_EQ(s.Process(a, "stdin", 1002).rule->id, 101);
  EXPECT_EQ(s.Process(a, "stdin", 1003).rule->id, 102);  // third from 10.1.1.1
  // Outside the timeframe the history no longer counts.
  Session t(ruleset_);
  EXPECT_EQ(t.Process(a, "stdin", 1000).rule->id, 101);
  EXPECT_EQ(t.Process(a, "stdin", 1500).rule->id, 101);
  EXPECT_EQ(t.Process(a, "stdin", 2000).rule->id, 101);
}

TEST_F(EngineTest, OssecCompatFiresAtFrequencyPlusTwo) {
  // Rule 102: frequency="3", if_matched_sid 101, same_source_ip. The same five lines: Wazuh's
  // analysisd fires on the third, OSSEC's ossec-analysisd counts three earlier events and fires
  // on the next one, i.e. on the fifth.
  const char* a = "Feb  9 11:44:56 host sshd[12]: Failed password for root from 10.1.1.1 port 22";
  Session wazuh(ruleset_);
  Session ossec(ruleset_, Compat::kOssec);
  std::vector<int> w, o;
  for (int i = 0; i < 10; ++i) {
    w.push_back(wazuh.Process(a, "stdin", 1000 + i).rule->id);
    o.push_back(ossec.Process(a, "stdin", 1000 + i).rule->id);
  }
  EXPECT_EQ(w[2], 102);
  EXPECT_EQ(w[0], 101);
  EXPECT_EQ(w[1], 101);
  // OSSEC: 5th fires (marking the 1st, and the 4th: the newest of the list); the 6th-9th stop at
  // the matched 4th and need three newer ones again, so the 10th fires.
  EXPECT_EQ(o, (std::vector<int>{101, 101, 101, 101, 102, 101, 101, 101, 101, 102}));
  Compat c = Compat::kWazuh;
  EXPECT_TRUE(ParseCompat("ossec", &c));
  EXPECT_EQ(c, Compat::kOssec);
  EXPECT_FALSE(ParseCompat("OSSEC4", &c));
}

// OSSEC's Free_Eventinfo: an event leaving the global list (8192 events, 10 dropped at a time)
// leaves its if_matched_sid list if still there; if that 128-event list had already pushed it
// out, OSSEC takes the if_matched_group branch instead and deletes the OLDEST event of each
// group list its rule feeds, although the event never entered them. On ossec-analysisd's
// benchmark corpus this keeps the authentication_failed list (rule 40111) short.
TEST(OssecCompat, AnEventPushedOutOfItsSidListShortensGroupListsWhenItLeavesTheGlobalList) {
  test::TempDir dir;
  Write(dir.path() / "decoders/sshd.xml", R"(
<decoder name="sshd">
  <program_name>^sshd</program_name>
</decoder>)");
  Write(dir.path() / "rules/r.xml", R"(
<group name="syslog,sshd,">
  <rule id="100" level="0">
    <decoded_as>sshd</decoded_as>
    <description>sshd</description>
  </rule>
  <rule id="101" level="5">
    <if_sid>100</if_sid>
    <match>Failed password</match>
    <description>failed password</description>
    <group>authentication_failed,</group>
  </rule>
  <rule id="102" level="10" frequency="200" timeframe="120">
    <if_matched_sid>101</if_matched_sid>
    <description>gives 101 an if_matched_sid list (never fires: the list keeps 128)</description>
  </rule>
  <rule id="103" level="5">
    <if_sid>100</if_sid>
    <match>maximum authentication attempts</match>
    <description>maximum attempts</description>
    <group>authentication_failed,</group>
  </rule>
  <rule id="104" level="10" frequency="2" timeframe="120">
    <if_matched_group>authentication_failed</if_matched_group>
    <description>multiple authentication failures</description>
  </rule>
  <rule id="105" level="3">
    <if_sid>100</if_sid>
    <match>Accepted</match>
    <description>accepted</description>
  </rule>
</group>)");
  RulesetConfig c;
  c.decoder_dirs.push_back(dir.path() / "decoders");
  c.rule_dirs.push_back(dir.path() / "rules");
  auto r = Ruleset::Load(c);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  const char* failed = "Feb  9 11:44:56 host sshd[12]: Failed password for root from 10.1.1.1";
  const char* maximum = "Feb  9 11:44:56 host sshd[12]: error: maximum authentication attempts";
  const char* accepted = "Feb  9 11:44:56 host sshd[12]: Accepted publickey for bob";
  // `failures` events of 101, three of 103, then 8185 of 105: the global list then has dropped
  // exactly the `failures` events of 101 (8192 + 10 per round) and none of 103.
  auto fourth_maximum = [&](int failures) {
    Session s(*r, Compat::kOssec);
    for (int i = 0; i < failures; ++i) EXPECT_EQ(s.Process(failed, "stdin", 1000).rule->id, 101);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(s.Process(maximum, "stdin", 1000).rule->id, 103);
    for (int i = 0; i < 8185; ++i) EXPECT_EQ(s.Process(accepted, "stdin", 1000).rule->id, 105);
    return s.Process(maximum, "stdin", 1000).rule->id;
  };
  // 100 events of 101: all still in 101's list when dropped, the group list keeps its three
  // events, and 104 fires on the fourth (frequency 2: two counted, fires on the next).
  EXPECT_EQ(fourth_maximum(100), 104);
  // 200: 72 had been pushed out of 101's list; each deletes the oldest group event, so the
  // three are gone and the fourth raises only 103 (ossec-analysisd does the same).
  EXPECT_EQ(fourth_maximum(200), 103);
}

TEST_F(EngineTest, OssecCompatStopsAtAMatchedEventOfAnySource) {
  // OSSEC's Search_LastSids checks `matched >= level` before same_source_ip: once the rule fired
  // for 10.1.1.1, the matched event ends every search, also one for another address; Wazuh
  // skips events of other addresses first.
  const char* a = "Feb  9 11:44:56 host sshd[12]: Failed password for root from 10.1.1.1 port 22";
  const char* b = "Feb  9 11:44:56 host sshd[12]: Failed password for root from 10.9.9.9 port 22";
  Session ossec(ruleset_, Compat::kOssec);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(ossec.Process(b, "stdin", 1000).rule->id, 101);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(ossec.Process(a, "stdin", 1000).rule->id, 101);
  EXPECT_EQ(ossec.Process(a, "stdin", 1000).rule->id, 102);
  EXPECT_EQ(ossec.Process(b, "stdin", 1000).rule->id, 101)
      << "four earlier b's, but behind a match";

  Session wazuh(ruleset_);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(wazuh.Process(b, "stdin", 1000).rule->id, 101);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(wazuh.Process(a, "stdin", 1000).rule->id, 101);
  EXPECT_EQ(wazuh.Process(a, "stdin", 1000).rule->id, 102);
  EXPECT_EQ(wazuh.Process(b, "stdin", 1000).rule->id, 102) << "Wazuh looks past the a's";
}

TEST_F(EngineTest, FrequencyCountsOnlyTheSameSourceAmongManyOthers) {
  // The same_source_ip search goes through the per-history index: a burst from one address
  // hidden among hundreds of others fires exactly on its third event, a fourth address does
  // not borrow their counts, and a clock that goes backwards (index off) gives the same answer.
  for (bool backwards : {false, true}) {
    Session s(ruleset_);
    auto line = [](int i) {
      return "Feb  9 11:44:56 host sshd[12]: Failed password for root from 10.0." +
             std::to_string(i / 250) + "." + std::to_string(i % 250) + " port 22";
    };
    const std::string target =
        "Feb  9 11:44:56 host sshd[12]: Failed password for root from 192.0.2.7 port 22";
    int64_t now = 5000;
    if (backwards) s.Process(line(999), "stdin", now + 10);  // history times not monotonic
    EXPECT_EQ(s.Process(target, "stdin", now).rule->id, 101);
    for (int i = 0; i < 300; ++i) EXPECT_EQ(s.Process(line(i), "stdin", now).rule->id, 101);
    EXPECT_EQ(s.Process(target, "stdin", now).rule->id, 101);
    for (int i = 300; i < 600; ++i) EXPECT_EQ(s.Process(line(i), "stdin", now).rule->id, 101);
    EXPECT_EQ(s.Process(target, "stdin", now).rule->id, 102) << "backwards=" << backwards;
  }
}

TEST(RuleOptions, NoLogMatchesButRaisesNoAlert) {
  test::TempDir dir;
  Write(dir.path() / "rules/r.xml", R"(<group name="g,">
  <rule id="1" level="0" noalert="1"><category>syslog</category></rule>
  <rule id="60" level="3"><match>POST </match><options>no_log</options></rule>
  <rule id="61" level="8" frequency="2" timeframe="60">
    <if_matched_sid>60</if_matched_sid><description>two POSTs</description>
  </rule>
</group>)");
  RulesetConfig c;
  c.rule_dirs.push_back(dir.path() / "rules");
  auto r = Ruleset::Load(c);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  Session s(*r);
  auto v = s.Process("POST /x", "stdin", 1);
  ASSERT_NE(v.rule, nullptr);
  EXPECT_EQ(v.rule->id, 60);
  EXPECT_FALSE(v.alert);  // analysisd logs no alert for no_log ...
  v = s.Process("POST /y", "stdin", 2);
  ASSERT_NE(v.rule, nullptr);
  EXPECT_EQ(v.rule->id, 61);  // ... but the event still counts in the rule's history
  EXPECT_TRUE(v.alert);
}

TEST(OssecPcre2, ElementsAreCaseInsensitiveAsOssecCompilesThem) {
  test::TempDir dir;
  Write(dir.path() / "rules/r.xml", R"(<group name="g,">
  <rule id="1" level="0" noalert="1"><category>syslog</category></rule>
  <rule id="70" level="5"><pcre2>invalid user</pcre2></rule>
  <rule id="71" level="6"><regex type="pcre2">^Out of Memory</regex></rule>
</group>)");
  RulesetConfig c;
  c.rule_dirs.push_back(dir.path() / "rules");
  auto r = Ruleset::Load(c);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  Session s(*r);
  auto v = s.Process("Invalid user oracle from 192.0.2.1", "stdin", 1);
  ASSERT_NE(v.rule, nullptr);
  EXPECT_EQ(v.rule->id, 70);  // OSSEC's <pcre2>: PCRE2_CASELESS
  EXPECT_EQ(s.Process("Out of memory: Killed process 1", "stdin", 1).rule, nullptr)
      << "Wazuh's type=\"pcre2\" stays case-sensitive";
}

TEST_F(EngineTest, JsonDecoderFlattensNestedFields) {
  Session s(ruleset_);
  auto v = s.Process(R"({"app": {"user": {"name": "alice"}, "n": 3}})", "stdin", 1);
  ASSERT_NE(v.rule, nullptr);
  EXPECT_EQ(v.rule->id, 110);
  EXPECT_EQ(*v.event->Field("app.n"), "3");
}

TEST(Pcre2Limits, HostileLineCannotStallAndTheRuleIsReportedOnce) {
  test::TempDir dir;
  Write(dir.path() / "rules/r.xml", R"(<group name="g,">
  <rule id="1" level="0" noalert="1"><category>syslog</category></rule>
  <rule id="50" level="5"><regex type="pcre2">^(a+)+$</regex></rule>
</group>)");
  RulesetConfig c;
  c.rule_dirs.push_back(dir.path() / "rules");
  auto r = Ruleset::Load(c);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  Session s(*r);
  std::string hostile(40, 'a');
  hostile += 'b';
  EXPECT_EQ(s.Process(hostile, "stdin", 1).rule, nullptr);
  EXPECT_EQ(s.TakeLimitReports(), std::vector<int>{50});
  EXPECT_EQ(s.Process(hostile, "stdin", 2).rule, nullptr);
  EXPECT_TRUE(s.TakeLimitReports().empty());
  ASSERT_NE(s.Process("aaaa", "stdin", 3).rule, nullptr);  // ordinary lines still match
}

TEST(RulesetLoad, MalformedXmlNamesFileLineColumnAndRule) {
  test::TempDir dir;
  Write(dir.path() / "rules/bad.xml",
        "<group name=\"x\">\n  <rule id=\"7\" level=\"3\">\n    <regex>(a</regex>\n  "
        "</rule>\n</group>\n");
  RulesetConfig c;
  c.rule_dirs.push_back(dir.path() / "rules");
  auto r = Ruleset::Load(c);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("bad.xml:3:5: rule 7"), std::string::npos)
      << r.error().message();
}

// PCRE2 patterns skip the matcher for subjects shorter than any match and, when anchored, for a
// first byte no match can start with: the answers must stay those of the matcher itself.
TEST(Pcre2Prefilter, AnchoredAndShortSubjectsGiveTheMatchersAnswers) {
  struct Case {
    const char* pattern;
    std::string text;
    bool match;
  };
  const Case cases[] = {
      {"(?i)^abc", "ABCdef", true},
      {"(?i)^abc", "xabc", false},
      {"(?i)^abc", "ab", false},
      {"(?i)^abc", "", false},
      {"^a|^b", "bz", true},
      {"^a|^b", "cz", false},
      {"^\\s*x", " x", true},
      {"^\\s*x", "\tx", true},
      {"^\\s*x", "x", true},
      {"^\\s*x", "y x", false},
      {"^(?:foo)?bar", "bar", true},
      {"^(?:foo)?bar", "foobar", true},
      {"^(?:foo)?bar", "xbar", false},
      {"^", "", true},
      {"^", "anything", true},
      {"^$", "", true},
      {"^$", "a", false},
      {"^\\d{4}-", "2026-12", true},
      {"^\\d{4}-", "a2026-", false},
      {"^\\d{4}-", "202", false},
      {"(?m)^x", "a\nx", true},  // multi-line: not anchored, every byte may start the subject
      {"\\Aabc", "abc", true},
      {"\\Aabc", "babc", false},
      {"^(?=a)\\w+", "ab", true},
      {"^(?=a)\\w+", "ba", false},
      {"(?i)^[^a]", "B", true},
      {"(?i)^[^a]", "A", false},
      {"^\\xff", "\xff", true},
      {"^\\xff", "\xfe", false},
      {"login\\.php", "GET /login.php", true},
      {"login\\.php", "login", false},
  };
  for (bool prefilters : {true, false}) {
    Expression::SetPcre2PrefiltersForTesting(prefilters);
    for (const Case& c : cases) {
      auto e = Expression::Compile(ExpressionType::kPcre2, c.pattern, false, false);
      ASSERT_TRUE(e.has_value()) << c.pattern;
      EXPECT_EQ(e->Match(c.text.c_str()), c.match)
          << c.pattern << " on '" << c.text << "', prefilters " << prefilters;
    }
  }
  Expression::SetPcre2PrefiltersForTesting(true);
}

// Children of a large rule node are looked up by the event's decoder; the first match in
// priority order (level, then load order) must stay the same among rules with and without
// decoded_as.
TEST(RuleTree, ManyChildrenKeepTheirPriorityAcrossDecoders) {
  test::TempDir dir;
  Write(dir.path() / "decoders/d.xml", R"(
<decoder name="dec-a"><prematch>^A: </prematch></decoder>
<decoder name="dec-b"><prematch>^B: </prematch></decoder>)");
  Write(dir.path() / "rules/r.xml", R"(<group name="g,">
  <rule id="1" level="0" noalert="1"><category>syslog</category></rule>
  <rule id="10" level="3"><decoded_as>dec-a</decoded_as><match>x</match></rule>
  <rule id="11" level="3"><decoded_as>dec-b</decoded_as><match>x</match></rule>
  <rule id="12" level="5"><match>y</match></rule>
  <rule id="13" level="7"><decoded_as>dec-a</decoded_as><match>y</match></rule>
  <rule id="14" level="2"><decoded_as>dec-c</decoded_as><match>x</match></rule>
  <rule id="15" level="2"><decoded_as>dec-c</decoded_as><match>y</match></rule>
  <rule id="16" level="2"><decoded_as>dec-d</decoded_as><match>x</match></rule>
  <rule id="17" level="2"><decoded_as>dec-d</decoded_as><match>y</match></rule>
  <rule id="20" level="3"><match>x</match></rule>
  <rule id="21" level="0"><decoded_as>dec-b</decoded_as><match>z</match></rule>
  <rule id="22" level="9"><match>z</match></rule>
</group>)");
  RulesetConfig c;
  c.decoder_dirs.push_back(dir.path() / "decoders");
  c.rule_dirs.push_back(dir.path() / "rules");
  auto r = Ruleset::Load(c);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  Session s(*r);
  auto id = [&](std::string_view line) {
    auto v = s.Process(line, "stdin", 1);
    return v.rule == nullptr ? -1 : v.rule->id;
  };
  EXPECT_EQ(id("A: x"), 10);  // level 3, loaded before 20
  EXPECT_EQ(id("B: x"), 11);
  EXPECT_EQ(id("C: x"), 20);  // no decoder: only the rules without decoded_as
  EXPECT_EQ(id("A: y"), 13);  // level 7 before 12's 5
  EXPECT_EQ(id("B: y"), 12);
  EXPECT_EQ(id("Q: y"), 12);
  EXPECT_EQ(id("B: z"), 21);  // level 0 counts as 99
  EXPECT_EQ(id("A: z"), 22);
}

}  // namespace
}  // namespace ward::agent::loginspect
