#include "agent/modules/loginspect/loginspect_module.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "agent/core/health.h"
#include "testing/recording_sink.h"
#include "testing/temp_dir.h"

namespace ward::agent::loginspect {
namespace {

using test::TempDir;
using test::WriteFile;
using namespace std::chrono_literals;

constexpr const char* kDecoders = R"(<decoder name="demo">
  <program_name>^demo$</program_name>
</decoder>
<decoder name="demo-fields">
  <parent>demo</parent>
  <regex>login failed for (\S+) from (\S+)</regex>
  <order>dstuser, srcip</order>
</decoder>
)";

constexpr const char* kRules = R"(<group name="demo,">
  <rule id="100001" level="10">
    <decoded_as>demo</decoded_as>
    <match>login failed</match>
    <description>demo: $(dstuser) failed from $(srcip)</description>
    <mitre><id>T1110</id></mitre>
    <group>authentication_failed,</group>
  </rule>
</group>
)";

void Append(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::app | std::ios::binary);
  f << text;
}

class LoginspectModuleTest : public ::testing::Test {
 protected:
  LoginspectModuleTest() {
    WriteFile(tmp_.Sub("rules/r.xml"), kRules);
    WriteFile(tmp_.Sub("decoders/d.xml"), kDecoders);
    WriteFile(log_, "");
  }
  ~LoginspectModuleTest() override {
    if (run_.joinable()) {
      run_.request_stop();
      run_.join();
    }
  }
  Status Configure(const std::string& extra = "") {
    std::string yaml = "default_ruleset: false\nrules: [" + tmp_.Sub("rules") + "]\ndecoders: [" +
                       tmp_.Sub("decoders") + "]\nfiles: [" + log_ + "]\npoll_interval: 20ms\n" +
                       extra;
    auto node = ConfigNode::FromYaml(yaml, "policy.yaml");
    if (!node) return node.error();
    return module_->Configure(*node, *node);
  }
  void Start() {
    run_ = std::jthread([this](std::stop_token st) { module_->Run(st); });
    ASSERT_TRUE(sink_.WaitFor(
        [](const ward::Event& e) { return e.GetString("event.action") == "ruleset_loaded"; }));
  }

  TempDir tmp_;
  std::string log_ = tmp_.Sub("demo.log");
  test::RecordingSink sink_;
  RealClock clock_;
  ModuleContext ctx_{sink_, RealFileSystem(), clock_, tmp_.Sub("state")};
  std::unique_ptr<Module> module_ = Create(ctx_);
  std::jthread run_;
};

TEST_F(LoginspectModuleTest, AnAlertCarriesTheRuleTheDecodedFieldsAndTheOriginalLine) {
  ASSERT_TRUE(Configure().ok());
  Start();
  std::string line = "Dec  7 10:00:00 host demo[1]: login failed for b\xffob from 10.1.2.3";
  Append(log_, "Dec  7 10:00:00 host demo[1]: nothing to see\n" + line + "\n");
  auto e = sink_.WaitFor(
      [](const ward::Event& e) { return e.GetString("event.action") == "rule_matched"; });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->Module(), "loginspect");
  EXPECT_EQ(e->GetString("event.kind"), "alert");
  EXPECT_EQ(e->GetString("rule.id"), "100001");
  EXPECT_EQ(e->Get("rule.level"), 10);
  EXPECT_EQ(e->severity(), Severity::kHigh);
  EXPECT_EQ(e->Get("rule.groups"), nlohmann::json({"demo", "authentication_failed"}));
  EXPECT_EQ(e->Get("rule.mitre"), nlohmann::json({"T1110"}));
  EXPECT_EQ(e->GetString("source.ip"), "10.1.2.3");
  EXPECT_EQ(e->GetString("loginspect.decoder"), "demo");
  EXPECT_EQ(e->GetString("log.file.path"), log_);
  EXPECT_EQ(e->Get("log.offset"), 45);
  // Invalid UTF-8 survives: the exact bytes are in event.original_base64.
  EXPECT_TRUE(e->Has("event.original_base64"));
  EXPECT_NE(e->GetString("rule.description").find("failed from 10.1.2.3"), std::string::npos);
  // Only the one line matched.
  size_t alerts = 0;
  for (const auto& ev : sink_.Events()) alerts += ev.GetString("event.action") == "rule_matched";
  EXPECT_EQ(alerts, 1u);
}

