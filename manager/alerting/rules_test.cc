#include "manager/alerting/rules.h"

#include <gtest/gtest.h>

namespace ward::manager::alerting {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

StoredEvent Ev(std::string module, std::string action, int severity, json doc = json::object()) {
  StoredEvent e;
  static int n = 0;
  e.id = "ev-" + std::to_string(++n);
  e.tenant_id = "t1";
  e.agent_id = "a1";
  e.timestamp = TimePoint(1'800'000'000s);
  e.module = std::move(module);
  e.action = std::move(action);
  e.severity = severity;
  e.doc = std::move(doc);
  return e;
}

std::function<std::string()> Ids() {
  return [n = 0]() mutable { return "sig-" + std::to_string(++n); };
}

AlertChannel Chan(std::string id) {
  AlertChannel c;
  c.id = std::move(id);
  c.tenant_id = "t1";
  c.name = c.id;
  c.kind = "webhook";
  return c;
}

AlertRule Rule(std::string id) {
  AlertRule r;
  r.id = std::move(id);
  r.tenant_id = "t1";
  r.name = r.id;
  return r;
}

RuleSpec Parse(const json& doc) {
  RuleSpec s;
  auto e = ParseRuleSpec(doc, false, s);
  EXPECT_FALSE(e) << e->message;
  return s;
}

TEST(AlertRuleSpec, ErrorsNameTheField) {
  RuleSpec s;
  auto e = ParseRuleSpec({{"filter", {{"modules", {"ips", 3}}}}}, false, s);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field, "filter.modules[1]");
  e = ParseRuleSpec({{"filter", {{"severity", 3}}}}, false, s);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field, "filter.severity");
  e = ParseRuleSpec({{"window_s", 0}}, false, s);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field, "window_s");
  e = ParseRuleSpec({{"throttle", {{"max_alerts", -1}}}}, false, s);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field, "throttle.max_alerts");
  e = ParseRuleSpec({{"filter", {{"min_severity", 5}}}}, false, s);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message, "filter.min_severity: expected 0..4");
  // A built-in default's filter is fixed.
  e = ParseRuleSpec({{"filter", json::object()}}, true, s);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field, "filter");
}

TEST(AlertRuleSpec, RoundTripsThroughItsJson) {
  json doc = {{"filter",
               {{"modules", {"ips"}},
                {"actions", {"blocked"}},
                {"min_severity", 2},
                {"rule_ids", {"942100"}},
                {"agents", {"a1"}},
                {"hostnames", {"web-*"}},
                {"paths", {"/admin*"}},
                {"groups", json::array()}}},
              {"window_s", 600},
              {"throttle", {{"max_alerts", 3}, {"period_s", 60}}},
              {"channels", {"c1"}}};
  RuleSpec s = Parse(doc);
  EXPECT_EQ(SpecJson(s), doc);
}

TEST(AlertGlob, MatchesStarsAndQuestionMarksWithoutBacktrackingBlowUp) {
  EXPECT_TRUE(GlobMatch("web-*", "web-01"));
  EXPECT_TRUE(GlobMatch("*/wp-admin/*", "/blog/wp-admin/x.php"));
  EXPECT_TRUE(GlobMatch("db-??", "db-07"));
  EXPECT_FALSE(GlobMatch("db-??", "db-7"));
  EXPECT_FALSE(GlobMatch("web-*", "db-01"));
  EXPECT_TRUE(GlobMatch("*", ""));
  std::string many(64, '*');
  many += "b";
  EXPECT_FALSE(GlobMatch(many, std::string(5000, 'a')));
}

TEST(AlertRuleFilter, EveryCriterionNarrows) {
  RuleSpec s = Parse({{"filter",
                       {{"modules", {"ips"}},
                        {"min_severity", 3},
                        {"actions", {"blocked"}},
                        {"rule_ids", {"942100"}},
                        {"hostnames", {"web-*"}},
                        {"paths", {"/login*"}}}}});
  auto doc_of = [](const StoredEvent& e) { return [&e]() -> const json& { return e.doc; }; };
  StoredEvent hit = Ev("ips", "blocked", 3, {{"rule", {{"id", {"942100", "949110"}}}}});
  hit.path = "/login.php";
  EXPECT_TRUE(Matches(s.filter, hit, "web-01", doc_of(hit)));
  EXPECT_FALSE(Matches(s.filter, hit, "db-01", doc_of(hit)));  // host
  StoredEvent low = hit;
  low.severity = 2;
  EXPECT_FALSE(Matches(s.filter, low, "web-01", doc_of(low)));
  StoredEvent other_rule = hit;
  other_rule.doc = {{"rule", {{"id", "920350"}}}};
  EXPECT_FALSE(Matches(s.filter, other_rule, "web-01", doc_of(other_rule)));
  StoredEvent other_path = hit;
  other_path.path = "/index.php";
  EXPECT_FALSE(Matches(s.filter, other_path, "web-01", doc_of(other_path)));
  StoredEvent detected = hit;
  detected.action = "detected";
  EXPECT_FALSE(Matches(s.filter, detected, "web-01", doc_of(detected)));
}

