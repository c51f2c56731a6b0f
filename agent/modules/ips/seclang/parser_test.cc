#include "agent/modules/ips/seclang/parser.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <vector>

#include "agent/modules/ips/seclang/modsec_oracle.h"
#include "agent/modules/ips/seclang/test_vectors.h"
#include "testing/temp_dir.h"

namespace ward::seclang {
namespace {

namespace fs = std::filesystem;

using test::CrsFiles;

Result<std::unique_ptr<RuleSet>> LoadAll(const std::vector<std::string>& files) {
  RuleParser parser;
  for (const auto& f : files) {
    if (Status s = parser.LoadFile(f); !s.ok()) return s;
  }
  return parser.Finish();
}

// The number libmodsecurity's RulesSet::loadFromUri reports for `set`: chain starters, SecAction
// and SecMarker, a marker counting once for each of its seven phase lists.
size_t LibmodsecurityCount(const RuleSet& set) {
  size_t n = 0;
  for (const auto& r : set.rules) n += r->kind == Rule::Kind::kMarker ? 7 : 1;
  return n;
}

Result<std::unique_ptr<RuleSet>> Parse(std::string_view text) {
  RuleParser parser;
  if (Status s = parser.LoadText(text, "t.conf", "/nonexistent"); !s.ok()) return s;
  return parser.Finish();
}

TEST(SeclangParser, LoadsDebianCrsAsInstalledLikeLibmodsecurity) {
  const auto files = CrsFiles();
  ASSERT_GT(files.size(), 25u) << "modsecurity-crs is not installed";
  auto set = LoadAll(files);
  ASSERT_TRUE(set.has_value()) << set.error().ToString();
  std::string error;
  const int reference = test::ModsecLoadRules(files, &error);
  ASSERT_GE(reference, 0) << error;
  EXPECT_EQ(LibmodsecurityCount(**set), static_cast<size_t>(reference));
  EXPECT_GT((*set)->RuleCount(), 600u);
  EXPECT_EQ((*set)->component_signatures.size(), 1u);
  std::cout << "CRS: " << files.size() << " files, " << (*set)->rules.size()
            << " rules and markers (libmodsecurity: " << reference << "), " << (*set)->RuleCount()
            << " SecRule/SecAction with chain members\n";
}

TEST(SeclangParser, LoadsTheRecommendedConfiguration) {
  const std::string conf =
      test::OraclesDir() + "/modsecurity-3.0.9-config/modsecurity.conf-recommended";
  auto set = LoadAll({conf});
  ASSERT_TRUE(set.has_value()) << set.error().ToString();
  EXPECT_EQ((*set)->engine, EngineMode::kDetectionOnly);
  EXPECT_TRUE((*set)->request_body_access);
  EXPECT_EQ((*set)->request_body_limit, 13107200);
  EXPECT_EQ((*set)->unicode_code_page, 20127);
  std::string error;
  const int reference = test::ModsecLoadRules({conf}, &error);
  ASSERT_GE(reference, 0) << error;
  EXPECT_EQ(LibmodsecurityCount(**set), static_cast<size_t>(reference));
}

TEST(SeclangParser, ReadsVariablesOperatorsActionsAndChains) {
  auto set = Parse(
      "SecRule REQUEST_COOKIES|!REQUEST_COOKIES:'/__utm|_pk_ref/'|&ARGS:foo|ARGS:'a|b'|XML:/* \\\n"
      "    \"!@rx (?i)a|b\" \\\n"
      "    \"id:10,phase:request,t:none,t:urlDecodeUni,t:LOWERCASE,block,capture,\\\n"
      "    msg:'Hello, "
      "%{MATCHED_VAR_NAME}',logdata:'%{TX.0}',tag:'a',tag:'b',severity:'CRITICAL',\\\n"
      "    setvar:'tx.score=+%{tx.critical_anomaly_score}',setvar:!tx.x,setvar:tx.y,\\\n"
      "    ctl:ruleRemoveTargetById=942100;ARGS:pwd,chain\"\n"
      "    SecRule &TX:y \"@eq 1\" \"t:none,setvar:tx.z=1\"\n"
      "SecMarker END\n");
  ASSERT_TRUE(set.has_value()) << set.error().ToString();
  ASSERT_EQ((*set)->rules.size(), 2u);
  const Rule& r = *(*set)->rules[0];
  EXPECT_EQ(r.id, 10);
  EXPECT_EQ(r.phase, 2);
  EXPECT_EQ(r.where.line, 1);
  ASSERT_EQ(r.variables.size(), 5u);
  EXPECT_EQ(r.variables[1].ToString(), "!REQUEST_COOKIES:/__utm|_pk_ref/");
  EXPECT_TRUE(r.variables[2].count);
  EXPECT_EQ(r.variables[3].key, "a|b");
  EXPECT_TRUE(r.negated);
  EXPECT_EQ(r.op->kind(), OperatorKind::kRx);
  EXPECT_EQ(r.op->param(), "(?i)a|b");
  EXPECT_EQ(r.transformations, (std::vector<Transformation>{Transformation::kUrlDecodeUni,
                                                            Transformation::kLowercase}));
  EXPECT_EQ(r.disruptive, Disruptive::kBlock);
  EXPECT_EQ(r.msg, "Hello, %{MATCHED_VAR_NAME}");
  EXPECT_EQ(r.severity, 2);
  EXPECT_EQ(r.tags, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(r.setvars.size(), 3u);
  EXPECT_EQ(r.setvars[0].op, SetVar::Op::kAdd);
  EXPECT_EQ(r.setvars[0].value, "%{tx.critical_anomaly_score}");
  EXPECT_EQ(r.setvars[1].op, SetVar::Op::kDelete);
  EXPECT_EQ(r.setvars[2].value, "1");
  ASSERT_EQ(r.ctls.size(), 1u);
  EXPECT_EQ(r.ctls[0].kind, Ctl::Kind::kRuleRemoveTargetById);
  ASSERT_NE(r.chained, nullptr);
  EXPECT_EQ(r.chained->variables[0].ToString(), "&TX:y");
  EXPECT_EQ(r.chained->op->kind(), OperatorKind::kEq);
  EXPECT_EQ((*set)->rules[1]->marker, "END");
}

TEST(SeclangParser, RecordsSettingsAndExceptions) {
  auto set = Parse(
      "SecRuleEngine On\n"
      "SecRequestBodyAccess On\n"
      "SecRequestBodyLimit 1000\n"
      "SecRequestBodyLimitAction ProcessPartial\n"
      "SecDefaultAction \"phase:1,log,auditlog,pass\"\n"
      "SecRuleRemoveById 1 5-9,12\n"
      "SecRuleRemoveByTag attack-sqli\n"
      "SecRuleUpdateTargetById 942100 \"!ARGS:password\"\n"
      "SecRuleUpdateTargetByTag attack-xss \"!REQUEST_COOKIES:/^sess/\"\n"
      "SecRuleUpdateActionById 942100 \"pass\"\n"
      "SecAuditEngine RelevantOnly\n");
  ASSERT_TRUE(set.has_value()) << set.error().ToString();
  const RuleSet& s = **set;
  EXPECT_EQ(s.engine, EngineMode::kOn);
  EXPECT_EQ(s.request_body_limit, 1000);
  EXPECT_EQ(s.request_body_limit_action, "ProcessPartial");
  ASSERT_EQ(s.default_actions.count(1), 1u);
  EXPECT_EQ(s.default_actions.at(1)->disruptive, Disruptive::kPass);
  ASSERT_EQ(s.removed_ids.size(), 3u);
  EXPECT_TRUE(s.removed_ids[1].Contains(7));
  EXPECT_EQ(s.removed_tags, std::vector<std::string>{"attack-sqli"});
  ASSERT_EQ(s.target_updates_by_id.size(), 1u);
  EXPECT_EQ(s.target_updates_by_id[0].second[0].ToString(), "!ARGS:password");
  ASSERT_EQ(s.target_updates_by_tag.size(), 1u);
  EXPECT_TRUE(s.target_updates_by_tag[0].second[0].key_is_regex);
  ASSERT_EQ(s.action_updates_by_id.size(), 1u);
  ASSERT_EQ(s.recorded.size(), 1u);
}

// Forms libmodsecurity 3.0.9 loads (its own regression tests use them): Ward loads them too.
TEST(SeclangParser, AcceptsWhatLibmodsecurityAccepts) {
  const char* text =
      "SecAction \"phase:1,setvar:'tx.a=10'\"\n"
      "SecRule TX.partial|IP.dos_counter|!REQUEST_HEADERS \"@gt 0\" \"id:2,pass\n"
      "SecResponseBodyMimeTypesClear\n"
      "SecRule ARGS \"@rx a\" \"id:3,pass,chain\"\n"
      "  SecRule ARGS \"@rx b\" \"id:4,xmlns:soap=http://schemas.xmlsoap.org/soap/envelope/\"\n"
      "SecRule ARGS \"@eq 1\" \"id:5,deny,chain\"\n";
  auto set = Parse(text);
  ASSERT_TRUE(set.has_value()) << set.error().ToString();
  const auto& rules = (*set)->rules;
  ASSERT_EQ(rules.size(), 4u);
  EXPECT_EQ(rules[0]->id, 0);
  EXPECT_EQ(rules[1]->variables[0].ToString(), "TX:partial");
  EXPECT_EQ(rules[1]->variables[1].ToString(), "IP:dos_counter");
  EXPECT_EQ(rules[1]->variables[2].ToString(), "!REQUEST_HEADERS");
  EXPECT_EQ(rules[2]->chained->id, 4);
  EXPECT_TRUE(rules[3]->chain_incomplete);
  const ward::test::TempDir dir;
  std::ofstream(dir.path() / "t.conf") << text;
  std::string error;
  EXPECT_EQ(test::ModsecLoadRules({(dir.path() / "t.conf").string()}, &error), 4) << error;
}

struct Broken {
  const char* text;
  const char* where;            // expected prefix of the message: "t.conf:<line>: <Directive>: "
  bool libmodsecurity_refuses;  // false where Ward refuses deliberately
};

TEST(SeclangParser, RefusesBrokenFilesWithTheirLocation) {
  const Broken cases[] = {
      {"SecRule ARGS \"@rx a\" \"id:1,pass\"\nSecFoo bar\n", "t.conf:2: SecFoo: ", true},
      {"\n\nSecRule ARGS \"@rx a\" \"id:1,exec:/bin/true\"\n", "t.conf:3: SecRule: ", true},
      {"SecRule NOPE \"@rx a\" \"id:1,pass\"\n", "t.conf:1: SecRule: ", true},
      // libmodsecurity reads an unknown @operator as a regex ("@nope a"); Ward refuses it.
      {"SecRule ARGS \"@nope a\" \"id:1,pass\"\n", "t.conf:1: SecRule: ", false},
      {"SecRule ARGS \"@rx a\" \"id:1,t:nope,pass\"\n", "t.conf:1: SecRule: ", true},
      {"SecRule ARGS \"@rx a\" \"id:1,pass\"\nSecRule ARGS \"@rx b\" \"id:1,pass\"\n",
       "t.conf:2: SecRule: ", true},
      {"SecRule ARGS \"@rx a\" \"phase:2,pass\"\n", "t.conf:1: SecRule: ", true},
      {"SecRule ARGS \"@rx a\"x \"id:1,pass\"\n", "t.conf:1: SecRule: ", false},
      {"SecRule ARGS:/a|b/ \"@rx a\" \"id:1,pass\"\n", "t.conf:1: SecRule: ", true},
      {"SecRule REQUEST_URI:x \"@rx a\" \"id:1,pass\"\n", "t.conf:1: SecRule: ", true},
      {"# comment\nSecRule ARGS \\\n  \"@rx a\" \\\n  \"id:1,phase:9,pass\"\n",
       "t.conf:2: SecRule: ", true},
      {"SecRuleEngine Sometimes\n", "t.conf:1: SecRuleEngine: ", true},
      {"SecRequestBodyLimit lots\n", "t.conf:1: SecRequestBodyLimit: ", true},
      {"SecDefaultAction \"phase:1,log,block\"\n", "t.conf:1: SecDefaultAction: ", true},
      {"SecRule ARGS \"@rx a\" \"id:1,xmlns:soap='schemas.example/'\"\n",
       "t.conf:1: SecRule: ", true},
      {"SecServerSignature \"Ward\"\n", "t.conf:1: SecServerSignature: ", true},
      {"SecRule ARGS \"@rx a(b\" \"id:1,pass\"\n", "t.conf:1: SecRule: ", false},
      // A chain interrupted by another directive: Ward refuses it.
      {"SecRule ARGS \"@rx a\" \"id:1,pass,chain\"\nSecMarker X\n", "t.conf:2: SecMarker: ", false},
      {"SecRule ARGS:/abc/|ARGS:x|ARGS \"@rx a\" \"id:1,pass,nope\"\n",
       "t.conf:1: SecRule: ", true},
      {"SecRule ARGS \"@rbl bl.example.org\" \"id:1,pass\"\n", "t.conf:1: SecRule: ", false},
      {"SecRule ARGS \"@pmFromFile nope.data\" \"id:1,pass\"\n", "t.conf:1: SecRule: ", true},
      {"Include nope.conf\n", "t.conf:1: Include: ", true},
  };
  const ward::test::TempDir dir;
  for (const auto& c : cases) {
    auto set = Parse(c.text);
    ASSERT_FALSE(set.has_value()) << c.text;
    EXPECT_EQ(set.error().message().rfind(c.where, 0), 0u)
        << "got '" << set.error().message() << "' for " << c.text;
    if (c.libmodsecurity_refuses) {
      const fs::path f = dir.path() / "t.conf";
      std::ofstream(f) << c.text;
      std::string error;
      EXPECT_EQ(test::ModsecLoadRules({f.string()}, &error), -1)
          << "libmodsecurity accepts " << c.text;
    }
  }
}

TEST(SeclangParser, NamesTheIncludedFileAndLineOfAnError) {
  const ward::test::TempDir dir;
  std::ofstream(dir.path() / "main.conf") << "SecRuleEngine On\nInclude sub/*.conf\n";
  fs::create_directories(dir.path() / "sub");
  std::ofstream(dir.path() / "sub" / "a.conf") << "SecRule ARGS \"@rx a\" \"id:1,pass\"\n";
  std::ofstream(dir.path() / "sub" / "b.conf") << "\nSecRule ARGS \"@rx a\" \"id:2,bogus\"\n";
  RuleParser parser;
  const Status s = parser.LoadFile(dir.path() / "main.conf");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message().rfind((dir.path() / "sub" / "b.conf").string() + ":2: SecRule: ", 0), 0u)
      << s.message();
}

TEST(SeclangParser, ResolvesDataFilesBesideTheRuleFile) {
  const ward::test::TempDir dir;
  std::ofstream(dir.path() / "words.data") << "# comment\nfoo\nbar\n";
  std::ofstream(dir.path() / "r.conf")
      << "SecRule ARGS \"@pmFromFile words.data\" \"id:1,phase:2,pass\"\n";
  RuleParser parser;
  ASSERT_TRUE(parser.LoadFile(dir.path() / "r.conf").ok());
  auto set = parser.Finish();
  ASSERT_TRUE(set.has_value());
  OperatorScratch scratch;
  EXPECT_TRUE((*set)->rules[0]->op->Evaluate("xxBARxx", scratch));
  EXPECT_FALSE((*set)->rules[0]->op->Evaluate("comment", scratch));
}

}  // namespace
}  // namespace ward::seclang
