// The Store's reports and report schedules on every backend (SQLite, PostgreSQL, MariaDB): the
// content comes back byte for byte (a PDF is binary), lists are per tenant and newest first, a
// scheduled run is recorded once however many nodes try.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "manager/store/scratch_database.h"
#include "manager/store/store.h"

namespace ward::manager {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::microseconds;

const TimePoint kT0 = TimePoint(microseconds(1'789'948'800'000'000LL));

class ReportStore : public ::testing::TestWithParam<Dialect> {
 protected:
  void SetUp() override {
    auto db = ScratchDatabase::Create(GetParam());
    ASSERT_TRUE(db.has_value()) << db.error().ToString();
    db_ = std::move(db).value();
    auto s = Store::Open(db_->url());
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(s).value();
    ASSERT_TRUE(store_->Migrate().ok());
    for (auto* t : {&a_, &b_}) {
      t->id = fmt::format("tenant-{}", t == &a_ ? "a" : "b");
      t->name = t->id;
      t->created_at = kT0;
      ASSERT_TRUE(store_->CreateTenant(*t).ok());
    }
  }

  StoredReport Report(const Tenant& t, const std::string& id, TimePoint at, std::string content) {
    StoredReport r;
    r.id = id;
    r.tenant_id = t.id;
    r.kind = "pci_dss";
    r.format = "pdf";
    r.language = "ja";
    r.period_from = at - days(7);
    r.period_to = at;
    r.created_by = "user:u1";
    r.created_at = at;
    r.content = std::move(content);
    return r;
  }

  ReportSchedule Schedule(const Tenant& t, const std::string& id, const std::string& name) {
    ReportSchedule s;
    s.id = id;
    s.tenant_id = t.id;
    s.name = name;
    s.frequency = "weekly";
    s.kind = "summary";
    s.format = "html";
    s.language = "en";
    s.recipients = {"soc@example.com", "ciso@example.com"};
    s.next_run_at = kT0 + days(1);
    s.created_at = kT0;
    return s;
  }

  std::unique_ptr<ScratchDatabase> db_;
  std::unique_ptr<Store> store_;
  Tenant a_, b_;
};

TEST_P(ReportStore, ReportsKeepTheirBytesAndStayInTheirTenant) {
  std::string binary = "%PDF-1.5\n";
  for (int i = 0; i < 300000; ++i) binary.push_back(static_cast<char>(i * 131 % 256));
  ASSERT_TRUE(store_->CreateReport(Report(a_, "r1", kT0, binary)).ok());
  ASSERT_TRUE(store_->CreateReport(Report(a_, "r2", kT0 + hours(1), "<html>")).ok());
  ASSERT_TRUE(store_->CreateReport(Report(b_, "r3", kT0 + hours(2), "b's")).ok());

  auto list = store_->ListReports(a_.id, std::nullopt, 100);
  ASSERT_TRUE(list.has_value()) << list.error().ToString();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, "r2");  // newest first
  EXPECT_EQ((*list)[1].id, "r1");
  EXPECT_EQ((*list)[1].size, static_cast<int64_t>(binary.size()));
  EXPECT_TRUE((*list)[1].content.empty());
  auto page = store_->ListReports(a_.id, std::make_pair((*list)[0].created_at, (*list)[0].id), 1);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].id, "r1");

  auto got = store_->GetReport(a_.id, "r1", true);
  ASSERT_TRUE(got.has_value()) << got.error().ToString();
  EXPECT_EQ(got->content, binary);
  EXPECT_EQ(got->language, "ja");
  EXPECT_EQ(got->period_from, kT0 - days(7));
  EXPECT_EQ(store_->GetReport(b_.id, "r1", true).error().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteReport(b_.id, "r1").code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->DeleteReport(a_.id, "r1").ok());
  EXPECT_EQ(store_->GetReport(a_.id, "r1", false).error().code(), StatusCode::kNotFound);