TEST(AlertRuleFilter, ParsesTheDocumentOnlyWhenAColumnTestPassed) {
  RuleSpec s = Parse({{"filter", {{"modules", {"loginspect"}}, {"groups", {"brute_force"}}}}});
  int parses = 0;
  json doc = {{"rule", {{"groups", {"authentication_failures", "brute_force"}}}}};
  auto lazy = [&]() -> const json& {
    ++parses;
    return doc;
  };
  EXPECT_FALSE(Matches(s.filter, Ev("ips", "blocked", 3), "h", lazy));
  EXPECT_EQ(parses, 0);
  EXPECT_TRUE(Matches(s.filter, Ev("loginspect", "rule_matched", 3), "h", lazy));
  EXPECT_EQ(parses, 1);
}

TEST(AlertRules, DefaultsKeepTheBuiltInAlertsAndAddAgentOffline) {
  TenantRules rules = CompileTenantRules({}, {});
  ASSERT_EQ(rules.builtin.size(), BuiltinDefaults().size());
  EXPECT_TRUE(rules.custom.empty());
  std::vector<StoredEvent> events = {
      Ev("ips", "blocked", 3),
      Ev("ips", "detected", 2),  // detect mode: the tuning workflow, not an alert
      Ev("autoheal", "restored", 2),
      Ev("antimalware", "quarantine", 3),
      Ev("manager", "agent_offline", 2),
      Ev("integrity", "changed", 1),
      Ev("loginspect", "rule_matched", 3, {{"rule", {{"groups", {"brute_force"}}}}}),
  };
  auto signals = SignalsFor(events, "web-01", rules, Ids(), TimePoint(1'800'000'100s));
  ASSERT_EQ(signals.size(), 5u);
  std::vector<std::string> by;
  for (const auto& s : signals) {
    EXPECT_EQ(s.source, "builtin");
    EXPECT_EQ(s.window, 0s);  // the manager's alert window
    EXPECT_TRUE(s.notify.empty());
    by.push_back(s.rule_id);
  }
  EXPECT_EQ(by, (std::vector<std::string>{"builtin.ips_block", "builtin.tampering_healed",
                                          "builtin.malware_found", "builtin.agent_offline",
                                          "builtin.brute_force"}));
}

TEST(AlertRules, OverridesAndOwnRulesNotifyTheirEnabledChannels) {
  AlertChannel on = Chan("c-on");
  AlertChannel off = Chan("c-off");
  off.enabled = false;
  AlertRule malware = Rule("builtin.malware_found");
  malware.spec = {{"channels", {"c-on", "c-off", "c-gone"}}, {"window_s", 60}};
  AlertRule heal = Rule("builtin.tampering_healed");
  heal.enabled = false;
  AlertRule own = Rule("r-web");
  own.spec = {{"filter", {{"modules", {"ips"}}, {"hostnames", {"web-*"}}}},
              {"window_s", 300},
              {"throttle", {{"max_alerts", 2}, {"period_s", 3600}}},
              {"channels", {"c-on"}}};
  TenantRules rules = CompileTenantRules({malware, heal, own}, {on, off});
  const TimePoint now(1'800'000'100s);
  auto signals = SignalsFor(
      {Ev("antimalware", "delete", 3), Ev("autoheal", "restored", 2), Ev("ips", "blocked", 3)},
      "web-07", rules, Ids(), now);
  ASSERT_EQ(signals.size(), 3u);
  EXPECT_EQ(signals[0].rule_id, "builtin.malware_found");
  EXPECT_EQ(signals[0].notify, std::vector<std::string>{"c-on"});
  EXPECT_EQ(signals[0].window, 60s);
  // autoheal restored: its default is off, so no built-in alert (severity 2 < severe).
  EXPECT_EQ(signals[1].source, "builtin");
  EXPECT_EQ(signals[1].rule_id, "builtin.ips_block");
  EXPECT_EQ(signals[2].source, "r-web");
  EXPECT_EQ(signals[2].rule_id, "r-web");
  EXPECT_EQ(signals[2].window, 300s);
  EXPECT_EQ(signals[2].throttle_max, 2);
  EXPECT_EQ(signals[2].noticed_at, now);
  EXPECT_EQ(signals[2].rule_key, "ips.blocked");
  // Another host: the own rule does not match.
  EXPECT_EQ(SignalsFor({Ev("ips", "blocked", 3)}, "db-01", rules, Ids(), now).size(), 1u);
}

}  // namespace
}  // namespace ward::manager::alerting
