#include "manager/jobs/jobs.h"

#include <gtest/gtest.h>

#include "common/event.h"
#include "manager/api/views.h"
#include "manager/auth/secrets.h"
#include "manager/services/bootstrap.h"
#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

namespace ward::manager {
namespace {

class JobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Store::Open("sqlite:" + dir_.Sub("jobs.db"));
    ASSERT_TRUE(s) << s.error().ToString();
    store_ = std::move(*s);
    auto b = InitPrimaryTenant(*store_, clock_, "primary");
    ASSERT_TRUE(b) << b.error().ToString();
    primary_ = b->tenant_id;
  }

  std::string NewTenant(int retention_days) {
    Tenant t;
    t.id = NewId();
    t.name = t.id;
    t.settings.event_retention_days = retention_days;
    t.created_at = clock_.Now();
    EXPECT_TRUE(store_->CreateTenant(t).ok());
    return t.id;
  }

  // `n` events of `tenant`, `age` old at the clock's time.
  void AddEvents(const std::string& tenant, int n, std::chrono::hours age) {
    std::vector<StoredEvent> batch;
    for (int i = 0; i < n; ++i) {
      Agent a;
      a.id = "agent-1";
      a.tenant_id = tenant;
      a.hostname = "web-01";
      StoredEvent e = ManagerAgentEvent(a, "test", 0, clock_.Now() - age);
      batch.push_back(std::move(e));
    }
    auto r = store_->InsertEvents(batch);
    ASSERT_TRUE(r) << r.error().ToString();
    ASSERT_EQ(r->accepted, n);
  }

  size_t CountEvents(const std::string& tenant) {
    EventQuery q;
    q.limit = 100000;
    auto r = store_->QueryEvents(tenant, q);
    EXPECT_TRUE(r);
    return r ? r->size() : 0;
  }

  test::TempDir dir_;
  test::FakeClock clock_{
      std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000))};
  std::unique_ptr<Store> store_;
  std::string primary_;
};

TEST_F(JobsTest, RetentionDeletesEachTenantsEventsPastItsOwnRetention) {
  std::string short_t = NewTenant(7);
  std::string long_t = NewTenant(91);
  AddEvents(short_t, 30, std::chrono::hours(24 * 8));   // past 7 days
  AddEvents(short_t, 5, std::chrono::hours(24 * 6));    // within
  AddEvents(long_t, 40, std::chrono::hours(24 * 8));    // within 91 days
  AddEvents(long_t, 3, std::chrono::hours(24 * 92));    // past
  auto r = RunRetention(*store_, clock_, /*batch=*/7);  // several batches
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->deleted, 33);
  EXPECT_EQ(CountEvents(short_t), 5u);
  EXPECT_EQ(CountEvents(long_t), 40u);
  // Time passes: the 6-day-old events age out on a later run.
  clock_.Advance(std::chrono::hours(24 * 2));
  r = RunRetention(*store_, clock_, 7);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->deleted, 5);
  EXPECT_EQ(CountEvents(short_t), 0u);
  // A changed retention takes effect on the next run.
  auto t = store_->GetTenant(long_t);
  ASSERT_TRUE(t);
  t->settings.event_retention_days = 5;
  ASSERT_TRUE(store_->UpdateTenant(*t).ok());
  r = RunRetention(*store_, clock_, 1000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->deleted, 40);
  EXPECT_EQ(CountEvents(long_t), 0u);
}

TEST_F(JobsTest, InactiveAgentsAreRemovedAfterTheTenantsCleanupAge) {
  std::string t = NewTenant(91);
  auto tenant = store_->GetTenant(t);
  tenant->settings.inactive_agent_cleanup_days = 10;
  ASSERT_TRUE(store_->UpdateTenant(*tenant).ok());
  Agent a;
  a.id = NewId();
  a.tenant_id = t;
  a.hostname = "old";
  a.machine_id = "m";
  a.credential_hash = HashSecret("x");
  a.online = true;
  a.last_seen = clock_.Now();
  a.created_at = clock_.Now();
  ASSERT_TRUE(store_->CreateAgent(a).ok());
  clock_.Advance(std::chrono::minutes(10));
  ASSERT_EQ(*RunOfflineMarking(*store_, clock_), 1);
  clock_.Advance(std::chrono::hours(24 * 9));
  EXPECT_EQ(*RunInactiveAgentCleanup(*store_, clock_), 0);
  clock_.Advance(std::chrono::hours(24 * 2));
  EXPECT_EQ(*RunInactiveAgentCleanup(*store_, clock_), 1);
  EXPECT_FALSE(store_->GetAgent(t, a.id));
}

TEST_F(JobsTest, OnlyOneNodeHoldsEachJobsLeaseUntilItStops) {
  JobOptions opt;
  opt.lease_ttl = std::chrono::seconds(60);
  JobRunner first(*store_, clock_, opt, "node-1");
  JobRunner second(*store_, clock_, opt, "node-2");
  first.RunOnce();
  second.RunOnce();
  for (const char* job : {"retention", "offline", "cleanup"}) {
    auto a = store_->TryAcquireLease(job, "node-2", clock_.Now(), opt.lease_ttl);
    ASSERT_TRUE(a);
    EXPECT_FALSE(*a) << job << ": node-2 got a lease node-1 holds";
    auto b = store_->TryAcquireLease(job, "node-1", clock_.Now(), opt.lease_ttl);
    ASSERT_TRUE(b);
    EXPECT_TRUE(*b) << job;
  }
  // node-1 stops (releases): node-2 takes over on its next round.
  first.Stop();
  second.RunOnce();
  for (const char* job : {"retention", "offline", "cleanup"}) {
    EXPECT_FALSE(*store_->TryAcquireLease(job, "node-1", clock_.Now(), opt.lease_ttl)) << job;
  }
  second.Stop();
}

}  // namespace
}  // namespace ward::manager