TEST_F(LoginspectModuleTest, MalformedXmlIsRefusedWithItsPositionAndThePreviousRulesStay) {
  ASSERT_TRUE(Configure().ok());
  Start();
  WriteFile(tmp_.Sub("rules/r.xml"),
            std::string(kRules) + "<group name=\"x,\">\n  <rule id=\"5\"\n");
  Status s = Configure();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("r.xml:"), std::string::npos) << s.message();
  ASSERT_TRUE(sink_.WaitFor(
      [](const ward::Event& e) { return e.GetString("event.action") == "ruleset_rejected"; }));
  Append(log_, "Dec  7 10:00:00 host demo[1]: login failed for bob from 10.1.2.4\n");
  auto e = sink_.WaitFor([](const ward::Event& e) {
    return e.GetString("event.action") == "rule_matched" && e.GetString("source.ip") == "10.1.2.4";
  });
  EXPECT_TRUE(e);
}

TEST_F(LoginspectModuleTest, AReloadSwapsTheRulesWithoutLosingThePlaceInTheFile) {
  ASSERT_TRUE(Configure().ok());
  Start();
  Append(log_, "Dec  7 10:00:00 host demo[1]: login failed for a from 10.0.0.1\n");
  ASSERT_TRUE(
      sink_.WaitFor([](const ward::Event& e) { return e.GetString("source.ip") == "10.0.0.1"; }));
  std::string rules = kRules;
  rules.replace(rules.find("level=\"10\""), 10, "level=\"4\"");
  WriteFile(tmp_.Sub("rules/r.xml"), rules);
  ASSERT_TRUE(Configure().ok());
  ASSERT_TRUE(sink_.WaitFor(
      [](const ward::Event& e) { return e.GetString("event.action") == "ruleset_reloaded"; }));
  Append(log_, "Dec  7 10:00:01 host demo[1]: login failed for a from 10.0.0.2\n");
  auto e =
      sink_.WaitFor([](const ward::Event& e) { return e.GetString("source.ip") == "10.0.0.2"; });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->Get("rule.level"), 4);
  EXPECT_EQ(e->severity(), Severity::kLow);
  size_t first = 0;
  for (const auto& ev : sink_.Events()) first += ev.GetString("source.ip") == "10.0.0.1";
  EXPECT_EQ(first, 1u);
}

// Waits until the module's health counter `name` reaches `want` (a condition with a deadline).
bool WaitForCounter(const Module& m, const std::string& name, uint64_t want) {
  const auto* h = dynamic_cast<const HealthReporter*>(&m);
  if (h == nullptr) return false;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto c = h->Health().counters;
    if (c.contains(name) && c[name].get<uint64_t>() >= want) return true;
    std::this_thread::sleep_for(5ms);  // polling another thread's counter
  }
  return false;
}

TEST_F(LoginspectModuleTest, ABurstOfOneHundredThousandLinesLosesNothing) {
  ASSERT_TRUE(Configure().ok());
  Start();
  std::string burst;
  for (int i = 0; i < 100000; ++i) {
    burst +=
        i % 10 == 0
            ? fmt::format("Dec  7 10:00:00 host demo[1]: login failed for u{} from 10.9.0.1\n", i)
            : fmt::format("Dec  7 10:00:00 host demo[1]: line {} of the burst\n", i);
  }
  Append(log_, burst);
  ASSERT_TRUE(WaitForCounter(*module_, "lines", 100000));
  ASSERT_TRUE(WaitForCounter(*module_, "alerts", 10000));
  auto health = dynamic_cast<const HealthReporter&>(*module_).Health();
  EXPECT_EQ(health.counters["lines"], 100000u);
  EXPECT_EQ(health.counters["alerts"], 10000u);
  EXPECT_EQ(health.counters["dropped_bytes"], 0u);
  size_t alerts = 0;
  for (const auto& ev : sink_.Events()) alerts += ev.GetString("event.action") == "rule_matched";
  EXPECT_EQ(alerts, 10000u);
}

