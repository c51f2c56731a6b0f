// The hourly event rollups (docs/manager-store.md, "Event rollups") on SQLite, PostgreSQL and
// MariaDB: every aggregate the dashboard reads answers from the rollups exactly what a GROUP BY
// over the events answers, after ingestion with duplicates and re-delivery, after retention
// purges (batches, and PostgreSQL's whole-partition drop) and after a tenant is deleted.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "manager/store/schema.h"
#include "manager/store/scratch_database.h"
#include "manager/store/soci_store.h"
#include "manager/store/store.h"
#include "manager/store/store_test_util.h"

namespace ward::manager {
namespace {

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// 2026-09-21T00:00:00Z.
const TimePoint kDay0 = TimePoint(microseconds(1'789'948'800'000'000LL));

std::string Show(const std::vector<EventCount>& v) {
  std::string s;
  for (const auto& c : v) {
    s += fmt::format("{} {} {} {}\n", c.bucket.time_since_epoch().count(), c.module, c.severity,
                     c.count);
  }
  return s;
}
std::string Show(const std::vector<EventValueCount>& v) {
  std::string s;
  for (const auto& c : v) s += fmt::format("{}={}\n", c.value, c.count);
  return s;
}
std::string Show(const EventSummary& s) {
  return fmt::format("{} {} {}", s.total, s.heals, s.quarantines);
}

class EventRollup : public ::testing::TestWithParam<Dialect> {
 protected:
  void SetUp() override {
    auto db = ScratchDatabase::Create(GetParam());
    ASSERT_TRUE(db.has_value()) << db.error().ToString();
    db_ = std::move(db).value();
    auto s = Store::Open(db_->url());
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(s).value();
    ASSERT_OK(store_->Migrate());
    for (auto* t : {&a_, &b_}) {
      t->id = fmt::format("tenant-{}", t == &a_ ? "a" : "b");
      t->name = t->id;
      t->created_at = kDay0;
      ASSERT_OK(store_->CreateTenant(*t));
    }
  }

  // A varied event: 4 modules, severities 0..4, several actions, 5 agents, rules and paths
  // (IPS URLs, a path longer than the rollup keeps, empty rules).
  StoredEvent Make(const Tenant& t, TimePoint ts, int k) {
    static const char* kModules[] = {"integrity", "ips", "autoheal", "antimalware"};
    StoredEvent e;
    e.id = fmt::format("ev-{:06d}", ++next_);
    e.tenant_id = t.id;
    e.agent_id = fmt::format("agent-{}", k % 5);
    e.timestamp = ts;
    e.module = kModules[k % 4];
    e.severity = k % 5;
    if (e.module == "ips") {
      e.action = k % 3 == 0 ? "blocked" : "detected";
      e.rule = fmt::format("9421{:02d} SQL injection", k % 7);
      e.path = fmt::format("/search?q={}", k);
    } else if (e.module == "autoheal") {
      e.action = "restored";
      e.path = fmt::format("/etc/app/{}.conf", k % 3);
    } else if (e.module == "antimalware") {
      e.action = "quarantine";
      e.rule = "Eicar-Test-Signature";
      e.path = fmt::format("/tmp/x{}", k % 2);
    } else {
      e.action = k % 2 == 0 ? "modified" : "created";
      e.path = k % 11 == 0 ? "/var/" + std::string(300, 'p') : fmt::format("/etc/f{}", k % 6);
    }
    e.doc = {{"event", {{"id", e.id}, {"module", e.module}}}};
    return e;
  }

  // Every aggregate the rollups serve, for `q`, equals the same aggregate over the events.
  void ExpectSame(const std::string& tenant, EventQuery q, const std::string& what) {
    SCOPED_TRACE(what);
    EventQuery ev = q;
    ev.from_events = true;
    for (auto bucket : {hours(1), hours(24), hours(24 * 365 * 50)}) {
      EXPECT_EQ(Show(OK(store_->CountEvents(tenant, q, bucket))),
                Show(OK(store_->CountEvents(tenant, ev, bucket))));
    }
    EXPECT_EQ(Show(OK(store_->SummarizeEvents(tenant, q))),
              Show(OK(store_->SummarizeEvents(tenant, ev))));
    for (auto f : {EventField::kRule, EventField::kAgent, EventField::kPath, EventField::kModule,
                   EventField::kAction}) {
      for (int limit : {3, 1000}) {
        EXPECT_EQ(Show(OK(store_->TopEventValues(tenant, q, f, limit))),
                  Show(OK(store_->TopEventValues(tenant, ev, f, limit))))
            << "field " << static_cast<int>(f) << " limit " << limit;
      }
    }
  }

  void ExpectAllSame(const std::string& tenant) {
    auto at = [](int minutes_after) { return kDay0 + minutes(minutes_after); };
    std::vector<std::pair<std::optional<TimePoint>, std::optional<TimePoint>>> ranges = {
        {std::nullopt, std::nullopt},    // everything
        {at(0), at(180)},                // whole hours
        {at(17), at(29 * 60 + 41)},      // partial hours at both ends
        {at(61), std::nullopt},          // open end
        {std::nullopt, at(150)},         // open start
        {at(70), at(110)},               // within one hour
        {at(25 * 60), at(26 * 60 + 1)},  // the second day
    };
    for (const auto& [from, to] : ranges) {
      EventQuery q;
      q.from = from;
      q.to = to;
      std::string r = fmt::format("[{}, {})", from ? (*from - kDay0).count() : -1,
                                  to ? (*to - kDay0).count() : -1);
      ExpectSame(tenant, q, r);
      for (const char* m : {"integrity", "ips", "autoheal"}) {
        EventQuery mq = q;
        mq.module = m;
        ExpectSame(tenant, mq, r + " module " + m);
      }
      EventQuery sq = q;
      sq.min_severity = 3;
      ExpectSame(tenant, sq, r + " min_severity 3");
      EventQuery aq = q;
      aq.action = "detected";
      ExpectSame(tenant, aq, r + " action detected");
      EventQuery gq = q;
      gq.agent_id = "agent-2";
      ExpectSame(tenant, gq, r + " agent");
    }
  }

  int64_t Total(const std::string& tenant, bool from_events) {
    EventQuery q;
    q.from_events = from_events;
    return OK(store_->SummarizeEvents(tenant, q)).total;
  }

  std::unique_ptr<ScratchDatabase> db_;
  std::unique_ptr<Store> store_;
  Tenant a_, b_;
  int next_ = 0;
};

TEST_P(EventRollup, EqualsAGroupByOverEventsThroughIngestDuplicatesAndPurge) {
  // Tenant a: 600 events over 30 hours of two days, in batches of 50, each batch with an event
  // repeated inside it; every third batch delivered twice. Tenant b: 200 events on day two.
  std::vector<StoredEvent> all;
  int64_t expected_a = 0;
  for (int k = 0; k < 600; ++k) all.push_back(Make(a_, kDay0 + seconds(k * 180 + k % 7), k));
  for (size_t start = 0; start < all.size(); start += 50) {
    std::vector<StoredEvent> batch(all.begin() + static_cast<long>(start),
                                   all.begin() + static_cast<long>(start + 50));
    batch.push_back(batch.front());
    IngestResult r = OK(store_->InsertEvents(batch));
    EXPECT_EQ(r.accepted, 50);
    EXPECT_EQ(r.duplicates, 1);
    expected_a += r.accepted;
    if ((start / 50) % 3 == 0) {
      r = OK(store_->InsertEvents(batch));  // an agent resending from its spool
      EXPECT_EQ(r.accepted, 0);
      EXPECT_EQ(r.duplicates, 51);
    }
  }
  std::vector<StoredEvent> bs;
  for (int k = 0; k < 200; ++k) bs.push_back(Make(b_, kDay0 + hours(25) + seconds(k * 30), k));
  EXPECT_EQ(OK(store_->InsertEvents(bs)).accepted, 200);
  // With alerts (the agent API's path) too: the rows of tenant b counted once more.
  std::vector<StoredEvent> more;
  for (int k = 0; k < 40; ++k) more.push_back(Make(b_, kDay0 + hours(26) + seconds(k), k));
  AlertSignal sig;
  sig.new_alert_id = "alert-1";
  sig.tenant_id = b_.id;
  sig.event_id = more[0].id;
  sig.agent_id = more[0].agent_id;
  sig.rule_key = "ips:942100";
  sig.module = "ips";
  sig.title = "SQL injection";
  sig.severity = 4;
  sig.timestamp = more[0].timestamp;
  EXPECT_EQ(OK(store_->InsertEventsWithAlerts(more, {sig}, hours(24))).accepted, 40);
  EXPECT_EQ(OK(store_->InsertEventsWithAlerts(more, {sig}, hours(24))).accepted, 0);

  EXPECT_EQ(Total(a_.id, false), expected_a);
  EXPECT_EQ(Total(a_.id, true), expected_a);
  EXPECT_EQ(Total(b_.id, false), 240);
  ExpectAllSame(a_.id);
  ExpectAllSame(b_.id);

  // Retention: tenant a's events before day 0 + 20:30 in batches of 37 (on PostgreSQL the
  // partition of day 0 holds tenant a only... and straddles the cutoff: batches there too).
  const TimePoint cutoff = kDay0 + hours(20) + minutes(30);
  int64_t purged = 0;
  for (int i = 0; i < 1000; ++i) {
    int64_t n = OK(store_->DeleteEventsBefore(a_.id, cutoff, 37));
    if (n == 0) break;
    purged += n;
  }
  EXPECT_GT(purged, 300);
  EXPECT_EQ(Total(a_.id, false), expected_a - purged);
  EXPECT_EQ(Total(a_.id, true), expected_a - purged);
  ExpectAllSame(a_.id);
  ExpectAllSame(b_.id);
  // Hours emptied by the purge are gone from the rollup, not left at zero.
  for (const auto& c : OK(store_->CountEvents(a_.id, EventQuery{}, hours(1)))) {
    EXPECT_GE(c.bucket, kDay0 + hours(20));
    EXPECT_GT(c.count, 0);
  }

  // The rest of day 0 (PostgreSQL drops its partition whole: only tenant a has rows there).
  for (int i = 0; i < 1000; ++i) {
    if (OK(store_->DeleteEventsBefore(a_.id, kDay0 + hours(24), 1000)) == 0) break;
  }
  EXPECT_EQ(Total(a_.id, false), Total(a_.id, true));
  EventQuery day0;
  day0.to = kDay0 + hours(24);
  EXPECT_EQ(OK(store_->SummarizeEvents(a_.id, day0)).total, 0);
  EXPECT_TRUE(OK(store_->CountEvents(a_.id, day0, hours(1))).empty());
  ExpectAllSame(a_.id);
  ExpectAllSame(b_.id);

  // A deleted tenant leaves no counts behind (a tenant re-created with the same id starts at 0).
  ASSERT_OK(store_->DeleteTenant(b_.id));
  ASSERT_OK(store_->CreateTenant(b_));
  EXPECT_EQ(Total(b_.id, false), 0);
  EXPECT_TRUE(OK(store_->TopEventValues(b_.id, EventQuery{}, EventField::kAgent, 10)).empty());
}

TEST_P(EventRollup, TheMigrationBackfillsTheRollupsFromStoredEvents) {
  std::vector<StoredEvent> events;
  for (int k = 0; k < 300; ++k) events.push_back(Make(a_, kDay0 + seconds(k * 97), k));
  EXPECT_EQ(OK(store_->InsertEvents(events)).accepted, 300);
  // The rollups as a database migrated from an earlier version has them: empty beside stored
  // events. Then the migration's own backfill statements.
  const Migration* m = nullptr;
  for (const auto& x : Migrations()) {
    if (x.description.find("event rollups") != std::string::npos) m = &x;
  }
  ASSERT_NE(m, nullptr);
  ASSERT_OK(
      RunAdminSql(db_->url(), {"DELETE FROM event_rollup", "DELETE FROM event_rollup_values"}));
  EXPECT_EQ(Total(a_.id, false), 0);
  std::vector<std::string> backfill;
  for (const auto& stmt : m->statements(GetParam())) {
    if (stmt.find("INTO event_rollup") != std::string::npos) backfill.push_back(stmt);
  }
  EXPECT_EQ(backfill.size(), 4u);
  ASSERT_OK(RunAdminSql(db_->url(), backfill));
  EXPECT_EQ(Total(a_.id, false), 300);
  ExpectAllSame(a_.id);
}

// The live tail's cursor: events in the order they were stored, so one that arrives late with
// an old @timestamp is still found after the cursor; exactly once under concurrent writers.
TEST_P(EventRollup, TheIngestSequenceFindsLateEventsInArrivalOrder) {
  EXPECT_EQ(OK(store_->LatestEventSeq(a_.id)), 0);
  std::vector<StoredEvent> first;
  for (int k = 0; k < 10; ++k) first.push_back(Make(a_, kDay0 + hours(2) + seconds(k), k));
  EXPECT_EQ(OK(store_->InsertEvents(first)).accepted, 10);
  const int64_t s1 = OK(store_->LatestEventSeq(a_.id));
  EXPECT_GE(s1, 10);
  EventQuery all;
  all.after_seq = 0;
  all.limit = 100;
  auto got = OK(store_->QueryEvents(a_.id, all));
  ASSERT_EQ(got.size(), 10u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].id, first[i].id);
    EXPECT_GT(got[i].seq, i == 0 ? 0 : got[i - 1].seq);
    EXPECT_LE(got[i].seq, s1);
  }
  // Late: two hours older than everything shown, plus the first batch resent (duplicates).
  std::vector<StoredEvent> late;
  for (int k = 0; k < 3; ++k) late.push_back(Make(a_, kDay0 + seconds(k), 100 + k));
  EXPECT_EQ(OK(store_->InsertEvents(late)).accepted, 3);
  EXPECT_EQ(OK(store_->InsertEvents(first)).accepted, 0);
  std::vector<StoredEvent> other{Make(b_, kDay0 + hours(3), 7)};
  EXPECT_EQ(OK(store_->InsertEvents(other)).accepted, 1);
  EventQuery tail;
  tail.after_seq = s1;
  tail.limit = 2;
  auto page1 = OK(store_->QueryEvents(a_.id, tail));
  ASSERT_EQ(page1.size(), 2u);
  EXPECT_EQ(page1[0].id, late[0].id);
  EXPECT_EQ(page1[1].id, late[1].id);
  tail.after_seq = page1[1].seq;
  auto page2 = OK(store_->QueryEvents(a_.id, tail));
  ASSERT_EQ(page2.size(), 1u);
  EXPECT_EQ(page2[0].id, late[2].id);
  EXPECT_EQ(page2[0].seq, OK(store_->LatestEventSeq(a_.id)) - 10);  // the resend reserved 10
  tail.after_seq = page2[0].seq + 10;
  EXPECT_TRUE(OK(store_->QueryEvents(a_.id, tail)).empty());
  // Filters apply; another tenant's events are not in the tail.
  tail.after_seq = s1;
  tail.limit = 100;
  tail.module = late[1].module;
  auto filtered = OK(store_->QueryEvents(a_.id, tail));
  ASSERT_EQ(filtered.size(), 1u);
  EXPECT_EQ(filtered[0].id, late[1].id);
  EventQuery bq;
  bq.after_seq = 0;
  auto bs = OK(store_->QueryEvents(b_.id, bq));
  ASSERT_EQ(bs.size(), 1u);
  EXPECT_EQ(bs[0].id, other[0].id);

  // Four writers with old and new timestamps at random while a reader follows the sequence: the
  // reader sees every event exactly once, in increasing seq, and nothing is skipped.
  std::vector<std::vector<StoredEvent>> batches;
  std::set<std::string> written;
  for (int w = 0; w < 4; ++w) {
    for (int b = 0; b < 8; ++b) {
      std::vector<StoredEvent> batch;
      for (int k = 0; k < 20; ++k) {
        int x = w * 1000 + b * 20 + k;
        batch.push_back(Make(a_, kDay0 + seconds((x * 7919) % 86400), x));
        written.insert(batch.back().id);
      }
      batches.push_back(std::move(batch));
    }
  }
  const int64_t start = OK(store_->LatestEventSeq(a_.id));
  std::atomic<int> done{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int b = 0; b < 8; ++b) {
        auto r = store_->InsertEvents(batches[static_cast<size_t>(w * 8 + b)]);
        EXPECT_TRUE(r.has_value()) << (r.has_value() ? "" : r.error().ToString());
      }
      done.fetch_add(1);
    });
  }
  std::vector<std::string> seen;
  int64_t cursor = start;
  bool last = false;
  while (true) {
    bool finished = done.load() == 4;  // read before the page: the final pass sees everything
    EventQuery q;
    q.after_seq = cursor;
    q.limit = 50;
    auto page = OK(store_->QueryEvents(a_.id, q));
    for (const auto& e : page) {
      EXPECT_GT(e.seq, cursor);
      cursor = e.seq;
      seen.push_back(e.id);
    }
    if (page.empty() && last) break;
    if (page.empty() && finished) last = true;
  }
  for (auto& t : writers) t.join();
  EXPECT_EQ(seen.size(), written.size());
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), written);
}

std::string BackendName(const ::testing::TestParamInfo<Dialect>& info) {
  return std::string(DialectName(info.param));
}

INSTANTIATE_TEST_SUITE_P(Backends, EventRollup,
                         ::testing::Values(Dialect::kSqlite, Dialect::kPostgres, Dialect::kMysql),
                         BackendName);

}  // namespace
}  // namespace ward::manager