  StoredReport huge = Report(a_, "r4", kT0, std::string((8u << 20) + 1, 'x'));
  EXPECT_EQ(store_->CreateReport(huge).code(), StatusCode::kInvalidArgument);

  ASSERT_TRUE(store_->DeleteTenant(a_.id).ok());
  EXPECT_EQ(store_->GetReport(a_.id, "r2", false).error().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->GetReport(b_.id, "r3", false).has_value());
}

TEST_P(ReportStore, SchedulesAreDueOnceAndARunIsRecordedOnce) {
  ASSERT_TRUE(store_->CreateReportSchedule(Schedule(a_, "s1", "weekly summary")).ok());
  EXPECT_EQ(store_->CreateReportSchedule(Schedule(a_, "s2", "weekly summary")).code(),
            StatusCode::kAlreadyExists);
  ASSERT_TRUE(store_->CreateReportSchedule(Schedule(b_, "s3", "weekly summary")).ok());

  auto got = store_->GetReportSchedule(a_.id, "s1");
  ASSERT_TRUE(got.has_value()) << got.error().ToString();
  EXPECT_EQ(got->recipients, (std::vector<std::string>{"soc@example.com", "ciso@example.com"}));
  EXPECT_FALSE(got->last_run_at.has_value());
  EXPECT_EQ(store_->GetReportSchedule(b_.id, "s1").error().code(), StatusCode::kNotFound);

  auto due = store_->DueReportSchedules(kT0, 10);
  ASSERT_TRUE(due.has_value());
  EXPECT_TRUE(due->empty());
  due = store_->DueReportSchedules(kT0 + days(1), 10);
  ASSERT_TRUE(due.has_value());
  EXPECT_EQ(due->size(), 2u);  // every tenant's

  StoredReport r;
  r.id = "r1";
  r.tenant_id = a_.id;
  r.schedule_id = "s1";
  r.kind = "summary";
  r.format = "html";
  r.language = "en";
  r.period_from = kT0 - days(6);
  r.period_to = kT0 + days(1);
  r.created_by = "schedule:s1";
  r.created_at = kT0 + days(1);
  r.content = "<html>";
  TimePoint next = kT0 + days(8);
  ASSERT_TRUE(
      store_->RecordScheduledRun(a_.id, "s1", kT0 + days(1), next, kT0 + days(1), r, "").ok());
  // A second node recording the same run stores nothing.
  StoredReport again = r;
  again.id = "r2";
  EXPECT_EQ(
      store_->RecordScheduledRun(a_.id, "s1", kT0 + days(1), next, kT0 + days(1), again, "").code(),
      StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetReport(a_.id, "r2", false).error().code(), StatusCode::kNotFound);
  got = store_->GetReportSchedule(a_.id, "s1");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->next_run_at, next);
  EXPECT_EQ(got->last_report_id, "r1");
  ASSERT_TRUE(got->last_run_at.has_value());

  got->enabled = false;
  got->name = "renamed";
  ASSERT_TRUE(store_->UpdateReportSchedule(*got).ok());
  due = store_->DueReportSchedules(kT0 + days(30), 10);
  ASSERT_TRUE(due.has_value());
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].id, "s3");
  auto list = store_->ListReportSchedules(a_.id);
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "renamed");
  EXPECT_TRUE(store_->DeleteReportSchedule(a_.id, "s1").ok());
  EXPECT_EQ(store_->DeleteReportSchedule(a_.id, "s1").code(), StatusCode::kNotFound);
}

std::string BackendName(const ::testing::TestParamInfo<Dialect>& info) {
  return std::string(DialectName(info.param));
}

INSTANTIATE_TEST_SUITE_P(Backends, ReportStore,
                         ::testing::Values(Dialect::kSqlite, Dialect::kPostgres, Dialect::kMysql),
                         BackendName);

}  // namespace
}  // namespace ward::manager
