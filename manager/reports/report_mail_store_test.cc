// The Store's report e-mail outbox on every backend (SQLite, PostgreSQL, MariaDB; docs/reports.md
// "Delivery by e-mail"): mails are queued only with the run that records them, come back byte for
// byte, are claimed by one of two nodes claiming at once, can be taken over when a claim ends, are
// settled only by their holder (sent, retried, given up: the schedule's last_error), and go with
// their tenant.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "manager/store/scratch_database.h"
#include "manager/store/store.h"

namespace ward::manager {
namespace {

using std::chrono::days;
using std::chrono::microseconds;
using std::chrono::seconds;

const TimePoint kT0 = TimePoint(microseconds(1'789'948'800'000'000LL));

class ReportMailStore : public ::testing::TestWithParam<Dialect> {
 protected:
  void SetUp() override {
    auto db = ScratchDatabase::Create(GetParam());
    ASSERT_TRUE(db.has_value()) << db.error().ToString();
    db_ = std::move(db).value();
    for (auto* s : {&store_, &other_node_}) {
      auto opened = Store::Open(db_->url());
      ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
      *s = std::move(opened).value();
    }
    ASSERT_TRUE(store_->Migrate().ok());
    for (auto* t : {&a_, &b_}) {
      t->id = fmt::format("tenant-{}", t == &a_ ? "a" : "b");
      t->name = t->id;
      t->created_at = kT0;
      ASSERT_TRUE(store_->CreateTenant(*t).ok());
    }
  }

  ReportSchedule Schedule(const Tenant& t, const std::string& id) {
    ReportSchedule s;
    s.id = id;
    s.tenant_id = t.id;
    s.name = id;
    s.frequency = "daily";
    s.kind = "summary";
    s.format = "pdf";
    s.language = "en";
    s.recipients = {"soc@example.com"};
    s.next_run_at = kT0;
    s.created_at = kT0;
    EXPECT_TRUE(store_->CreateReportSchedule(s).ok());
    return s;
  }

  StoredReport Report(const ReportSchedule& s, const std::string& id) {
    StoredReport r;
    r.id = id;
    r.tenant_id = s.tenant_id;
    r.schedule_id = s.id;
    r.kind = "summary";
    r.format = "pdf";
    r.language = "en";
    r.period_from = kT0 - days(1);
    r.period_to = kT0;
    r.created_by = "schedule:" + s.id;
    r.created_at = kT0;
    r.content = "%PDF-";
    return r;
  }

  ReportMail Mail(const StoredReport& r, const std::string& id, const std::string& language,
                  std::string message) {
    ReportMail m;
    m.id = id;
    m.tenant_id = r.tenant_id;
    m.schedule_id = r.schedule_id;
    m.report_id = r.id;
    m.language = language;
    m.mail_from = "ward@example.com";
    m.recipients = {"soc@example.com", "ciso@example.com"};
    m.message = std::move(message);
    m.created_at = kT0;
    m.next_attempt_at = kT0;
    return m;
  }

  int64_t Pending() {
    auto n = store_->CountPendingReportMails();
    EXPECT_TRUE(n.has_value()) << n.error().ToString();
    return n ? *n : -1;
  }

  // Records the run of `s` (due at kT0) with `mails`.
  Status Record(const ReportSchedule& s, const StoredReport& r, std::vector<ReportMail> mails) {
    return store_->RecordScheduledRunWithMails(s.tenant_id, s.id, kT0, kT0 + days(1), kT0, r, "",
                                               mails);
  }

  std::unique_ptr<ScratchDatabase> db_;
  std::unique_ptr<Store> store_, other_node_;
  Tenant a_, b_;
};

TEST_P(ReportMailStore, MailsAreQueuedWithTheirRunOnlyAndKeepTheirBytes) {
  ReportSchedule s = Schedule(a_, "s1");
  StoredReport r = Report(s, "r1");
  // A message with a large base64 attachment and Japanese text, as composed.
  std::string message = "Subject: =?UTF-8?B?44Os44Od44O844OI?=\r\nMessage-ID: <r1.en@ward>\r\n\r\n";
  for (int i = 0; i < 20000; ++i)
    message += "JVBERi0xLjUKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+\r\n";
  message += "日本語\r\n";
  ASSERT_TRUE(Record(s, r, {Mail(r, "m-en", "en", message), Mail(r, "m-ja", "ja", "ja")}).ok());
  // A second node recording the same run queues nothing.
  StoredReport again = Report(s, "r2");
  EXPECT_EQ(Record(s, again, {Mail(again, "m-2", "en", "x")}).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(Pending(), 2);

  auto list = store_->ListReportMails(a_.id, "r1");
  ASSERT_TRUE(list.has_value()) << list.error().ToString();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].language, "en");
  EXPECT_EQ((*list)[0].state, ReportMailState::kPending);
  EXPECT_EQ((*list)[0].attempts, 0);
  EXPECT_EQ((*list)[0].recipients,
            (std::vector<std::string>{"soc@example.com", "ciso@example.com"}));
  EXPECT_TRUE((*list)[0].message.empty());
  EXPECT_EQ(store_->ListReportMails(b_.id, "r1").error().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->ListReportMails(a_.id, "r2").error().code(), StatusCode::kNotFound);

  auto claimed = store_->ClaimReportMails("node-a", kT0, seconds(300), 10);
  ASSERT_TRUE(claimed.has_value()) << claimed.error().ToString();
  ASSERT_EQ(claimed->size(), 2u);
  for (const ReportMail& m : *claimed) {
    EXPECT_EQ(m.message, m.id == "m-en" ? message : "ja");
    EXPECT_EQ(m.mail_from, "ward@example.com");
  }
  // An empty message or recipient list is refused, and the run with it is not recorded.
  ReportSchedule s2 = Schedule(a_, "s2");
  StoredReport r3 = Report(s2, "r3");
  ReportMail empty = Mail(r3, "m-3", "en", "x");
  empty.recipients.clear();
  EXPECT_EQ(Record(s2, r3, {empty}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->GetReport(a_.id, "r3", false).error().code(), StatusCode::kNotFound);

  ASSERT_TRUE(store_->DeleteTenant(a_.id).ok());
  EXPECT_EQ(Pending(), 0);
}

TEST_P(ReportMailStore, TwoNodesClaimEachMailOnceAndTakeOverExpiredClaims) {
  ReportSchedule s = Schedule(a_, "s1");
  StoredReport r = Report(s, "r1");
  std::vector<ReportMail> mails;
  for (int i = 0; i < 12; ++i) {
    mails.push_back(Mail(r, fmt::format("m{:02}", i), i % 2 ? "ja" : "en", "msg"));
  }
  ASSERT_TRUE(Record(s, r, mails).ok());
  // Two nodes claim at the same moment, in rounds of 3 until all are claimed (a claim that fails,
  // e.g. a deadlock the store gave up retrying, is retried by the next round as the job would):
  // every mail goes to exactly one of them.
  std::vector<ReportMail> got_a, got_b;
  std::atomic<int> claimed{0};
  auto claim = [&](Store& store, const char* node, std::vector<ReportMail>& got) {
    for (int i = 0; i < 200 && claimed.load() < 12; ++i) {
      auto r = store.ClaimReportMails(node, kT0, seconds(300), 3);
      if (!r) continue;
      got.insert(got.end(), r->begin(), r->end());
      claimed += static_cast<int>(r->size());
    }
  };
  std::thread ta([&] { claim(*store_, "node-a", got_a); });
  std::thread tb([&] { claim(*other_node_, "node-b", got_b); });
  ta.join();
  tb.join();
  std::set<std::string> ids;
  for (const auto& m : got_a) ids.insert(m.id);
  for (const auto& m : got_b) EXPECT_TRUE(ids.insert(m.id).second) << "claimed twice: " << m.id;
  EXPECT_EQ(ids.size(), 12u);
  // Held: nobody else gets them until the claims end.
  auto none = store_->ClaimReportMails("node-c", kT0 + seconds(299), seconds(300), 100);
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());

  // The nodes die; after their lease node-c takes their mails over, and they can settle none.
  const std::vector<ReportMail>& dead = got_a.empty() ? got_b : got_a;
  ASSERT_FALSE(dead.empty());
  auto taken = store_->ClaimReportMails("node-c", kT0 + seconds(301), seconds(300), 100);
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->size(), 12u);  // every claim ran out
  ReportMailOutcome ok;
  ok.at = kT0 + seconds(302);
  ok.ok = true;
  ok.detail = "250";
  EXPECT_EQ(
      store_->CompleteReportMail(got_a.empty() ? "node-b" : "node-a", dead[0], ok).status().code(),
      StatusCode::kFailedPrecondition);

  // node-c settles: one sent, one retried later, one given up.
  const ReportMail& first = (*taken)[0];
  const ReportMail& second = (*taken)[1];
  const ReportMail& third = (*taken)[2];
  auto sent = store_->CompleteReportMail("node-c", first, ok);
  ASSERT_TRUE(sent.has_value()) << sent.error().ToString();
  EXPECT_EQ(sent->state, ReportMailState::kSent);
  EXPECT_EQ(sent->attempts, 1);
  EXPECT_EQ(sent->sent_at, ok.at);
  EXPECT_EQ(store_->CompleteReportMail("node-c", first, ok).status().code(),
            StatusCode::kFailedPrecondition);  // settled already

  ReportMailOutcome retry;
  retry.at = kT0 + seconds(303);
  retry.detail = "SMTP 451: try later";
  retry.retry_at = kT0 + seconds(400);
  auto retried = store_->CompleteReportMail("node-c", second, retry);
  ASSERT_TRUE(retried.has_value()) << retried.error().ToString();
  EXPECT_EQ(retried->state, ReportMailState::kPending);
  EXPECT_EQ(retried->attempts, 1);
  EXPECT_EQ(retried->next_attempt_at, kT0 + seconds(400));
  EXPECT_EQ(retried->last_attempt_at, retry.at);
  EXPECT_EQ(retried->last_error, "SMTP 451: try later");

  ReportMailOutcome refused;
  refused.at = kT0 + seconds(304);
  refused.detail = "SMTP 550: no such user";
  auto failed = store_->CompleteReportMail("node-c", third, refused);
  ASSERT_TRUE(failed.has_value()) << failed.error().ToString();
  EXPECT_EQ(failed->state, ReportMailState::kFailed);
  EXPECT_EQ(failed->attempts, 1);
  auto sched = store_->GetReportSchedule(a_.id, "s1");
  ASSERT_TRUE(sched.has_value());
  EXPECT_EQ(sched->last_error, "e-mail: SMTP 550: no such user");

  // The retried one is due again at its time only (node-c's other claims still run).
  auto early = store_->ClaimReportMails("node-b", kT0 + seconds(399), seconds(300), 100);
  ASSERT_TRUE(early.has_value());
  EXPECT_TRUE(early->empty());
  auto due = store_->ClaimReportMails("node-b", kT0 + seconds(400), seconds(300), 100);
  ASSERT_TRUE(due.has_value());
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].id, second.id);
  EXPECT_EQ((*due)[0].attempts, 1);
  EXPECT_EQ(Pending(), 10);
}

std::string BackendName(const ::testing::TestParamInfo<Dialect>& info) {
  return std::string(DialectName(info.param));
}

INSTANTIATE_TEST_SUITE_P(Backends, ReportMailStore,
                         ::testing::Values(Dialect::kSqlite, Dialect::kPostgres, Dialect::kMysql),
                         BackendName);

}  // namespace
}  // namespace ward::manager
