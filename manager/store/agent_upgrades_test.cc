// Agent upgrade rollouts in the store (issue #18, s9-upgrade; docs/updates.md "Agent upgrades")
// on SQLite, PostgreSQL and MariaDB: rollouts per agent group or policy (replace, list, delete,
// progress only for the generation it was read at), agents' states (replace, list per scope),
// and tenancy: another tenant's group or policy is not found and its rows are never seen.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "manager/store/scratch_database.h"
#include "manager/store/soci_store.h"
#include "manager/store/store.h"
#include "manager/store/store_test_util.h"

namespace ward::manager {
namespace {

using std::chrono::microseconds;
using std::chrono::seconds;

const TimePoint kT0 = TimePoint(microseconds(1'789'948'800'000'000LL));

class AgentUpgradeStore : public ::testing::TestWithParam<Dialect> {
 protected:
  void SetUp() override {
    auto db = ScratchDatabase::Create(GetParam());
    ASSERT_TRUE(db.has_value()) << db.error().ToString();
    db_ = std::move(db).value();
    auto s = Store::Open(db_->url());
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(s).value();
    ASSERT_OK(store_->Migrate());
    for (const char* t : {"a", "b"}) {
      Tenant tenant;
      tenant.id = fmt::format("tenant-{}", t);
      tenant.name = tenant.id;
      tenant.created_at = kT0;
      ASSERT_OK(store_->CreateTenant(tenant));
      Policy p;
      p.id = fmt::format("{}-web", tenant.id);
      p.tenant_id = tenant.id;
      p.name = "web";
      p.created_at = p.updated_at = kT0;
      ASSERT_OK(store_->CreatePolicy(p));
      AgentGroup g;
      g.id = fmt::format("{}-group", tenant.id);
      g.tenant_id = tenant.id;
      g.name = "web";
      g.created_at = g.updated_at = kT0;
      ASSERT_OK(store_->CreateAgentGroup(g));
    }
  }

  UpgradeRollout Rollout(const std::string& t, const std::string& scope, TimePoint at = kT0) {
    UpgradeRollout r;
    r.tenant_id = "tenant-" + t;
    r.scope = scope;
    r.scope_id = r.tenant_id + (scope == "group" ? "-group" : "-web");
    r.target_version = "0.2.0";
    r.first_wave_percent = 25;
    r.timeout_s = 900;
    r.created_at = at;
    return r;
  }

  AgentUpgradeState State(const UpgradeRollout& r, const std::string& agent,
                          const std::string& state) {
    AgentUpgradeState s;
    s.tenant_id = r.tenant_id;
    s.agent_id = agent;
    s.scope = r.scope;
    s.scope_id = r.scope_id;
    s.generation = r.created_at;
    s.target_version = r.target_version;
    s.state = state;
    s.wave = 1;
    s.updated_at = kT0 + seconds(5);
    return s;
  }

  std::unique_ptr<ScratchDatabase> db_;
  std::unique_ptr<Store> store_;
};

TEST_P(AgentUpgradeStore, RolloutsAreReplacedListedProgressedAndDeleted) {
  UpgradeRollout g = Rollout("a", "group");
  ASSERT_OK(store_->PutUpgradeRollout(g));
  ASSERT_OK(store_->PutUpgradeRollout(Rollout("a", "policy")));
  UpgradeRollout got = OK(store_->GetUpgradeRollout("tenant-a", "group", "tenant-a-group"));
  EXPECT_EQ(got.target_version, "0.2.0");
  EXPECT_EQ(got.first_wave_percent, 25);
  EXPECT_EQ(got.timeout_s, 900);
  EXPECT_EQ(got.created_at, kT0);
  EXPECT_FALSE(got.second_wave_at.has_value());
  EXPECT_FALSE(got.stopped_reason.has_value());
  EXPECT_EQ(OK(store_->ListUpgradeRollouts("tenant-a")).size(), 2u);

  // Progress is stored for the generation it was planned on only.
  got.second_wave_at = kT0 + seconds(60);
  got.stopped_reason = "agent x timed-out: not back";
  ASSERT_OK(store_->UpdateUpgradeRolloutProgress(got));
  got = OK(store_->GetUpgradeRollout("tenant-a", "group", "tenant-a-group"));
  EXPECT_EQ(got.second_wave_at, kT0 + seconds(60));
  EXPECT_EQ(got.stopped_reason, "agent x timed-out: not back");
  // Replaced by a new one (another version, a new generation): progress starts afresh, and an
  // update planned on the old generation is refused.
  UpgradeRollout next = Rollout("a", "group", kT0 + seconds(120));
  next.target_version = "0.3.0~rc1";
  ASSERT_OK(store_->PutUpgradeRollout(next));
  EXPECT_EQ(store_->UpdateUpgradeRolloutProgress(got).code(), StatusCode::kNotFound);
  got = OK(store_->GetUpgradeRollout("tenant-a", "group", "tenant-a-group"));
  EXPECT_EQ(got.target_version, "0.3.0~rc1");
  EXPECT_FALSE(got.second_wave_at.has_value());
  EXPECT_FALSE(got.stopped_reason.has_value());
  EXPECT_EQ(OK(store_->ListUpgradeRollouts("tenant-a")).size(), 2u);

  ASSERT_OK(store_->DeleteUpgradeRollout("tenant-a", "group", "tenant-a-group"));
  EXPECT_EQ(store_->GetUpgradeRollout("tenant-a", "group", "tenant-a-group").error().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteUpgradeRollout("tenant-a", "group", "tenant-a-group").code(),
            StatusCode::kNotFound);
  EXPECT_EQ(OK(store_->ListUpgradeRollouts("tenant-a")).size(), 1u);
}

TEST_P(AgentUpgradeStore, ABadRolloutOrAnotherTenantsScopeIsRefused) {
  UpgradeRollout r = Rollout("a", "group");
  r.scope_id = "tenant-b-group";  // B's group in A's rollout
  Status s = store_->PutUpgradeRollout(r);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("agent group"), std::string::npos) << s.ToString();
  r = Rollout("a", "policy");
  r.scope_id = "tenant-b-web";
  s = store_->PutUpgradeRollout(r);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("policy"), std::string::npos) << s.ToString();
  r = Rollout("a", "tenant");
  EXPECT_EQ(store_->PutUpgradeRollout(r).code(), StatusCode::kInvalidArgument);
  r = Rollout("a", "group");
  r.first_wave_percent = 0;
  EXPECT_EQ(store_->PutUpgradeRollout(r).code(), StatusCode::kInvalidArgument);
  r = Rollout("a", "group");
  r.target_version = "";
  EXPECT_EQ(store_->PutUpgradeRollout(r).code(), StatusCode::kInvalidArgument);
  // B's rollout is B's: A's lists and lookups never see it, A cannot delete it.
  ASSERT_OK(store_->PutUpgradeRollout(Rollout("b", "group")));
  EXPECT_TRUE(OK(store_->ListUpgradeRollouts("tenant-a")).empty());
  EXPECT_EQ(store_->GetUpgradeRollout("tenant-a", "group", "tenant-b-group").error().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteUpgradeRollout("tenant-a", "group", "tenant-b-group").code(),
            StatusCode::kNotFound);
  EXPECT_EQ(OK(store_->ListUpgradeRollouts("tenant-b")).size(), 1u);
}

TEST_P(AgentUpgradeStore, AgentStatesAreReplacedPerAgentAndListedPerScope) {
  UpgradeRollout g = Rollout("a", "group");
  UpgradeRollout p = Rollout("a", "policy");
  ASSERT_OK(store_->PutUpgradeRollout(g));
  ASSERT_OK(store_->PutUpgradeRollout(p));
  AgentUpgradeState s1 = State(g, "agent-1", "pending");
  AgentUpgradeState s2 = State(g, "agent-2", "installing");
  s2.offered_at = kT0 + seconds(3);
  s2.wave = 2;
  AgentUpgradeState s3 = State(p, "agent-3", "failed");
  s3.error = "signature does not verify";
  ASSERT_OK(store_->PutAgentUpgradeStates("tenant-a", {s2, s1, s3}));
  auto list = OK(store_->ListAgentUpgradeStates("tenant-a", "group", "tenant-a-group"));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].agent_id, "agent-1");
  EXPECT_EQ(list[0].state, "pending");
  EXPECT_FALSE(list[0].offered_at.has_value());
  EXPECT_FALSE(list[0].error.has_value());
  EXPECT_EQ(list[1].agent_id, "agent-2");
  EXPECT_EQ(list[1].state, "installing");
  EXPECT_EQ(list[1].wave, 2);
  EXPECT_EQ(list[1].offered_at, kT0 + seconds(3));
  EXPECT_EQ(list[1].generation, kT0);
  EXPECT_EQ(list[1].target_version, "0.2.0");
  auto pol = OK(store_->ListAgentUpgradeStates("tenant-a", "policy", "tenant-a-web"));
  ASSERT_EQ(pol.size(), 1u);
  EXPECT_EQ(pol[0].error, "signature does not verify");
  // One row per agent: an agent that moves to another scope leaves the first one.
  AgentUpgradeState moved = State(p, "agent-1", "done");
  ASSERT_OK(store_->PutAgentUpgradeStates("tenant-a", {moved}));
  EXPECT_EQ(OK(store_->ListAgentUpgradeStates("tenant-a", "group", "tenant-a-group")).size(), 1u);
  EXPECT_EQ(OK(store_->ListAgentUpgradeStates("tenant-a", "policy", "tenant-a-web")).size(), 2u);
  // Another tenant's rows are never seen, and a state naming another tenant is refused.
  EXPECT_TRUE(OK(store_->ListAgentUpgradeStates("tenant-b", "group", "tenant-a-group")).empty());
  EXPECT_EQ(store_->PutAgentUpgradeStates("tenant-b", {s1}).code(), StatusCode::kInvalidArgument);
  // Deleting a rollout deletes its states.
  ASSERT_OK(store_->DeleteUpgradeRollout("tenant-a", "policy", "tenant-a-web"));
  EXPECT_TRUE(OK(store_->ListAgentUpgradeStates("tenant-a", "policy", "tenant-a-web")).empty());
  EXPECT_EQ(OK(store_->ListAgentUpgradeStates("tenant-a", "group", "tenant-a-group")).size(), 1u);
  // Deleting the tenant deletes its rollouts and states.
  ASSERT_OK(store_->DeleteTenant("tenant-a"));
  EXPECT_TRUE(OK(store_->ListUpgradeRollouts("tenant-a")).empty());
  EXPECT_TRUE(OK(store_->ListAgentUpgradeStates("tenant-a", "group", "tenant-a-group")).empty());
}

std::string BackendName(const ::testing::TestParamInfo<Dialect>& info) {
  return std::string(DialectName(info.param));
}

INSTANTIATE_TEST_SUITE_P(Backends, AgentUpgradeStore,
                         ::testing::Values(Dialect::kSqlite, Dialect::kPostgres, Dialect::kMysql),
                         BackendName);

}  // namespace
}  // namespace ward::manager
