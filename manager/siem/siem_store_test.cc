// The store's SIEM forwarder methods on every backend (SQLite, PostgreSQL, MariaDB; real
// databases): forwarders per tenant, and a cursor that sees every event exactly once in commit
// order, also events stored late with old timestamps and events of concurrent writers.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "manager/store/scratch_database.h"
#include "manager/store/store.h"

namespace ward::manager {
namespace {

using std::chrono::microseconds;

const TimePoint kT0 = TimePoint(microseconds(1'789'948'800'000'000LL));

class SiemStore : public ::testing::TestWithParam<Dialect> {
 protected:
  void SetUp() override {
    auto db = ScratchDatabase::Create(GetParam());
    ASSERT_TRUE(db.has_value()) << db.error().ToString();
    db_ = std::move(db).value();
    auto s = Store::Open(db_->url());
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(s).value();
    ASSERT_TRUE(store_->Migrate().ok());
  }

  Tenant MakeTenant(const std::string& name) {
    Tenant t;
    t.id = "tenant-" + name;
    t.name = name;
    t.created_at = kT0;
    EXPECT_TRUE(store_->CreateTenant(t).ok());
    return t;
  }

  SiemForwarder Forwarder(const Tenant& t, const std::string& name) {
    SiemForwarder f;
    f.id = "fwd-" + t.name + "-" + name;
    f.tenant_id = t.id;
    f.name = name;
    f.host = "127.0.0.1";
    f.port = 6514;
    f.created_at = f.updated_at = kT0;
    return f;
  }

  StoredEvent Event(const Tenant& t, const std::string& id, TimePoint ts, int severity = 2) {
    StoredEvent e;
    e.id = id;
    e.tenant_id = t.id;
    e.agent_id = "agent-1";
    e.timestamp = ts;
    e.module = "integrity";
    e.action = "modified";
    e.severity = severity;
    e.doc = {{"event", {{"id", id}, {"module", "integrity"}}}};
    return e;
  }

  // Reads from `after` until `want` events came or 20 s passed (MySQL holds events back 5 s);
  // returns the ids in order and leaves `after` at the last one.
  std::vector<std::string> ReadUntil(const Tenant& t, SiemCursor& after, size_t want,
                                     int limit = 7) {
    std::vector<std::string> ids;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (ids.size() < want && std::chrono::steady_clock::now() < deadline) {
      auto r = store_->ReadSiemEvents(t.id, after, limit);
      EXPECT_TRUE(r.has_value()) << r.error().ToString();
      if (!r.has_value()) break;
      for (const auto& e : *r) {
        ids.push_back(e.event.id);
        EXPECT_FALSE(e.event.doc_text.empty());
        after = e.at;
      }
      if (r->empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return ids;
  }

  std::unique_ptr<ScratchDatabase> db_;
  std::unique_ptr<Store> store_;
};

TEST_P(SiemStore, ForwardersBelongToTheirTenant) {
  Tenant a = MakeTenant("a"), b = MakeTenant("b");
  SiemForwarder f = Forwarder(a, "soc");
  f.transport = "tls";
  f.format = "leef";
  f.ca_pem = "-----BEGIN CERTIFICATE-----\n...";
  f.cursor = {42, ""};
  ASSERT_TRUE(store_->CreateSiemForwarder(f).ok());
  EXPECT_EQ(store_->CreateSiemForwarder(Forwarder(a, "soc")).code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(store_->CreateSiemForwarder(Forwarder(b, "soc")).ok());  // same name, other tenant
  auto got = store_->GetSiemForwarder(a.id, f.id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->transport, "tls");
  EXPECT_EQ(got->format, "leef");
  EXPECT_EQ(got->ca_pem, f.ca_pem);
  EXPECT_EQ(got->cursor, (SiemCursor{42, ""}));
  EXPECT_EQ(got->sent, 0);
  EXPECT_FALSE(store_->GetSiemForwarder(b.id, f.id).has_value());
  EXPECT_EQ(store_->DeleteSiemForwarder(b.id, f.id).code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->ListSiemForwarders(a.id)->size(), 1u);
  EXPECT_EQ(store_->ListAllSiemForwarders()->size(), 2u);
  f.port = 10514;
  f.enabled = false;
  f.cursor = {0, ""};  // progress is not the update's to change
  ASSERT_TRUE(store_->UpdateSiemForwarder(f).ok());
  got = store_->GetSiemForwarder(a.id, f.id);
  EXPECT_EQ(got->port, 10514);
  EXPECT_FALSE(got->enabled);
  EXPECT_EQ(got->cursor, (SiemCursor{42, ""}));
  ASSERT_TRUE(store_->DeleteSiemForwarder(a.id, f.id).ok());
  EXPECT_EQ(store_->ListSiemForwarders(a.id)->size(), 0u);
  ASSERT_TRUE(store_->DeleteTenant(b.id).ok());
  EXPECT_EQ(store_->ListAllSiemForwarders()->size(), 0u);
}

TEST_P(SiemStore, CursorSeesEveryEventOnceInCommitOrderEvenWithOldTimestamps) {
  Tenant a = MakeTenant("a"), b = MakeTenant("b");
  ASSERT_TRUE(store_
                  ->InsertEvents({Event(a, "e1", kT0), Event(a, "e2", kT0 + microseconds(5)),
                                  Event(b, "b1", kT0)})
                  .has_value());
  SiemCursor c;
  EXPECT_EQ(ReadUntil(a, c, 2), (std::vector<std::string>{"e1", "e2"}));
  // Stored later with a timestamp before every event read so far (an agent's spool catching up):
  // still after the cursor. A resent id is a duplicate and not seen twice.
  ASSERT_TRUE(store_
                  ->InsertEvents({Event(a, "late", kT0 - std::chrono::hours(48)),
                                  Event(a, "e1", kT0), Event(b, "b2", kT0)})
                  .has_value());
  EXPECT_EQ(ReadUntil(a, c, 1), (std::vector<std::string>{"late"}));
  auto none = store_->ReadSiemEvents(a.id, c, 100);
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
  SiemCursor cb;
  EXPECT_EQ(ReadUntil(b, cb, 2), (std::vector<std::string>{"b1", "b2"}));
  EXPECT_EQ(*store_->CountSiemEvents(a.id, SiemCursor{}, 1000), 3);
  EXPECT_EQ(*store_->CountSiemEvents(a.id, c, 1000), 0);
}

TEST_P(SiemStore, LogEndStartsAForwarderAtNow) {
  Tenant a = MakeTenant("a");
  ASSERT_TRUE(store_->InsertEvents({Event(a, "old1", kT0), Event(a, "old2", kT0)}).has_value());
  // The end covers the old events once they are readable (MySQL: after the settle time).
  SiemCursor probe;
  ASSERT_EQ(ReadUntil(a, probe, 2).size(), 2u);
  auto end = store_->SiemLogEnd(a.id);
  ASSERT_TRUE(end.has_value());
  ASSERT_TRUE(store_->InsertEvents({Event(a, "new1", kT0 - std::chrono::hours(1))}).has_value());
  SiemCursor c = *end;
  EXPECT_EQ(ReadUntil(a, c, 1), (std::vector<std::string>{"new1"}));
}

TEST_P(SiemStore, CursorMovesOnlyFromWhereItIs) {
  Tenant a = MakeTenant("a");
  SiemForwarder f = Forwarder(a, "soc");
  ASSERT_TRUE(store_->CreateSiemForwarder(f).ok());
  const SiemCursor zero, one{10, "x"}, two{20, "y"};
  ASSERT_TRUE(store_->BeginSiemBatch(a.id, f.id, zero, one).ok());
  EXPECT_EQ(store_->GetSiemForwarder(a.id, f.id)->in_flight, one);
  EXPECT_EQ(store_->BeginSiemBatch(a.id, f.id, one, two).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store_->AdvanceSiemCursor(a.id, f.id, zero, one, 7, 2, 1, kT0).ok());
  EXPECT_EQ(store_->AdvanceSiemCursor(a.id, f.id, zero, two, 1, 0, 0, kT0).code(),
            StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store_->RecordSiemError(a.id, f.id, "receiver down", kT0).ok());
  auto got = store_->GetSiemForwarder(a.id, f.id);
  EXPECT_EQ(got->cursor, one);
  EXPECT_EQ(got->in_flight, SiemCursor{});
  EXPECT_EQ(got->sent, 7);
  EXPECT_EQ(got->skipped, 2);
  EXPECT_EQ(got->resent, 1);
  EXPECT_EQ(got->last_sent_at, kT0);
  EXPECT_EQ(got->last_error, "receiver down");
  ASSERT_TRUE(store_->AdvanceSiemCursor(a.id, f.id, one, two, 1, 0, 0, kT0).ok());
  EXPECT_EQ(store_->GetSiemForwarder(a.id, f.id)->last_error, "");
  EXPECT_EQ(store_->AdvanceSiemCursor("tenant-b", f.id, two, one, 1, 0, 0, kT0).code(),
            StatusCode::kNotFound);
}

// The forwarder's one write per batch: the cursor moves past a batch and the next batch is
// marked in flight together, compare-and-set as AdvanceSiemCursor.
TEST_P(SiemStore, AdvanceAndBeginIsOneCompareAndSet) {
  Tenant a = MakeTenant("a");
  SiemForwarder f = Forwarder(a, "soc");
  ASSERT_TRUE(store_->CreateSiemForwarder(f).ok());
  const SiemCursor zero, one{10, "x"}, two{20, "y"}, three{30, "z"};
  ASSERT_TRUE(store_->BeginSiemBatch(a.id, f.id, zero, one).ok());
  ASSERT_TRUE(store_->AdvanceSiemCursorAndBegin(a.id, f.id, zero, one, 5, 1, 0, kT0, two).ok());
  auto got = store_->GetSiemForwarder(a.id, f.id);
  EXPECT_EQ(got->cursor, one);
  EXPECT_EQ(got->in_flight, two);
  EXPECT_EQ(got->sent, 5);
  EXPECT_EQ(got->skipped, 1);
  // A node that lost the race (the cursor is no longer `zero`) changes nothing.
  EXPECT_EQ(store_->AdvanceSiemCursorAndBegin(a.id, f.id, zero, two, 9, 0, 0, kT0, three).code(),
            StatusCode::kFailedPrecondition);
  got = store_->GetSiemForwarder(a.id, f.id);
  EXPECT_EQ(got->cursor, one);
  EXPECT_EQ(got->in_flight, two);
  EXPECT_EQ(got->sent, 5);
  ASSERT_TRUE(store_->AdvanceSiemCursor(a.id, f.id, one, two, 3, 0, 2, kT0).ok());
  got = store_->GetSiemForwarder(a.id, f.id);
  EXPECT_EQ(got->cursor, two);
  EXPECT_EQ(got->in_flight, SiemCursor{});
  EXPECT_EQ(got->sent, 8);
  EXPECT_EQ(got->resent, 2);
  EXPECT_EQ(
      store_->AdvanceSiemCursorAndBegin("tenant-b", f.id, two, three, 1, 0, 0, kT0, three).code(),
      StatusCode::kNotFound);
}

// SQLite and PostgreSQL only: on MariaDB a reader running alongside four writers was seen to
// pass over rows of batches that committed late (docs/siem.md, "Limits").
class SiemStoreConcurrent : public SiemStore {};

TEST_P(SiemStoreConcurrent, WritersLoseNothingToAReaderRunningAlongside) {
  Tenant a = MakeTenant("a");
  constexpr int kWriters = 4, kBatches = 25, kPerBatch = 20;
  std::atomic<bool> done{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<StoredEvent> batch;
        for (int i = 0; i < kPerBatch; ++i) {
          // Timestamps out of order on purpose: the cursor must not follow them.
          batch.push_back(Event(a, fmt::format("w{}-b{}-{}", w, b, i),
                                kT0 - std::chrono::seconds((b * 7 + i * 13 + w) % 100)));
        }
        auto r = store_->InsertEvents(batch);
        EXPECT_TRUE(r.has_value()) << r.error().ToString();
      }
    });
  }
  std::multiset<std::string> seen;
  SiemCursor c;
  std::thread reader([&] {
    while (!done) {
      auto r = store_->ReadSiemEvents(a.id, c, 50);
      ASSERT_TRUE(r.has_value()) << r.error().ToString();
      for (const auto& e : *r) {
        seen.insert(e.event.id);
        c = e.at;
      }
      if (r->empty()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  for (auto& t : writers) t.join();
  done = true;
  reader.join();
  for (const auto& id : ReadUntil(a, c, kWriters * kBatches * kPerBatch - seen.size(), 500)) {
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kWriters * kBatches * kPerBatch));
  std::set<std::string> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), seen.size()) << "an event was read twice";
}

std::string BackendName(const ::testing::TestParamInfo<Dialect>& i) {
  switch (i.param) {
    case Dialect::kSqlite:
      return "Sqlite";
    case Dialect::kPostgres:
      return "Postgres";
    case Dialect::kMysql:
      return "Mysql";
  }
  return "Unknown";
}

INSTANTIATE_TEST_SUITE_P(Backends, SiemStore,
                         ::testing::Values(Dialect::kSqlite, Dialect::kPostgres, Dialect::kMysql),
                         BackendName);
INSTANTIATE_TEST_SUITE_P(Backends, SiemStoreConcurrent,
                         ::testing::Values(Dialect::kSqlite, Dialect::kPostgres, Dialect::kMysql),
                         BackendName);

}  // namespace
}  // namespace ward::manager
