// /api/v1/reports and /api/v1/report-schedules over real HTTPS (tests/manager_harness.h): a
// report made now is kept and downloaded with the numbers of the tenant's events, escaped; other
// tenants get 404; schedules are validated, run by the reports job once per period, and kept.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "manager/reports/schedules.h"
#include "tests/manager_harness.h"

namespace ward::test {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;

constexpr std::string_view kHostile = "<b>web&1</b>";

class ReportsApi : public ::testing::Test {
 protected:
  void SetUp() override {
    std::tie(tenant_, admin_) = m_.NewTenant("acme");
    std::tie(other_tenant_, other_admin_) = m_.NewTenant("other");
    auto [agent_id, credential] = m_.NewAgent(admin_, std::string(kHostile));
    agent_id_ = agent_id;
    // 6 blocked requests of rule 942100 yesterday.
    std::vector<manager::StoredEvent> batch;
    for (int i = 0; i < 6; ++i) {
      manager::StoredEvent e;
      e.id = fmt::format("ev-{}", i);
      e.tenant_id = tenant_;
      e.agent_id = agent_id_;
      e.timestamp = m_.clock().Now() - days(1) + minutes(i);
      e.module = "ips";
      e.action = "blocked";
      e.severity = 3;
      e.rule = "942100";
      e.doc = {{"event", {{"module", "ips"}, {"action", "blocked"}, {"severity", 3}}}};
      batch.push_back(e);
    }
    auto r = m_.store().InsertEvents(batch);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
  }