TEST_F(LoginspectModuleTest, OnlyAConfiguredBacklogBoundDropsAndItIsCountedAndReported) {
  ASSERT_TRUE(Configure("max_backlog: 1M\n").ok());
  std::string big;
  while (big.size() < 3 * 1024 * 1024) {
    big += "Dec  7 10:00:00 host demo[1]: padding padding padding padding padding\n";
  }
  Start();
  // The burst appears at once (a file renamed into place: the module reads the new file from
  // its start), so more than the bound is unread when the module looks.
  WriteFile(tmp_.Sub("big.tmp"), big);
  std::filesystem::rename(tmp_.Sub("big.tmp"), log_);
  auto notice = sink_.WaitFor(
      [](const ward::Event& e) { return e.GetString("event.action") == "source_notice"; }, 30s);
  ASSERT_TRUE(notice);
  EXPECT_NE(notice->GetString("message").find("max_backlog"), std::string::npos);
  ASSERT_TRUE(WaitForCounter(*module_, "dropped_bytes", 1));
}

TEST_F(LoginspectModuleTest, ARuleThatHitsItsRegexLimitIsReportedOnceAndStallsNothing) {
  WriteFile(tmp_.Sub("rules/hostile.xml"), R"(<group name="hostile,">
  <rule id="100050" level="5">
    <regex type="pcre2">^(a+)+$</regex>
    <description>catastrophic backtracking</description>
  </rule>
</group>
)");
  ASSERT_TRUE(Configure().ok());
  Start();
  std::string hostile = "Dec  7 10:00:00 host other: " + std::string(40, 'a') + "!\n";
  Append(log_, hostile + hostile + hostile +
                   "Dec  7 10:00:00 host demo[1]: login failed for z from 10.7.7.7\n");
  // The line after the hostile ones is still evaluated.
  ASSERT_TRUE(sink_.WaitFor(
      [](const ward::Event& e) { return e.GetString("source.ip") == "10.7.7.7"; }, 30s));
  ASSERT_TRUE(sink_.WaitFor(
      [](const ward::Event& e) { return e.GetString("event.action") == "rule_limit_hit"; }, 30s));
  // A fourth hostile line later: still no second report.
  Append(log_, hostile + "Dec  7 10:00:00 host demo[1]: login failed for z from 10.7.7.8\n");
  ASSERT_TRUE(sink_.WaitFor(
      [](const ward::Event& e) { return e.GetString("source.ip") == "10.7.7.8"; }, 30s));
  size_t reports = 0;
  for (const auto& e : sink_.Events()) {
    if (e.GetString("event.action") == "rule_limit_hit") {
      ++reports;
      EXPECT_EQ(e.GetString("rule.id"), "100050");
    }
  }
  EXPECT_EQ(reports, 1u);
}

TEST(SeverityOfLevel, FollowsTheDocumentedBands) {
  EXPECT_EQ(SeverityOfLevel(0), Severity::kInfo);
  EXPECT_EQ(SeverityOfLevel(3), Severity::kInfo);
  EXPECT_EQ(SeverityOfLevel(4), Severity::kLow);
  EXPECT_EQ(SeverityOfLevel(7), Severity::kMedium);
  EXPECT_EQ(SeverityOfLevel(10), Severity::kHigh);
  EXPECT_EQ(SeverityOfLevel(12), Severity::kHigh);
  EXPECT_EQ(SeverityOfLevel(13), Severity::kCritical);
  EXPECT_EQ(SeverityOfLevel(15), Severity::kCritical);
}

}  // namespace
}  // namespace ward::agent::loginspect
