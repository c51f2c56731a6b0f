// Egress reputation feeds in the store (issue #17, s9-feeds; docs/egress.md "Managed feeds") on
// SQLite, PostgreSQL and MariaDB: create, names unique per tenant, content only on request,
// replace, shared feeds across tenants, delete, and another tenant's ids never found.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>

#include "manager/store/scratch_database.h"
#include "manager/store/soci_store.h"
#include "manager/store/store.h"
#include "manager/store/store_test_util.h"

namespace ward::manager {
namespace {

using std::chrono::microseconds;
using std::chrono::seconds;

const TimePoint kT0 = TimePoint(microseconds(1'789'948'800'000'000LL));

class EgressFeedStore : public ::testing::TestWithParam<Dialect> {
 protected:
  void SetUp() override {
    auto db = ScratchDatabase::Create(GetParam());
    ASSERT_TRUE(db.has_value()) << db.error().ToString();
    db_ = std::move(db).value();
    auto s = Store::Open(db_->url());
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(s).value();
    ASSERT_OK(store_->Migrate());
    for (const char* id : {"tenant-a", "tenant-b"}) {
      Tenant t;
      t.id = id;
      t.name = id;
      t.created_at = kT0;
      ASSERT_OK(store_->CreateTenant(t));
    }
  }

  static EgressFeed Feed(const std::string& tenant, const std::string& id, const std::string& name,
                         const std::string& content, bool shared = false) {
    EgressFeed f;
    f.tenant_id = tenant;
    f.id = id;
    f.name = name;
    f.format = "domains";
    f.shared = shared;
    f.content = content;
    f.sha256 = std::string(64, 'a');
    f.size = static_cast<int64_t>(content.size());
    f.entries = 1;
    f.created_at = f.updated_at = kT0;
    return f;
  }

  std::unique_ptr<ScratchDatabase> db_;
  std::unique_ptr<Store> store_;
};

TEST_P(EgressFeedStore, KeepsEachTenantsFeedsApart) {
  // A feed bigger than a MySQL TEXT (64 KiB) and with every printable byte survives.
  std::string big;
  for (int i = 0; i < 20000; ++i) big += fmt::format("host{}.example\n", i);
  ASSERT_OK(store_->CreateEgressFeed(Feed("tenant-a", "f1", "urlhaus", big)));
  ASSERT_OK(store_->CreateEgressFeed(Feed("tenant-a", "f2", "ads", "ads.example\n")));
  ASSERT_OK(store_->CreateEgressFeed(Feed("tenant-b", "f3", "urlhaus", "b.example\n")));
  // Names are unique in a tenant.
  EXPECT_EQ(store_->CreateEgressFeed(Feed("tenant-a", "f4", "ads", "x.example\n")).code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->CreateEgressFeed(Feed("no-such-tenant", "f5", "x", "x.example\n")).code(),
            StatusCode::kNotFound);

  auto list = OK(store_->ListEgressFeeds("tenant-a"));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "ads");  // by name
  EXPECT_EQ(list[1].name, "urlhaus");
  EXPECT_EQ(list[1].size, static_cast<int64_t>(big.size()));
  EXPECT_TRUE(list[1].content.empty());  // never in lists
  auto meta = OK(store_->GetEgressFeed("tenant-a", "f1", false));
  EXPECT_TRUE(meta.content.empty());
  EXPECT_EQ(meta.created_at, kT0);
  auto full = OK(store_->GetEgressFeed("tenant-a", "f1", true));
  EXPECT_EQ(full.content, big);
  EXPECT_EQ(full.format, "domains");

  // Another tenant's id is no feed, for every call.
  EXPECT_EQ(store_->GetEgressFeed("tenant-b", "f1", true).error().code(), StatusCode::kNotFound);
  EgressFeed steal = Feed("tenant-b", "f1", "urlhaus", "stolen.example\n");
  EXPECT_EQ(store_->UpdateEgressFeed(steal).code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteEgressFeed("tenant-b", "f1").code(), StatusCode::kNotFound);
  EXPECT_EQ(OK(store_->GetEgressFeed("tenant-a", "f1", true)).content, big);

  // Replace: content, hash, format, shared flag and time.
  EgressFeed next = Feed("tenant-a", "f2", "ads", "0.0.0.0 ads2.example\n", true);
  next.format = "hosts";
  next.sha256 = std::string(64, 'b');
  next.updated_at = kT0 + seconds(5);
  ASSERT_OK(store_->UpdateEgressFeed(next));
  auto got = OK(store_->GetEgressFeed("tenant-a", "f2", true));
  EXPECT_EQ(got.content, "0.0.0.0 ads2.example\n");
  EXPECT_EQ(got.format, "hosts");
  EXPECT_TRUE(got.shared);
  EXPECT_EQ(got.sha256, std::string(64, 'b'));
  EXPECT_EQ(got.updated_at, kT0 + seconds(5));
  EXPECT_EQ(got.created_at, kT0);

  // Shared feeds of every tenant, without content.
  auto shared = OK(store_->ListSharedEgressFeeds());
  ASSERT_EQ(shared.size(), 1u);
  EXPECT_EQ(shared[0].tenant_id, "tenant-a");
  EXPECT_EQ(shared[0].name, "ads");
  EXPECT_TRUE(shared[0].content.empty());

  ASSERT_OK(store_->DeleteEgressFeed("tenant-a", "f2"));
  EXPECT_EQ(store_->GetEgressFeed("tenant-a", "f2", false).error().code(), StatusCode::kNotFound);
  EXPECT_TRUE(OK(store_->ListSharedEgressFeeds()).empty());
  EXPECT_EQ(OK(store_->ListEgressFeeds("tenant-b")).size(), 1u);
}

std::string BackendName(const ::testing::TestParamInfo<Dialect>& info) {
  return std::string(DialectName(info.param));
}

INSTANTIATE_TEST_SUITE_P(Backends, EgressFeedStore,
                         ::testing::Values(Dialect::kSqlite, Dialect::kPostgres, Dialect::kMysql),
                         BackendName);

}  // namespace
}  // namespace ward::manager