  ManagerHarness m_;
  std::string tenant_, admin_, other_tenant_, other_admin_, agent_id_;
};

TEST_F(ReportsApi, AReportMadeNowIsKeptAndDownloadedWithTheTenantsNumbers) {
  Reply made = m_.Post("/api/v1/reports", admin_,
                       {{"kind", "summary"}, {"format", "html"}, {"language", "en"}});
  ASSERT_EQ(made.status, 201) << made.raw;
  EXPECT_EQ(made.body["kind"], "summary");
  EXPECT_EQ(made.body["format"], "html");
  EXPECT_GT(made.body["size"].get<int64_t>(), 0);
  std::string id = made.body["id"];
  EXPECT_EQ(made.body["download"], "/api/v1/reports/" + id + "/download");

  Answer html = Send(m_, "GET", "/api/v1/reports/" + id + "/download",
                     {{"Authorization", "Bearer " + admin_}});
  ASSERT_EQ(html.status, 200);
  EXPECT_EQ(html.Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(html.Header("Content-Disposition").find("attachment"), std::string::npos);
  EXPECT_NE(html.raw.find("Events in the period: 6"), std::string::npos) << html.raw;
  EXPECT_NE(html.raw.find("&lt;b&gt;web&amp;1&lt;/b&gt;"), std::string::npos);
  EXPECT_EQ(html.raw.find(kHostile), std::string::npos);

  Reply pdf = m_.Post("/api/v1/reports", admin_, {{"kind", "pci_dss"}, {"language", "ja"}});
  ASSERT_EQ(pdf.status, 201) << pdf.raw;
  EXPECT_EQ(pdf.body["format"], "pdf");  // the default
  Answer bytes =
      Send(m_, "GET", "/api/v1/reports/" + pdf.body["id"].get<std::string>() + "/download",
           {{"Authorization", "Bearer " + admin_}});
  ASSERT_EQ(bytes.status, 200);
  EXPECT_EQ(bytes.Header("Content-Type"), "application/pdf");
  EXPECT_EQ(bytes.raw.substr(0, 5), "%PDF-");

  Reply list = m_.Get("/api/v1/reports", admin_);
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["items"].size(), 2u);
  EXPECT_EQ(list.body["items"][0]["kind"], "pci_dss");  // newest first

  // Another tenant sees none of it.
  EXPECT_EQ(m_.Get("/api/v1/reports/" + id, other_admin_).status, 404);
  EXPECT_EQ(m_.Get("/api/v1/reports/" + id + "/download", other_admin_).status, 404);
  EXPECT_EQ(m_.Delete("/api/v1/reports/" + id, other_admin_).status, 404);
  EXPECT_TRUE(m_.Get("/api/v1/reports", other_admin_).body["items"].empty());
  // Its own report counts none of acme's events.
  Reply own = m_.Post("/api/v1/reports", other_admin_, {{"kind", "summary"}, {"format", "csv"}});
  ASSERT_EQ(own.status, 201);
  Answer csv = Send(m_, "GET", "/api/v1/reports/" + own.body["id"].get<std::string>() + "/download",
                    {{"Authorization", "Bearer " + other_admin_}});
  EXPECT_NE(csv.raw.find("Events in the period: 0"), std::string::npos) << csv.raw;
  EXPECT_EQ(csv.raw.find("942100"), std::string::npos);

  EXPECT_EQ(m_.Delete("/api/v1/reports/" + id, admin_).status, 204);
  EXPECT_EQ(m_.Get("/api/v1/reports/" + id, admin_).status, 404);
}

TEST_F(ReportsApi, BadRequestsNameTheField) {
  Reply r = m_.Post("/api/v1/reports", admin_, {{"kind", "weekly"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["field"], "kind");
  r = m_.Post("/api/v1/reports", admin_, {{"kind", "summary"}, {"format", "docx"}});
  EXPECT_EQ(r.body["error"]["field"], "format");
  r = m_.Post(
      "/api/v1/reports", admin_,
      {{"kind", "summary"}, {"from", "2027-01-10T00:00:00Z"}, {"to", "2027-01-01T00:00:00Z"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["field"], "to");
  r = m_.Post("/api/v1/report-schedules", admin_,
              {{"name", "weekly"},
               {"frequency", "weekly"},
               {"kind", "summary"},
               {"recipients", {"soc@example.com", "a@b\r\nBcc: x@evil.example"}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["field"], "recipients[1]");
  r = m_.Post("/api/v1/report-schedules", admin_,
              {{"name", "hourly"}, {"frequency", "hourly"}, {"kind", "summary"}});
  EXPECT_EQ(r.body["error"]["field"], "frequency");
}

TEST_F(ReportsApi, AuditorsMakeReportsButOnlyWritersChangeSchedules) {
  std::string auditor = m_.NewKey(admin_, "auditor");
  EXPECT_EQ(m_.Post("/api/v1/reports", auditor, {{"kind", "summary"}}).status, 201);
  EXPECT_EQ(m_.Post("/api/v1/report-schedules", auditor,
                    {{"name", "w"}, {"frequency", "weekly"}, {"kind", "summary"}})
                .status,
            403);
}

TEST_F(ReportsApi, ASchedulesReportIsMadeOncePerPeriodByTheJob) {
  Reply s = m_.Post("/api/v1/report-schedules", admin_,
                    {{"name", "weekly PCI"},
                     {"frequency", "weekly"},
                     {"kind", "pci_dss"},
                     {"format", "html"},
                     {"recipients", {"soc@example.com"}}});
  ASSERT_EQ(s.status, 201) << s.raw;
  std::string id = s.body["id"];
  // The next Monday 00:00 UTC after now.
  auto next = manager::ParseTimestamp(s.body["next_run_at"].get<std::string>());
  ASSERT_TRUE(next.has_value());
  EXPECT_GT(*next, m_.clock().Now());
  EXPECT_LE(*next, m_.clock().Now() + days(7));
  EXPECT_EQ(std::chrono::weekday(std::chrono::floor<days>(*next)), std::chrono::Monday);
  EXPECT_EQ(*next, std::chrono::floor<days>(*next));
  EXPECT_EQ(m_.Post("/api/v1/report-schedules", admin_,
                    {{"name", "weekly PCI"}, {"frequency", "daily"}, {"kind", "summary"}})
                .status,
            409);
  EXPECT_EQ(m_.Get("/api/v1/report-schedules/" + id, other_admin_).status, 404);

  auto run = manager::reports::RunReportSchedules(m_.store(), m_.clock(), nullptr);
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->made, 0);  // not due yet
  m_.clock().Advance(*next - m_.clock().Now() + hours(1));
  run = manager::reports::RunReportSchedules(m_.store(), m_.clock(), nullptr);
  ASSERT_TRUE(run.has_value()) << run.error().ToString();
  EXPECT_EQ(run->made, 1);
  run = manager::reports::RunReportSchedules(m_.store(), m_.clock(), nullptr);
  EXPECT_EQ(run->made, 0);  // once per period

  Reply after = m_.Get("/api/v1/report-schedules/" + id, admin_);
  ASSERT_EQ(after.status, 200);
  EXPECT_EQ(manager::ParseTimestamp(after.body["next_run_at"].get<std::string>()), *next + days(7));
  EXPECT_TRUE(after.body["last_error"].is_null());
  Reply list = m_.Get("/api/v1/reports", admin_);
  ASSERT_EQ(list.body["items"].size(), 1u);
  const auto& report = list.body["items"][0];
  EXPECT_EQ(report["schedule_id"], id);
  EXPECT_EQ(report["id"], after.body["last_report_id"]);
  EXPECT_EQ(manager::ParseTimestamp(report["from"].get<std::string>()), *next - days(7));
  EXPECT_EQ(manager::ParseTimestamp(report["to"].get<std::string>()), *next);
  Answer html = Send(m_, "GET", "/api/v1/reports/" + report["id"].get<std::string>() + "/download",
                     {{"Authorization", "Bearer " + admin_}});
  EXPECT_NE(html.raw.find("PCI DSS v4.0"), std::string::npos);

  Reply off = m_.Patch("/api/v1/report-schedules/" + id, admin_, {{"enabled", false}});
  ASSERT_EQ(off.status, 200);
  EXPECT_EQ(off.body["enabled"], false);
  m_.clock().Advance(days(30));
  run = manager::reports::RunReportSchedules(m_.store(), m_.clock(), nullptr);
  EXPECT_EQ(run->made, 0);
  EXPECT_EQ(m_.Delete("/api/v1/report-schedules/" + id, admin_).status, 204);
  EXPECT_EQ(m_.Get("/api/v1/reports", admin_).body["items"].size(), 1u);  // reports stay
}

TEST(ReportSchedules, PeriodsEndAtMidnightMondayAndTheFirst) {
  using manager::reports::NextRun;
  using manager::reports::PeriodStart;
  auto at = [](const char* s) { return *manager::ParseTimestamp(s); };
  EXPECT_EQ(NextRun("daily", at("2027-01-15T08:00:00Z")), at("2027-01-16T00:00:00Z"));
  EXPECT_EQ(NextRun("weekly", at("2027-01-18T00:00:00Z")), at("2027-01-25T00:00:00Z"));
  EXPECT_EQ(NextRun("weekly", at("2027-01-17T23:59:00Z")), at("2027-01-18T00:00:00Z"));
  EXPECT_EQ(NextRun("monthly", at("2027-12-31T10:00:00Z")), at("2028-01-01T00:00:00Z"));
  EXPECT_EQ(PeriodStart("monthly", at("2028-03-01T00:00:00Z")), at("2028-02-01T00:00:00Z"));
  EXPECT_EQ(PeriodStart("weekly", at("2027-01-18T00:00:00Z")), at("2027-01-11T00:00:00Z"));
  EXPECT_EQ(PeriodStart("daily", at("2027-01-18T00:00:00Z")), at("2027-01-17T00:00:00Z"));
}

}  // namespace
}  // namespace ward::test
