// Reports on a seeded SQLite database whose numbers are known: every figure of the summary and
// every PCI DSS status is checked against them; another tenant's rows never show; hostile host
// names and rule texts come out escaped in HTML and CSV and as plain text in the PDF.
#include "manager/reports/report.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "manager/reports/i18n.h"
#include "manager/reports/pci.h"
#include "manager/reports/render.h"
#include "manager/store/store.h"
#include "testing/shell.h"
#include "testing/temp_dir.h"

namespace ward::manager::reports {
namespace {

using json = nlohmann::json;
using std::chrono::days;
using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::minutes;

// 2026-09-21T00:00:00Z; the period is the week after it.
const TimePoint kT0 = TimePoint(microseconds(1'789'948'800'000'000LL));
const TimePoint kEnd = kT0 + days(7);

constexpr std::string_view kHostileHost = "<script>alert(1)</script>";
constexpr std::string_view kHostileRule = "=HYPERLINK(\"http://evil\",\"x\")";
constexpr std::string_view kHostilePath = "/tmp/<img src=x onerror=alert(2)>.sh";

const json kCompliantPolicy = {
    {"antimalware",
     {{"databases", {"/var/lib/clamav"}},
      {"realtime", {{"paths", {"/srv"}}}},
      {"scheduled", {{"paths", {"/"}}, {"every", "24h"}}}}},
    {"integrity", {{"paths", {"/etc", "/usr"}}, {"schedule", "1d"}}},
    {"ips", {{"mode", "prevent"}}},
    {"firewall", {{"mode", "prevent"}, {"default", {{"inbound", "deny"}}}}},
};
const json kLaxPolicy = {
    {"antimalware",
     {{"databases", {"/var/lib/clamav"}}, {"scheduled", {{"paths", {"/home"}}, {"every", "24h"}}}}},
    {"integrity", {{"paths", {"/var/www"}}, {"schedule", "30d"}}},
    {"ips", {{"mode", "detect"}}},
};

json Running(std::initializer_list<const char*> modules) {
  json list = json::array();
  for (const char* m : modules) {
    list.push_back({{"name", m}, {"state", "running"}, {"health", {{"state", "ok"}}}});
  }
  return {{"modules", list}};
}

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Store::Open("sqlite:" + dir_.Sub("ward.db"));
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(s).value();
    ASSERT_TRUE(store_->Migrate().ok());
    Seed();
  }

  Tenant MakeTenant(const std::string& name) {
    Tenant t;
    t.id = Id("tenant");
    t.name = name;
    t.created_at = kT0 - days(100);
    EXPECT_TRUE(store_->CreateTenant(t).ok());
    return t;
  }
  Policy MakePolicy(const Tenant& t, const std::string& name, const json& doc) {
    Policy p;
    p.id = Id("policy");
    p.tenant_id = t.id;
    p.name = name;
    p.document = doc;
    p.created_at = p.updated_at = kT0 - days(30);
    EXPECT_TRUE(store_->CreatePolicy(p).ok());
    return p;
  }
  Agent MakeAgent(const Tenant& t, std::string_view host, const Policy* policy, bool online,
                  TimePoint last_seen, json status) {
    Agent a;
    a.id = Id("agent");
    a.tenant_id = t.id;
    a.hostname = std::string(host);
    a.machine_id = "m-" + a.id;
    a.version = "0.1.0";
    a.credential_hash = fmt::format("{:064x}", ++next_);
    if (policy != nullptr) a.policy_id = policy->id;
    a.online = online;
    a.last_seen = last_seen;
    a.status = std::move(status);
    a.created_at = kT0 - days(60);
    EXPECT_TRUE(store_->CreateAgent(a).ok()) << host;
    return a;
  }
  // `n` events of the agent at `at` + i minutes.
  void Events(const Agent& a, int n, TimePoint at, const std::string& module,
              const std::string& action, int severity, const std::string& rule = "",
              const std::string& path = "", const std::string& outcome = "") {
    std::vector<StoredEvent> batch;
    for (int i = 0; i < n; ++i) {
      StoredEvent e;
      e.id = Id("event");
      e.tenant_id = a.tenant_id;
      e.agent_id = a.id;
      e.timestamp = at + minutes(i);
      e.module = module;
      e.action = action;
      e.severity = severity;
      e.path = path;
      e.rule = rule;
      e.doc = {{"event", {{"module", module}, {"action", action}, {"severity", severity}}},
               {"host", {{"name", a.hostname}}}};
      if (!rule.empty() && module == "antimalware") e.doc["rule"] = {{"name", rule}};
      if (!outcome.empty()) e.doc["event"]["outcome"] = outcome;
      batch.push_back(std::move(e));
    }
    auto r = store_->InsertEvents(batch);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    ASSERT_EQ(r->accepted, n);
  }
  void Alert(const Agent& a, const std::string& key, int severity, TimePoint at,
             std::optional<AlertState> to = std::nullopt) {
    AlertSignal s;
    s.new_alert_id = Id("alert");
    s.tenant_id = a.tenant_id;
    s.agent_id = a.id;
    s.event_id = Id("alert-event");
    s.timestamp = at;
    s.rule_key = key;
    s.module = "ips";
    s.title = key;
    s.severity = severity;
    auto r = store_->RecordAlertSignals({s}, std::chrono::seconds(600));
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    if (to) {
      AlertTransition t;
      t.to = *to;
      t.actor = "user:auditor";
      t.at = at + hours(1);
      auto changed = store_->TransitionAlerts(a.tenant_id, {s.new_alert_id}, t);
      ASSERT_TRUE(changed.has_value()) << changed.error().ToString();
    }
  }

  void Seed() {
    acme_ = MakeTenant("acme");
    Policy compliant = MakePolicy(acme_, "compliant", kCompliantPolicy);
    Policy lax = MakePolicy(acme_, "lax", kLaxPolicy);
    json web2_status = Running({"antimalware", "ips"});
    web2_status["modules"].push_back(
        {{"name", "integrity"},
         {"state", "running"},
         {"health", {{"state", "degraded"}, {"reasons", {"baseline lost"}}}}});
    web1_ = MakeAgent(acme_, "web1", &compliant, true, kEnd - minutes(1),
                      Running({"antimalware", "integrity", "ips", "firewall"}));
    web2_ = MakeAgent(acme_, kHostileHost, &lax, true, kEnd - minutes(2), web2_status);
    db1_ = MakeAgent(acme_, "db1", nullptr, false, kT0 - days(10), json::object());

    // web1: 13 blocked requests, signatures loaded 2 days before the end, a scan, 2 quarantined.
    Events(web1_, 13, kT0 + days(1), "ips", "blocked", 3, "942100");
    Events(web1_, 1, kEnd - days(2), "antimalware", "database_loaded", 0);
    Events(web1_, 1, kT0 + days(3), "antimalware", "scan_finished", 0);
    Events(web1_, 2, kT0 + days(4), "antimalware", "quarantine", 3, "Eicar-Test-Signature",
           "/srv/www/upload/x.php", "success");
    // web2: 5 detections of a hostile rule text, 1 deleted file with a hostile name, 4 changes,
    // 3 heals and 1 persistent tampering; no signature load, no scan.
    Events(web2_, 5, kT0 + days(2), "ips", "detected", 2, std::string(kHostileRule));
    Events(web2_, 1, kT0 + days(5), "antimalware", "delete", 3, "Win.Trojan.Agent",
           std::string(kHostilePath), "success");
    Events(web2_, 4, kT0 + days(5), "integrity", "modified", 2, "", "/var/www/index.html");
    Events(web2_, 3, kT0 + days(5) + hours(1), "autoheal", "restored", 2, "",
           "/var/www/index.html");
    Events(web2_, 1, kT0 + days(5) + hours(2), "autoheal", "persistent_tampering", 4);
    // db1: only before the period (not counted).
    Events(db1_, 7, kT0 - hours(1), "integrity", "modified", 2, "", "/etc/passwd");
    // Alerts: one reviewed, one still open, one too recent to count.
    Alert(web1_, "ips.blocked:942100", 3, kT0 + days(1), AlertState::kResolved);
    Alert(web2_, "antimalware.delete", 3, kT0 + days(5));
    Alert(web2_, "autoheal.persistent", 4, kEnd - hours(2));

    // Another tenant with more of everything: none of it may show in acme's reports.
    other_ = MakeTenant("other");
    Policy other_policy = MakePolicy(other_, "other-policy", kCompliantPolicy);
    Agent secret = MakeAgent(other_, "b-secret-host", &other_policy, true, kEnd - minutes(1),
                             Running({"antimalware"}));
    Events(secret, 50, kT0 + days(1), "ips", "blocked", 4, "999999");
    Events(secret, 3, kT0 + days(1), "antimalware", "quarantine", 3, "B-Malware", "/b/secret",
           "success");
  }

  ReportData Build(ReportKind kind, Language lang = Language::kEn, const Tenant* t = nullptr) {
    ReportRequest req;
    req.kind = kind;
    req.from = kT0;
    req.to = kEnd;
    req.language = lang;
    auto d = BuildReport(*store_, t ? *t : acme_, req, kEnd + minutes(5));
    EXPECT_TRUE(d.has_value()) << d.error().ToString();
    return d.has_value() ? *d : ReportData{};
  }

  std::string Id(std::string_view prefix) { return fmt::format("{}-{:08d}", prefix, ++next_); }

  test::TempDir dir_;
  std::unique_ptr<Store> store_;
  int next_ = 0;
  Tenant acme_, other_;
  Agent web1_, web2_, db1_;
};

const ModuleSeverityCount* ModuleRow(const SummaryData& s, std::string_view module) {
  for (const auto& m : s.by_module) {
    if (m.module == module) return &m;
  }
  return nullptr;
}

int64_t CountOf(const std::vector<NamedCount>& v, std::string_view name) {
  for (const auto& c : v) {
    if (c.name == name) return c.count;
  }
  return -1;
}

TEST_F(ReportTest, SummaryCountsMatchTheSeededEvents) {
  ReportData d = Build(ReportKind::kSummary);
  const SummaryData& s = d.summary;
  EXPECT_EQ(s.total_events, 31);
  ASSERT_EQ(s.by_module.size(), 4u);
  EXPECT_EQ(s.by_module[0].module, "ips");  // most events first
  const auto* ips = ModuleRow(s, "ips");
  ASSERT_NE(ips, nullptr);
  EXPECT_EQ(ips->total, 18);
  EXPECT_EQ(ips->by_severity[2], 5);
  EXPECT_EQ(ips->by_severity[3], 13);
  const auto* am = ModuleRow(s, "antimalware");
  ASSERT_NE(am, nullptr);
  EXPECT_EQ(am->by_severity[0], 2);
  EXPECT_EQ(am->by_severity[3], 3);
  EXPECT_EQ(ModuleRow(s, "integrity")->total, 4);  // db1's 7 are before the period
  EXPECT_EQ(ModuleRow(s, "autoheal")->by_severity[4], 1);

  ASSERT_EQ(s.per_day.size(), 7u);
  EXPECT_EQ(s.per_day[1].by_severity[3], 13);  // day 2: web1's blocked requests
  EXPECT_EQ(s.per_day[5].by_severity[2], 7);   // day 6: 4 changes + 3 heals
  int64_t per_day_total = 0;
  for (const auto& day : s.per_day) {
    for (auto c : day.by_severity) per_day_total += c;
  }
  EXPECT_EQ(per_day_total, 31);

  ASSERT_EQ(s.top_hosts.size(), 2u);
  EXPECT_EQ(s.top_hosts[0].name, "web1");
  EXPECT_EQ(s.top_hosts[0].count, 15);  // 13 blocked + 2 quarantined
  EXPECT_EQ(s.top_hosts[1].name, kHostileHost);
  EXPECT_EQ(s.top_hosts[1].count, 14);
  ASSERT_GE(s.top_rules.size(), 3u);
  EXPECT_EQ(s.top_rules[0].name, "942100");
  EXPECT_EQ(s.top_rules[0].count, 13);
  EXPECT_EQ(CountOf(s.top_rules, kHostileRule), 5);
  EXPECT_EQ(CountOf(s.top_rules, "Eicar-Test-Signature"), 2);

  EXPECT_EQ(s.malware_total, 3);
  EXPECT_EQ(CountOf(s.malware_by_action, "quarantine"), 2);
  EXPECT_EQ(CountOf(s.malware_by_action, "delete"), 1);
  ASSERT_EQ(s.malware.size(), 3u);
  EXPECT_EQ(s.malware[0].host, kHostileHost);  // newest first
  EXPECT_EQ(s.malware[0].path, kHostilePath);
  EXPECT_EQ(s.malware[0].signature, "Win.Trojan.Agent");
  EXPECT_EQ(s.malware[0].action, "delete");
  EXPECT_EQ(s.malware[0].outcome, "success");

  EXPECT_EQ(s.tampering, 4);
  EXPECT_EQ(s.heals, 3);
  EXPECT_EQ(s.persistent_tampering, 1);

  ASSERT_EQ(s.agents.size(), 3u);
  EXPECT_EQ(s.agents_online, 2);
  EXPECT_EQ(s.coverage.at("antimalware"), 2);
  EXPECT_EQ(s.coverage.at("firewall"), 1);
  auto web2 = std::find_if(s.agents.begin(), s.agents.end(),
                           [](const AgentRow& a) { return a.host == kHostileHost; });
  ASSERT_NE(web2, s.agents.end());
  EXPECT_EQ(web2->health, "degraded");
  EXPECT_EQ(web2->problems, std::vector<std::string>{"integrity: baseline lost"});
  EXPECT_EQ(web2->policy, "lax");
}

TEST_F(ReportTest, PciStatusesAndFailingHostsFollowPoliciesAndEvidence) {
  ReportData d = Build(ReportKind::kPciDss);
  ASSERT_EQ(d.pci.size(), 5u);
  std::map<std::string, const PciRequirement*> by_id;
  for (const auto& r : d.pci) by_id[r.id] = &r;

  const auto& am = *by_id.at("5.2-5.3");
  EXPECT_EQ(am.status, PciStatus::kPartlyMet);
  EXPECT_EQ(am.hosts_in_scope, 3);
  EXPECT_EQ(am.hosts_passing, 1);  // web1
  ASSERT_EQ(am.failures.size(), 2u);
  EXPECT_EQ(am.failures[0].host, kHostileHost);  // '<' sorts before 'd'
  EXPECT_EQ(am.failures[0].reasons, (std::vector<Note>{{"reason.no_scan_finished", "1d"},
                                                       {"reason.signatures_not_current", "7d"}}));
  EXPECT_EQ(am.failures[1].host, "db1");
  EXPECT_EQ(am.failures[1].reasons[0], (Note{"reason.no_policy", ""}));
  EXPECT_EQ(am.failures[1].reasons[1], (Note{"reason.antimalware_disabled", ""}));
  EXPECT_EQ(am.failures[1].reasons[2].key, "reason.not_seen_in_period");

  const auto& fim = *by_id.at("11.5.2");
  EXPECT_EQ(fim.status, PciStatus::kPartlyMet);
  EXPECT_EQ(fim.failures[0].reasons,
            (std::vector<Note>{{"reason.critical_paths_not_watched", "/etc, /usr/bin, /usr/sbin"},
                               {"reason.integrity_schedule_too_long", "30d"}}));

  const auto& waf = *by_id.at("6.4.2");
  EXPECT_EQ(waf.hosts_in_scope, 2);  // db1 serves no web content
  EXPECT_EQ(waf.status, PciStatus::kPartlyMet);
  ASSERT_EQ(waf.failures.size(), 1u);
  EXPECT_EQ(waf.failures[0].reasons, (std::vector<Note>{{"reason.waf_detect_mode", ""}}));

  const auto& logs = *by_id.at("10.x");
  EXPECT_EQ(logs.status, PciStatus::kPartlyMet);  // 91 days kept, an alert unreviewed, db1 silent
  EXPECT_NE(std::find(logs.evidence.begin(), logs.evidence.end(),
                      Note{"finding.retention_under_year", "91"}),
            logs.evidence.end());
  EXPECT_NE(std::find(logs.evidence.begin(), logs.evidence.end(),
                      Note{"evidence.alerts_reviewed", "1/2"}),
            logs.evidence.end());
  EXPECT_NE(
      std::find(logs.evidence.begin(), logs.evidence.end(), Note{"finding.alerts_unreviewed", "1"}),
      logs.evidence.end());
  ASSERT_EQ(logs.failures.size(), 1u);
  EXPECT_EQ(logs.failures[0].host, "db1");

  const auto& fw = *by_id.at("1.x");
  EXPECT_EQ(fw.status, PciStatus::kPartlyMet);
  EXPECT_EQ(fw.hosts_passing, 1);
  EXPECT_EQ(fw.failures[0].reasons, (std::vector<Note>{{"reason.firewall_disabled", ""}}));
}

TEST_F(ReportTest, AnotherTenantsRowsNeverShow) {
  for (auto kind : {ReportKind::kSummary, ReportKind::kPciDss}) {
    ReportData d = Build(kind);
    for (auto format : {ReportFormat::kHtml, ReportFormat::kCsv}) {
      auto out = Render(d, format);
      ASSERT_TRUE(out.has_value());
      EXPECT_EQ(out->find("b-secret-host"), std::string::npos);
      EXPECT_EQ(out->find("999999"), std::string::npos);
      EXPECT_EQ(out->find("B-Malware"), std::string::npos);
      EXPECT_EQ(out->find("other-policy"), std::string::npos);
    }
  }
  // And the other tenant sees only its own.
  ReportData other = Build(ReportKind::kSummary, Language::kEn, &other_);
  EXPECT_EQ(other.summary.total_events, 53);
  EXPECT_EQ(other.summary.malware_total, 3);
  ASSERT_EQ(other.summary.agents.size(), 1u);
  EXPECT_EQ(other.summary.agents[0].host, "b-secret-host");
}

TEST_F(ReportTest, HtmlEscapesHostileValues) {
  for (auto kind : {ReportKind::kSummary, ReportKind::kPciDss}) {
    std::string html = RenderHtml(Build(kind));
    EXPECT_EQ(html.find("<script>"), std::string::npos);
    EXPECT_EQ(html.find("<img"), std::string::npos);
    EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  }
  std::string html = RenderHtml(Build(ReportKind::kSummary));
  EXPECT_NE(html.find("/tmp/&lt;img src=x onerror=alert(2)&gt;.sh"), std::string::npos);
  EXPECT_NE(html.find("=HYPERLINK(&quot;http://evil&quot;,&quot;x&quot;)"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"n\">13</td>"), std::string::npos);  // 942100's count
}

TEST_F(ReportTest, CsvQuotesAndDefusesHostileValues) {
  std::string csv = RenderCsv(Build(ReportKind::kSummary));
  EXPECT_EQ(csv.substr(0, 3), "\xEF\xBB\xBF");
  // The rule text starts with '=': quoted, quotes doubled, a leading ' so no formula runs.
  EXPECT_NE(csv.find("\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",5\r\n"), std::string::npos);
  EXPECT_EQ(csv.find("\r\n=HYPERLINK"), std::string::npos);
  EXPECT_EQ(csv.find(",=HYPERLINK"), std::string::npos);
  EXPECT_NE(csv.find("942100,13\r\n"), std::string::npos);
  EXPECT_NE(csv.find("web1,15\r\n"), std::string::npos);
}

// The PDF's text, as poppler reads it.
std::string PdfText(const std::string& pdf, const test::TempDir& dir) {
  std::string path = dir.Sub("report.pdf");
  test::WriteFile(path, pdf);
  return test::ShOrFail("pdftotext -enc UTF-8 " + test::ShellQuote(path) + " -");
}

TEST_F(ReportTest, PdfCarriesTheNumbersAndHostileTextAsPlainText) {
  auto pdf = RenderPdf(Build(ReportKind::kSummary));
  ASSERT_TRUE(pdf.has_value()) << pdf.error().ToString();
  EXPECT_EQ(pdf->substr(0, 5), "%PDF-");
  std::string text = PdfText(*pdf, dir_);
  EXPECT_NE(text.find("Security summary"), std::string::npos) << text;
  EXPECT_NE(text.find("Events in the period: 31"), std::string::npos) << text;
  EXPECT_NE(text.find(kHostileHost), std::string::npos) << text;  // not taken as markup
  EXPECT_NE(text.find("942100"), std::string::npos);
  EXPECT_EQ(text.find("b-secret-host"), std::string::npos);
}

TEST_F(ReportTest, JapanesePdfHasJapaneseText) {
  auto pdf = RenderPdf(Build(ReportKind::kPciDss, Language::kJa));
  ASSERT_TRUE(pdf.has_value()) << pdf.error().ToString();
  std::string text = PdfText(*pdf, dir_);
  EXPECT_NE(text.find("PCI DSS v4.0 準拠レポート"), std::string::npos) << text;
  EXPECT_NE(text.find("一部適合"), std::string::npos) << text;
  EXPECT_NE(text.find("ポリシーが割り当てられていない"), std::string::npos) << text;
  std::string html = RenderHtml(Build(ReportKind::kPciDss, Language::kJa));
  EXPECT_NE(html.find("<html lang=\"ja\">"), std::string::npos);
  EXPECT_NE(html.find("一部適合"), std::string::npos);
}

TEST_F(ReportTest, ThePeriodMustBeOrderedAndAtMost400Days) {
  ReportRequest req;
  req.from = kEnd;
  req.to = kT0;
  EXPECT_EQ(BuildReport(*store_, acme_, req, kEnd).error().code(), StatusCode::kInvalidArgument);
  req.from = kT0 - days(401);
  req.to = kT0;
  EXPECT_EQ(BuildReport(*store_, acme_, req, kEnd).error().code(), StatusCode::kInvalidArgument);
}

// WARD_REPORT_SAMPLES=DIR writes the seeded reports there (docs/reports.md's pictures come from
// them through pdftoppm); without it the test only checks that every one renders.
TEST_F(ReportTest, EveryKindFormatAndLanguageRenders) {
  const char* samples = std::getenv("WARD_REPORT_SAMPLES");
  for (auto kind : {ReportKind::kSummary, ReportKind::kPciDss}) {
    for (auto lang : {Language::kEn, Language::kJa}) {
      ReportData d = Build(kind, lang);
      for (auto format : {ReportFormat::kHtml, ReportFormat::kCsv, ReportFormat::kPdf}) {
        auto out = Render(d, format);
        ASSERT_TRUE(out.has_value()) << out.error().ToString();
        EXPECT_GT(out->size(), 500u);
        if (samples != nullptr) {
          test::WriteFile(fmt::format("{}/{}-{}{}", samples, KindName(kind), LanguageName(lang),
                                      FileSuffix(format)),
                          *out);
        }
      }
    }
  }
}

TEST(ReportMessages, EveryKeyTheReportsUseHasBothLanguages) {
  for (auto key : AllKeys()) {
    EXPECT_NE(Text(Language::kEn, key), key);
    EXPECT_NE(Text(Language::kJa, key), key);
    EXPECT_NE(Text(Language::kEn, key), Text(Language::kJa, key)) << key;
  }
}

TEST(Pci, EveryRequirementIsNotMetWithoutAgentsAndTheWafIsNotApplicable) {
  PciInputs in;
  in.from = kT0;
  in.to = kEnd;
  in.retention_days = 400;
  auto reqs = EvaluatePci(in);
  ASSERT_EQ(reqs.size(), 5u);
  for (const auto& r : reqs) {
    EXPECT_EQ(r.status, r.id == "6.4.2" ? PciStatus::kNotApplicable : PciStatus::kNotMet) << r.id;
  }
}

TEST(Pci, ACompliantFleetMeetsEveryRequirement) {
  PciInputs in;
  in.from = kT0;
  in.to = kEnd;
  in.retention_days = 400;
  Policy p;
  p.id = "p";
  p.document = kCompliantPolicy;
  in.policies["p"] = p;
  for (int i = 0; i < 3; ++i) {
    Agent a;
    a.id = fmt::format("a{}", i);
    a.hostname = a.id;
    a.policy_id = "p";
    a.online = true;
    a.last_seen = kEnd - minutes(1);
    in.agents.push_back(a);
    in.signature_loads[a.id] = 1;
  }
  in.severe_alerts = 4;
  for (const auto& r : EvaluatePci(in)) {
    EXPECT_EQ(r.status, PciStatus::kMet) << r.id;
    EXPECT_TRUE(r.failures.empty()) << r.id;
  }
}

TEST(Pci, PolicyDurations) {
  EXPECT_EQ(ParsePolicyDuration("24h"), std::chrono::seconds(86400));
  EXPECT_EQ(ParsePolicyDuration("2w"), std::chrono::seconds(14 * 86400));
  EXPECT_EQ(ParsePolicyDuration(90), std::chrono::seconds(90));
  EXPECT_EQ(ParsePolicyDuration("1500ms"), std::chrono::seconds(1));
  EXPECT_EQ(ParsePolicyDuration("soon"), std::nullopt);
  EXPECT_EQ(ParsePolicyDuration(-1), std::nullopt);
}

}  // namespace
}  // namespace ward::manager::reports
