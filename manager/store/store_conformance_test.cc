// One conformance suite for every Store backend, against real databases: SQLite files, and the
// PostgreSQL 15 and MariaDB servers tests/databases.cmake starts (a fresh database per test).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "manager/store/schema.h"
#include "manager/store/scratch_database.h"
#include "manager/store/soci_store.h"
#include "manager/store/store.h"

namespace ward::manager {
namespace {

using json = nlohmann::json;
using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::minutes;
using std::chrono::seconds;

::testing::AssertionResult StatusIsOk(const Status& s) {
  if (s.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << s.ToString();
}
#define EXPECT_OK(expr) EXPECT_TRUE(StatusIsOk(expr))
#define ASSERT_OK(expr) ASSERT_TRUE(StatusIsOk(expr))

template <typename T>
T Ok(Result<T> r, const char* what) {
  if (!r.has_value()) {
    ADD_FAILURE() << what << ": " << r.error().ToString();
    return T{};
  }
  return std::move(r).value();
}
#define OK(expr) Ok((expr), #expr)

template <typename T>
StatusCode CodeOf(const Result<T>& r) {
  return r.has_value() ? StatusCode::kOk : r.error().code();
}
StatusCode CodeOf(const Status& s) { return s.code(); }

// 2026-09-21T00:00:00Z: every time in these tests is explicit (microsecond precision).
const TimePoint kT0 = TimePoint(microseconds(1'789'948'800'000'000LL));

class StoreConformance : public ::testing::TestWithParam<Dialect> {
 protected:
  void SetUp() override {
    auto db = ScratchDatabase::Create(GetParam());
    ASSERT_TRUE(db.has_value()) << db.error().ToString();
    db_ = std::move(db).value();
    store_ = Open();
    ASSERT_NE(store_, nullptr);
    ASSERT_OK(store_->Migrate());
  }
  void TearDown() override {
    store_.reset();
    db_.reset();
  }

  std::unique_ptr<Store> Open() {
    auto s = Store::Open(db_->url());
    if (!s.has_value()) {
      ADD_FAILURE() << "open " << db_->url() << ": " << s.error().ToString();
      return nullptr;
    }
    return std::move(s).value();
  }

  std::string NewId(std::string_view prefix = "id") {
    return fmt::format("{}-{:08d}", prefix, ++next_id_);
  }

  Tenant MakeTenant(const std::string& name) {
    Tenant t;
    t.id = NewId("tenant");
    t.name = name;
    t.created_at = kT0;
    EXPECT_OK(store_->CreateTenant(t));
    return t;
  }

  // A user of `t` (not stored yet: the test sets what it needs, then creates it).
  User UserOf(const Tenant& t, const std::string& username) {
    User u;
    u.id = NewId("user");
    u.tenant_id = t.id;
    u.username = username;
    u.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
    u.created_at = kT0;
    return u;
  }

  Agent MakeAgent(const Tenant& t, const std::string& hostname, bool online = true,
                  std::optional<TimePoint> last_seen = kT0) {
    Agent a;
    a.id = NewId("agent");
    a.tenant_id = t.id;
    a.hostname = hostname;
    a.machine_id = "m-" + hostname;
    a.version = "0.1.0";
    a.credential_hash = fmt::format("{:064x}", ++next_id_);
    a.online = online;
    a.last_seen = last_seen;
    a.status = {{"modules", {{"integrity", "running"}}}};
    a.created_at = kT0;
    EXPECT_OK(store_->CreateAgent(a));
    return a;
  }

  Policy MakePolicy(const Tenant& t, const std::string& name) {
    Policy p;
    p.id = NewId("policy");
    p.tenant_id = t.id;
    p.name = name;
    p.document = {{"integrity", {{"paths", {"/etc"}}}}};
    p.created_at = kT0;
    p.updated_at = kT0;
    EXPECT_OK(store_->CreatePolicy(p));
    return p;
  }

  StoredEvent MakeEvent(const std::string& tenant, const std::string& agent, TimePoint ts,
                        const std::string& module = "integrity", int severity = 3,
                        std::string id = "") {
    StoredEvent e;
    e.id = id.empty() ? NewId("event") : std::move(id);
    e.tenant_id = tenant;
    e.agent_id = agent;
    e.timestamp = ts;
    e.module = module;
    e.action = "file_changed";
    e.severity = severity;
    e.path = "/etc/passwd";
    e.rule = "";
    e.doc = {{"event", {{"id", e.id}, {"module", module}}}, {"file", {{"path", e.path}}}};
    return e;
  }

  int64_t CountAll(const std::string& tenant) {
    auto counts = OK(store_->CountEvents(tenant, EventQuery{}, hours(24 * 365 * 100)));
    int64_t n = 0;
    for (const auto& c : counts) n += c.count;
    return n;
  }

  std::unique_ptr<ScratchDatabase> db_;
  std::unique_ptr<Store> store_;
  int next_id_ = 0;
};

TEST_P(StoreConformance, MigrateIsVersionedAndIdempotent) {
  EXPECT_EQ(OK(store_->SchemaVersion()), static_cast<int>(Migrations().size()));
  EXPECT_OK(store_->Migrate());
  auto other = Open();
  ASSERT_NE(other, nullptr);
  EXPECT_OK(other->Migrate());
  EXPECT_EQ(OK(other->SchemaVersion()), static_cast<int>(Migrations().size()));

  auto empty = ScratchDatabase::Create(GetParam());
  ASSERT_TRUE(empty.has_value()) << empty.error().ToString();
  auto fresh = Store::Open((*empty)->url());
  ASSERT_TRUE(fresh.has_value()) << fresh.error().ToString();
  EXPECT_EQ(OK((*fresh)->SchemaVersion()), 0);
}

TEST_P(StoreConformance, ConcurrentMigrationsOfAnEmptyDatabaseBothSucceed) {
  auto empty = ScratchDatabase::Create(GetParam());
  ASSERT_TRUE(empty.has_value()) << empty.error().ToString();
  std::vector<std::unique_ptr<Store>> nodes;
  for (int i = 0; i < 3; ++i) {
    auto s = Store::Open((*empty)->url());
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    nodes.push_back(std::move(s).value());
  }
  std::vector<Status> results(nodes.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < nodes.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = nodes[i]->Migrate(); });
  }
  for (auto& th : threads) th.join();
  for (const auto& r : results) EXPECT_OK(r);
  EXPECT_EQ(OK(nodes[0]->SchemaVersion()), static_cast<int>(Migrations().size()));
  Tenant t;
  t.id = "t1";
  t.name = "after-migration";
  t.created_at = kT0;
  EXPECT_OK(nodes[1]->CreateTenant(t));
}

TEST_P(StoreConformance, TenantsRoundTripAndNamesAreUnique) {
  Tenant t = MakeTenant("project-a");
  t.settings.event_retention_days = 28;
  t.settings.heartbeat_interval_s = 15;
  t.settings.inactive_agent_cleanup_days = 0;
  t.disabled = true;
  t.name = "project-a2";
  EXPECT_OK(store_->UpdateTenant(t));
  Tenant got = OK(store_->GetTenant(t.id));
  EXPECT_EQ(got.name, "project-a2");
  EXPECT_TRUE(got.disabled);
  EXPECT_FALSE(got.primary);
  EXPECT_EQ(got.settings.event_retention_days, 28);
  EXPECT_EQ(got.settings.heartbeat_interval_s, 15);
  EXPECT_EQ(got.settings.inactive_agent_cleanup_days, 0);
  EXPECT_EQ(got.created_at, kT0);

  Tenant dup;
  dup.id = NewId("tenant");
  dup.name = "project-a2";
  EXPECT_EQ(CodeOf(store_->CreateTenant(dup)), StatusCode::kAlreadyExists);
  Tenant same_id = t;
  same_id.name = "other";
  EXPECT_EQ(CodeOf(store_->CreateTenant(same_id)), StatusCode::kAlreadyExists);

  Tenant second = MakeTenant("project-b");
  EXPECT_EQ(CodeOf(store_->GetTenant("nope")), StatusCode::kNotFound);
  Tenant ghost;
  ghost.id = "nope";
  ghost.name = "ghost";
  EXPECT_EQ(CodeOf(store_->UpdateTenant(ghost)), StatusCode::kNotFound);
  second.name = "project-a2";
  EXPECT_EQ(CodeOf(store_->UpdateTenant(second)), StatusCode::kAlreadyExists);
  auto all = OK(store_->ListTenants());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, t.id);
  EXPECT_EQ(all[1].id, second.id);
}

TEST_P(StoreConformance, TenantAndFirstKeyAreCreatedTogetherOrNotAtAll) {
  Tenant t;
  t.id = NewId("tenant");
  t.name = "project-a";
  t.settings.heartbeat_interval_s = 20;
  t.created_at = kT0;
  ApiKey k;
  k.id = NewId("key");
  k.tenant_id = t.id;
  k.name = "initial admin";
  k.role = Role::kAdmin;
  k.secret_hash = std::string(64, 'a');
  k.created_at = kT0;
  ASSERT_OK(store_->CreateTenantWithKey(t, k));
  Tenant got = OK(store_->GetTenant(t.id));
  EXPECT_EQ(got.name, "project-a");
  EXPECT_EQ(got.settings.heartbeat_interval_s, 20);
  ApiKey found = OK(store_->FindApiKeyByHash(k.secret_hash));
  EXPECT_EQ(found.id, k.id);
  EXPECT_EQ(found.tenant_id, t.id);
  EXPECT_EQ(found.role, Role::kAdmin);

  // The key's hash is taken: the tenant is not stored either.
  Tenant second = t;
  second.id = NewId("tenant");
  second.name = "project-b";
  ApiKey second_key = k;
  second_key.id = NewId("key");
  second_key.tenant_id = second.id;
  EXPECT_EQ(CodeOf(store_->CreateTenantWithKey(second, second_key)), StatusCode::kAlreadyExists);
  EXPECT_EQ(CodeOf(store_->GetTenant(second.id)), StatusCode::kNotFound);
  // The tenant's name is taken: the key is not stored.
  second.name = "project-a";
  second_key.secret_hash = std::string(64, 'b');
  EXPECT_EQ(CodeOf(store_->CreateTenantWithKey(second, second_key)), StatusCode::kAlreadyExists);
  EXPECT_EQ(CodeOf(store_->FindApiKeyByHash(second_key.secret_hash)), StatusCode::kNotFound);
  // Too long a key name is refused before anything is written.
  second.name = "project-b";
  second_key.name = std::string(256, 'n');
  EXPECT_EQ(CodeOf(store_->CreateTenantWithKey(second, second_key)), StatusCode::kInvalidArgument);
  // The key must belong to the new tenant.
  second_key.name = "initial admin";
  second_key.tenant_id = t.id;
  EXPECT_EQ(CodeOf(store_->CreateTenantWithKey(second, second_key)), StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(store_->GetTenant(second.id)), StatusCode::kNotFound);
  EXPECT_EQ(OK(store_->ListTenants()).size(), 1u);
  EXPECT_EQ(OK(store_->ListApiKeys(t.id)).size(), 1u);

  second_key.tenant_id = second.id;
  ASSERT_OK(store_->CreateTenantWithKey(second, second_key));
  EXPECT_EQ(OK(store_->FindApiKeyByHash(second_key.secret_hash)).tenant_id, second.id);
  EXPECT_EQ(OK(store_->ListTenants()).size(), 2u);
}

TEST_P(StoreConformance, ApiKeysAreFoundByHashAndRevoked) {
  Tenant t = MakeTenant("a");
  ApiKey k;
  k.id = NewId("key");
  k.tenant_id = t.id;
  k.name = "ci";
  k.role = Role::kOperator;
  k.secret_hash = std::string(64, 'a');
  k.expires_at = kT0 + hours(24);
  k.created_at = kT0;
  ASSERT_OK(store_->CreateApiKey(k));
  ApiKey found = OK(store_->FindApiKeyByHash(k.secret_hash));
  EXPECT_EQ(found.id, k.id);
  EXPECT_EQ(found.tenant_id, t.id);
  EXPECT_EQ(found.role, Role::kOperator);
  EXPECT_EQ(found.expires_at, k.expires_at);
  EXPECT_FALSE(found.revoked);
  EXPECT_EQ(CodeOf(store_->FindApiKeyByHash(std::string(64, 'b'))), StatusCode::kNotFound);

  ApiKey dup = k;
  dup.id = NewId("key");
  EXPECT_EQ(CodeOf(store_->CreateApiKey(dup)), StatusCode::kAlreadyExists);
  ApiKey orphan = k;
  orphan.id = NewId("key");
  orphan.tenant_id = "no-such-tenant";
  orphan.secret_hash = std::string(64, 'c');
  EXPECT_EQ(CodeOf(store_->CreateApiKey(orphan)), StatusCode::kNotFound);

  ASSERT_OK(store_->RevokeApiKey(t.id, k.id));
  EXPECT_TRUE(OK(store_->GetApiKey(t.id, k.id)).revoked);
  EXPECT_TRUE(OK(store_->FindApiKeyByHash(k.secret_hash)).revoked);
  EXPECT_OK(store_->RevokeApiKey(t.id, k.id));  // idempotent
  EXPECT_EQ(OK(store_->ListApiKeys(t.id)).size(), 1u);
}

TEST_P(StoreConformance, ActivationTokensEnforceUseLimitExpiryAndRevocation) {
  Tenant t = MakeTenant("a");
  Policy p = MakePolicy(t, "web");
  ActivationToken tok;
  tok.id = NewId("tok");
  tok.tenant_id = t.id;
  tok.name = "asg";
  tok.token_hash = std::string(64, '1');
  tok.policy_id = p.id;
  tok.max_uses = 2;
  tok.expires_at = kT0 + hours(1);
  tok.created_at = kT0;
  ASSERT_OK(store_->CreateActivationToken(tok));

  ActivationToken used = OK(store_->UseActivationToken(tok.token_hash, kT0));
  EXPECT_EQ(used.uses, 1);
  EXPECT_EQ(used.policy_id, p.id);
  EXPECT_EQ(used.tenant_id, t.id);
  EXPECT_EQ(OK(store_->UseActivationToken(tok.token_hash, kT0 + minutes(1))).uses, 2);
  EXPECT_EQ(CodeOf(store_->UseActivationToken(tok.token_hash, kT0 + minutes(2))),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(OK(store_->GetActivationToken(t.id, tok.id)).uses, 2);

  ActivationToken unlimited = tok;
  unlimited.id = NewId("tok");
  unlimited.token_hash = std::string(64, '2');
  unlimited.max_uses.reset();
  unlimited.policy_id.reset();
  ASSERT_OK(store_->CreateActivationToken(unlimited));
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(store_->UseActivationToken(unlimited.token_hash, kT0).has_value());
  }
  EXPECT_EQ(CodeOf(store_->UseActivationToken(unlimited.token_hash, kT0 + hours(1))),
            StatusCode::kUnauthenticated)
      << "expired at exactly expires_at";
  EXPECT_TRUE(store_->UseActivationToken(unlimited.token_hash, kT0 + hours(1) - microseconds(1))
                  .has_value());

  ASSERT_OK(store_->RevokeActivationToken(t.id, unlimited.id));
  EXPECT_EQ(CodeOf(store_->UseActivationToken(unlimited.token_hash, kT0)),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(CodeOf(store_->UseActivationToken(std::string(64, '9'), kT0)),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(OK(store_->ListActivationTokens(t.id)).size(), 2u);

  // A token may only carry a policy of its own tenant.
  Tenant other = MakeTenant("b");
  ActivationToken foreign = tok;
  foreign.id = NewId("tok");
  foreign.tenant_id = other.id;
  foreign.token_hash = std::string(64, '3');
  EXPECT_EQ(CodeOf(store_->CreateActivationToken(foreign)), StatusCode::kNotFound);
}

TEST_P(StoreConformance, ActivationTokenUseLimitHoldsUnderConcurrency) {
  Tenant t = MakeTenant("a");
  ActivationToken tok;
  tok.id = NewId("tok");
  tok.tenant_id = t.id;
  tok.name = "limited";
  tok.token_hash = std::string(64, '4');
  tok.max_uses = 5;
  tok.created_at = kT0;
  ASSERT_OK(store_->CreateActivationToken(tok));
  std::atomic<int> ok{0}, refused{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 5; ++j) {
        auto r = store_->UseActivationToken(tok.token_hash, kT0);
        if (r.has_value()) {
          ++ok;
        } else if (r.error().code() == StatusCode::kUnauthenticated) {
          ++refused;
        } else {
          ++other;
          ADD_FAILURE() << r.error().ToString();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 5);
  EXPECT_EQ(refused.load(), 15);
  EXPECT_EQ(OK(store_->GetActivationToken(t.id, tok.id)).uses, 5);
}

TEST_P(StoreConformance, AgentsHeartbeatFilterAssignAndDelete) {
  Tenant t = MakeTenant("a");
  Policy p = MakePolicy(t, "base");
  Agent a = MakeAgent(t, "web-1", /*online=*/false, std::nullopt);
  Agent b = MakeAgent(t, "web-2");
  Agent got = OK(store_->FindAgentByCredentialHash(a.credential_hash));
  EXPECT_EQ(got.id, a.id);
  EXPECT_EQ(got.status, a.status);
  EXPECT_FALSE(got.last_seen.has_value());

  Agent hb = a;
  hb.last_seen = kT0 + seconds(5);
  hb.version = "0.2.0";
  hb.applied_policy_version = 3;
  hb.status = {{"queue", 7}};
  EXPECT_TRUE(OK(store_->RecordHeartbeat(hb))) << "was offline";
  EXPECT_FALSE(OK(store_->RecordHeartbeat(hb))) << "already online";
  got = OK(store_->GetAgent(t.id, a.id));
  EXPECT_TRUE(got.online);
  EXPECT_EQ(got.version, "0.2.0");
  EXPECT_EQ(got.applied_policy_version, 3);
  EXPECT_EQ(got.last_seen, kT0 + seconds(5));
  EXPECT_EQ(got.status, json({{"queue", 7}}));

  ASSERT_OK(store_->AssignPolicy(t.id, b.id, p.id));
  ASSERT_OK(store_->AssignPolicy(t.id, b.id, p.id));  // same again is fine
  EXPECT_EQ(OK(store_->GetAgent(t.id, b.id)).policy_id, p.id);
  EXPECT_EQ(CodeOf(store_->AssignPolicy(t.id, b.id, std::string("nope"))), StatusCode::kNotFound);

  AgentFilter by_policy;
  by_policy.policy_id = p.id;
  auto list = OK(store_->ListAgents(t.id, by_policy));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].id, b.id);
  AgentFilter by_host;
  by_host.hostname = "web-1";
  list = OK(store_->ListAgents(t.id, by_host));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].id, a.id);
  AgentFilter offline;
  offline.online = false;
  EXPECT_TRUE(OK(store_->ListAgents(t.id, offline)).empty());
  EXPECT_EQ(OK(store_->ListAgents(t.id, AgentFilter{})).size(), 2u);

  ASSERT_OK(store_->AssignPolicy(t.id, b.id, std::nullopt));
  EXPECT_FALSE(OK(store_->GetAgent(t.id, b.id)).policy_id.has_value());
  ASSERT_OK(store_->DeleteAgent(t.id, b.id));
  EXPECT_EQ(CodeOf(store_->GetAgent(t.id, b.id)), StatusCode::kNotFound);
  EXPECT_EQ(CodeOf(store_->DeleteAgent(t.id, b.id)), StatusCode::kNotFound);
  Agent dup = a;
  dup.id = NewId("agent");
  EXPECT_EQ(CodeOf(store_->CreateAgent(dup)), StatusCode::kAlreadyExists) << "credential reused";
}

TEST_P(StoreConformance, MarkOfflineUsesEachTenantsHeartbeatInterval) {
  Tenant slow = MakeTenant("slow");  // heartbeat 60 s: offline after 180 s
  Tenant fast = MakeTenant("fast");
  fast.settings.heartbeat_interval_s = 10;  // offline after 30 s
  ASSERT_OK(store_->UpdateTenant(fast));
  TimePoint now = kT0 + hours(1);
  Agent stale = MakeAgent(slow, "stale", true, now - seconds(181));
  Agent fresh = MakeAgent(slow, "fresh", true, now - seconds(100));
  Agent fast_stale = MakeAgent(fast, "fast-stale", true, now - seconds(31));
  Agent already = MakeAgent(fast, "already", false, now - hours(10));
  auto marked = OK(store_->MarkOffline(now));
  std::set<std::string> ids;
  for (const auto& a : marked) {
    ids.insert(a.id);
    EXPECT_FALSE(a.online);
  }
  EXPECT_EQ(ids, (std::set<std::string>{stale.id, fast_stale.id}));
  EXPECT_FALSE(OK(store_->GetAgent(slow.id, stale.id)).online);
  EXPECT_TRUE(OK(store_->GetAgent(slow.id, fresh.id)).online);
  EXPECT_TRUE(OK(store_->MarkOffline(now)).empty());

  // Inactive cleanup: offline agents last seen before the cutoff, one tenant only.
  EXPECT_EQ(OK(store_->DeleteInactiveAgents(fast.id, now - hours(5))), 1);  // `already`
  EXPECT_EQ(CodeOf(store_->GetAgent(fast.id, already.id)), StatusCode::kNotFound);
  EXPECT_EQ(OK(store_->DeleteInactiveAgents(slow.id, now)), 1);  // `stale`
  EXPECT_TRUE(store_->GetAgent(slow.id, fresh.id).has_value());
  EXPECT_TRUE(store_->GetAgent(fast.id, fast_stale.id).has_value());
}

TEST_P(StoreConformance, PoliciesVersionAndRefuseDeleteWhileUsed) {
  Tenant t = MakeTenant("a");
  Policy p = MakePolicy(t, "base");
  Policy same_name = p;
  same_name.id = NewId("policy");
  EXPECT_EQ(CodeOf(store_->CreatePolicy(same_name)), StatusCode::kAlreadyExists);
  Tenant other = MakeTenant("b");
  same_name.tenant_id = other.id;
  EXPECT_OK(store_->CreatePolicy(same_name)) << "names are unique per tenant only";

  json doc = {{"integrity", {{"paths", {"/srv"}}}}};
  Policy updated = OK(store_->UpdatePolicy(t.id, p.id, "base-v2", doc, kT0 + hours(1)));
  EXPECT_EQ(updated.version, 2);
  EXPECT_EQ(updated.name, "base-v2");
  EXPECT_EQ(updated.document, doc);
  EXPECT_EQ(updated.updated_at, kT0 + hours(1));
  EXPECT_EQ(updated.created_at, kT0);
  EXPECT_EQ(OK(store_->GetPolicy(t.id, p.id)).version, 2);
  Policy second = MakePolicy(t, "second");
  EXPECT_EQ(CodeOf(store_->UpdatePolicy(t.id, second.id, "base-v2", doc, kT0)),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(OK(store_->GetPolicy(t.id, second.id)).version, 1) << "failed update changed nothing";

  Agent a = MakeAgent(t, "h");
  ASSERT_OK(store_->AssignPolicy(t.id, a.id, p.id));
  EXPECT_EQ(CodeOf(store_->DeletePolicy(t.id, p.id)), StatusCode::kFailedPrecondition);
  ASSERT_OK(store_->AssignPolicy(t.id, a.id, std::nullopt));
  ActivationToken tok;
  tok.id = NewId("tok");
  tok.tenant_id = t.id;
  tok.name = "x";
  tok.token_hash = std::string(64, '7');
  tok.policy_id = p.id;
  tok.created_at = kT0;
  ASSERT_OK(store_->CreateActivationToken(tok));
  EXPECT_EQ(CodeOf(store_->DeletePolicy(t.id, p.id)), StatusCode::kFailedPrecondition);
  ASSERT_OK(store_->RevokeActivationToken(t.id, tok.id));
  EXPECT_OK(store_->DeletePolicy(t.id, p.id));
  EXPECT_EQ(CodeOf(store_->GetPolicy(t.id, p.id)), StatusCode::kNotFound);
  EXPECT_EQ(OK(store_->ListPolicies(t.id)).size(), 1u);
}

TEST_P(StoreConformance, CommandsAreDeliveredOnceAndCompleted) {
  Tenant t = MakeTenant("a");
  Agent a = MakeAgent(t, "h");
  Agent b = MakeAgent(t, "other");
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    Command c;
    c.id = NewId("cmd");
    c.tenant_id = t.id;
    c.agent_id = a.id;
    c.name = i == 0 ? "integrity.check" : "antimalware.scan";
    c.args = {{"n", i}};
    c.created_at = kT0 + seconds(i);
    ASSERT_OK(store_->QueueCommand(c));
    ids.push_back(c.id);
  }
  Command for_b;
  for_b.id = NewId("cmd");
  for_b.tenant_id = t.id;
  for_b.agent_id = b.id;
  for_b.name = "integrity.check";
  for_b.created_at = kT0;
  ASSERT_OK(store_->QueueCommand(for_b));

  auto taken = OK(store_->TakeCommands(t.id, a.id));
  ASSERT_EQ(taken.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(taken[i].id, ids[i]) << "in queue order";
    EXPECT_EQ(taken[i].state, CommandState::kDelivered);
    EXPECT_EQ(taken[i].args, json({{"n", static_cast<int>(i)}}));
  }
  EXPECT_TRUE(OK(store_->TakeCommands(t.id, a.id)).empty()) << "delivered once";
  ASSERT_OK(store_->CompleteCommand(t.id, a.id, ids[0], true, {{"changed", 0}}));
  ASSERT_OK(store_->CompleteCommand(t.id, a.id, ids[1], false, {{"error", "busy"}}));
  EXPECT_EQ(CodeOf(store_->CompleteCommand(t.id, b.id, ids[2], true, {})), StatusCode::kNotFound)
      << "another agent cannot complete it";
  auto list = OK(store_->ListCommands(t.id, a.id));
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].state, CommandState::kCompleted);
  EXPECT_EQ(list[0].result, json({{"changed", 0}}));
  EXPECT_EQ(list[1].state, CommandState::kFailed);
  EXPECT_EQ(list[2].state, CommandState::kDelivered);
  EXPECT_TRUE(list[2].result.is_null());
  EXPECT_EQ(OK(store_->TakeCommands(t.id, b.id)).size(), 1u);
  Command orphan = for_b;
  orphan.id = NewId("cmd");
  orphan.agent_id = "no-such-agent";
  EXPECT_EQ(CodeOf(store_->QueueCommand(orphan)), StatusCode::kNotFound);
}

TEST_P(StoreConformance, AnotherTenantsIdFindsNothingForEveryKindOfObject) {
  Tenant a = MakeTenant("a");
  Tenant b = MakeTenant("b");
  Policy pol = MakePolicy(a, "p");
  Agent agent = MakeAgent(a, "h");
  ApiKey key;
  key.id = NewId("key");
  key.tenant_id = a.id;
  key.name = "k";
  key.role = Role::kAdmin;
  key.secret_hash = std::string(64, 'e');
  key.created_at = kT0;
  ASSERT_OK(store_->CreateApiKey(key));
  ActivationToken tok;
  tok.id = NewId("tok");
  tok.tenant_id = a.id;
  tok.name = "t";
  tok.token_hash = std::string(64, 'f');
  tok.created_at = kT0;
  ASSERT_OK(store_->CreateActivationToken(tok));
  Command cmd;
  cmd.id = NewId("cmd");
  cmd.tenant_id = a.id;
  cmd.agent_id = agent.id;
  cmd.name = "integrity.check";
  cmd.created_at = kT0;
  ASSERT_OK(store_->QueueCommand(cmd));
  ASSERT_TRUE(store_->InsertEvents({MakeEvent(a.id, agent.id, kT0)}).has_value());
  AuditEntry audit;
  audit.id = NewId("audit");
  audit.tenant_id = a.id;
  audit.actor = "apikey:" + key.id;
  audit.method = "POST";
  audit.path = "/api/v1/policies";
  audit.status = 201;
  audit.at = kT0;
  ASSERT_OK(store_->AppendAudit(audit));

  // Reads with tenant b's id.
  EXPECT_EQ(CodeOf(store_->GetApiKey(b.id, key.id)), StatusCode::kNotFound);
  EXPECT_EQ(CodeOf(store_->GetActivationToken(b.id, tok.id)), StatusCode::kNotFound);
  EXPECT_EQ(CodeOf(store_->GetAgent(b.id, agent.id)), StatusCode::kNotFound);
  EXPECT_EQ(CodeOf(store_->GetPolicy(b.id, pol.id)), StatusCode::kNotFound);
  EXPECT_EQ(CodeOf(store_->ListCommands(b.id, agent.id)), StatusCode::kNotFound);
  EXPECT_TRUE(OK(store_->ListApiKeys(b.id)).empty());
  EXPECT_TRUE(OK(store_->ListActivationTokens(b.id)).empty());
  EXPECT_TRUE(OK(store_->ListAgents(b.id, AgentFilter{})).empty());
  EXPECT_TRUE(OK(store_->ListPolicies(b.id)).empty());
  EXPECT_TRUE(OK(store_->QueryEvents(b.id, EventQuery{})).empty());
  EXPECT_TRUE(OK(store_->CountEvents(b.id, EventQuery{}, hours(1))).empty());
  EXPECT_TRUE(OK(store_->QueryAudit(b.id, std::nullopt, 100)).empty());

  // Writes with tenant b's id: not found, and a's objects unchanged.
  EXPECT_EQ(CodeOf(store_->RevokeApiKey(b.id, key.id)), StatusCode::kNotFound);
  EXPECT_EQ(CodeOf(store_->RevokeActivationToken(b.id, tok.id)), StatusCode::kNotFound);
  Agent hb = agent;
  hb.tenant_id = b.id;
  EXPECT_EQ(CodeOf(store_->RecordHeartbeat(hb)), StatusCode::kNotFound);
  EXPECT_EQ(CodeOf(store_->AssignPolicy(b.id, agent.id, std::nullopt)), StatusCode::kNotFound);
  EXPECT_EQ(CodeOf(store_->DeleteAgent(b.id, agent.id)), StatusCode::kNotFound);
  EXPECT_EQ(CodeOf(store_->UpdatePolicy(b.id, pol.id, "x", json::object(), kT0)),
            StatusCode::kNotFound);
  EXPECT_EQ(CodeOf(store_->DeletePolicy(b.id, pol.id)), StatusCode::kNotFound);
  Command cross = cmd;
  cross.id = NewId("cmd");
  cross.tenant_id = b.id;
  EXPECT_EQ(CodeOf(store_->QueueCommand(cross)), StatusCode::kNotFound);
  EXPECT_EQ(CodeOf(store_->TakeCommands(b.id, agent.id)), StatusCode::kNotFound);
  EXPECT_EQ(CodeOf(store_->CompleteCommand(b.id, agent.id, cmd.id, true, {})),
            StatusCode::kNotFound);
  // Tenant b's policy cannot be given to tenant a's agent, nor a's policy to b's agent.
  Policy bpol = MakePolicy(b, "bp");
  EXPECT_EQ(CodeOf(store_->AssignPolicy(a.id, agent.id, bpol.id)), StatusCode::kNotFound);
  Agent bagent = MakeAgent(b, "bh");
  EXPECT_EQ(CodeOf(store_->AssignPolicy(b.id, bagent.id, pol.id)), StatusCode::kNotFound);
  EXPECT_EQ(OK(store_->DeleteEventsBefore(b.id, kT0 + hours(1), 100)), 0);
  EXPECT_EQ(OK(store_->DeleteInactiveAgents(b.id, kT0 + hours(1000))), 0);

  EXPECT_FALSE(OK(store_->GetApiKey(a.id, key.id)).revoked);
  EXPECT_FALSE(OK(store_->GetActivationToken(a.id, tok.id)).revoked);
  EXPECT_EQ(OK(store_->GetPolicy(a.id, pol.id)).version, 1);
  EXPECT_EQ(OK(store_->ListCommands(a.id, agent.id))[0].state, CommandState::kQueued);
  EXPECT_EQ(OK(store_->QueryEvents(a.id, EventQuery{})).size(), 1u);
  EXPECT_EQ(OK(store_->QueryAudit(a.id, std::nullopt, 100)).size(), 1u);
}

TEST_P(StoreConformance, InsertEventsCountsDuplicatesPerTenant) {
  Tenant t = MakeTenant("a");
  Tenant u = MakeTenant("b");
  std::vector<StoredEvent> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(MakeEvent(t.id, "agent-1", kT0 + seconds(i)));
  IngestResult r = OK(store_->InsertEvents(batch));
  EXPECT_EQ(r.accepted, 10);
  EXPECT_EQ(r.duplicates, 0);

  std::vector<StoredEvent> again(batch.begin(), batch.begin() + 5);
  for (int i = 0; i < 5; ++i) again.push_back(MakeEvent(t.id, "agent-1", kT0 + seconds(20 + i)));
  again.push_back(again.back());  // a duplicate inside the batch itself
  r = OK(store_->InsertEvents(again));
  EXPECT_EQ(r.accepted, 5);
  EXPECT_EQ(r.duplicates, 6);
  EXPECT_EQ(CountAll(t.id), 15);

  std::vector<StoredEvent> other_tenant(batch.begin(), batch.begin() + 3);
  for (auto& e : other_tenant) e.tenant_id = u.id;
  r = OK(store_->InsertEvents(other_tenant));
  EXPECT_EQ(r.accepted, 3) << "the same ids in another tenant are new";
  EXPECT_EQ(CountAll(u.id), 3);

  EXPECT_EQ(OK(store_->InsertEvents({})).accepted, 0);
  StoredEvent bad = MakeEvent(t.id, "agent-1", kT0);
  bad.id = std::string(65, 'x');
  auto rejected = store_->InsertEvents({MakeEvent(t.id, "agent-1", kT0), bad});
  ASSERT_FALSE(rejected.has_value());
  EXPECT_EQ(rejected.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(rejected.error().message().find("event[1]"), std::string::npos);
  EXPECT_EQ(CountAll(t.id), 15) << "a rejected batch stores nothing";
}

// Many callers at once (the HTTP server's workers): every event stored exactly once, each caller
// told exactly what it stored (SQLite commits concurrent batches together: group commit).
TEST_P(StoreConformance, ConcurrentBatchesAreStoredExactlyOnce) {
  Tenant t = MakeTenant("a");
  constexpr int kThreads = 6, kBatches = 5, kPerBatch = 120;
  std::vector<std::vector<std::vector<StoredEvent>>> work(kThreads);
  for (int th = 0; th < kThreads; ++th) {
    for (int b = 0; b < kBatches; ++b) {
      auto& batch = work[th].emplace_back();
      for (int i = 0; i < kPerBatch; ++i) {
        batch.push_back(MakeEvent(t.id, fmt::format("agent-{}", th),
                                  kT0 + seconds(b * kPerBatch + i), "integrity", i % 5));
      }
    }
  }
  std::atomic<int> accepted{0}, duplicates{0}, failures{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      for (int b = 0; b < kBatches; ++b) {
        auto r = store_->InsertEvents(work[th][b]);
        if (!r.has_value()) {
          ++failures;
          continue;
        }
        accepted += r->accepted;
        duplicates += r->duplicates;
        // An agent's retry of the batch just stored (its answer was lost): all duplicates.
        if (b == 2) {
          auto again = store_->InsertEvents(work[th][b]);
          if (!again.has_value() || again->accepted != 0 || again->duplicates != kPerBatch) {
            ++failures;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(accepted.load(), kThreads * kBatches * kPerBatch);
  EXPECT_EQ(duplicates.load(), 0);
  EXPECT_EQ(CountAll(t.id), kThreads * kBatches * kPerBatch);
  for (int th = 0; th < kThreads; ++th) {
    EventQuery q;
    q.agent_id = fmt::format("agent-{}", th);
    q.limit = 10000;
    auto got = OK(store_->QueryEvents(t.id, q));
    ASSERT_EQ(got.size(), static_cast<size_t>(kBatches * kPerBatch));
    std::set<std::string> ids;
    for (const auto& e : got) ids.insert(e.id);
    EXPECT_EQ(ids.size(), got.size());
  }
}

// A batch the database refuses (here a trigger stands in for any per-row failure) gets its own
// error and nothing of it is stored; batches written with it are stored and told so. On SQLite a
// second connection holds the write lock while the batches queue, so they are committed together
// in one group.
TEST_P(StoreConformance, AFailedBatchDoesNotTakeOthersWithIt) {
  Tenant t = MakeTenant("a");
  std::vector<std::string> trigger;
  switch (GetParam()) {
    case Dialect::kSqlite:
      trigger = {
          "CREATE TRIGGER ward_poison BEFORE INSERT ON events WHEN NEW.module = 'poison' "
          "BEGIN SELECT RAISE(ABORT, 'poisoned batch'); END"};
      break;
    case Dialect::kPostgres:
      trigger = {
          "CREATE FUNCTION ward_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF "
          "NEW.module = 'poison' THEN RAISE EXCEPTION 'poisoned batch'; END IF; RETURN NEW; "
          "END $$",
          "CREATE TRIGGER ward_poison BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION "
          "ward_poison()"};
      break;
    case Dialect::kMysql:
      trigger = {
          "CREATE TRIGGER ward_poison BEFORE INSERT ON events FOR EACH ROW BEGIN IF NEW.module "
          "= 'poison' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'poisoned batch'; END IF; "
          "END"};
      break;
  }
  ASSERT_OK(RunAdminSql(db_->url(), trigger));
  constexpr int kBatches = 6, kPerBatch = 50, kPoisoned = 3;
  std::vector<std::vector<StoredEvent>> work(kBatches);
  for (int b = 0; b < kBatches; ++b) {
    for (int i = 0; i < kPerBatch; ++i) {
      // The poisoned batch fails on its last event, after the others of it were written.
      std::string module = (b == kPoisoned && i == kPerBatch - 1) ? "poison" : "integrity";
      work[b].push_back(MakeEvent(t.id, "agent-1", kT0 + seconds(b * kPerBatch + i), module));
    }
  }
  sqlite3* blocker = nullptr;
  if (GetParam() == Dialect::kSqlite) {
    std::string path = db_->url().substr(std::string_view("sqlite:").size());
    ASSERT_EQ(sqlite3_open(path.c_str(), &blocker), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(blocker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  }
  std::vector<std::optional<Result<IngestResult>>> results(kBatches);
  std::vector<std::thread> threads;
  for (int b = 0; b < kBatches; ++b) {
    threads.emplace_back([&, b] { results[b] = store_->InsertEvents(work[b]); });
  }
  if (blocker != nullptr) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_EQ(sqlite3_exec(blocker, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(blocker);
  }
  for (auto& th : threads) th.join();
  for (int b = 0; b < kBatches; ++b) {
    ASSERT_TRUE(results[b].has_value());
    if (b == kPoisoned) {
      ASSERT_FALSE(results[b]->has_value()) << "batch " << b;
      EXPECT_NE(results[b]->error().message().find("poisoned batch"), std::string::npos)
          << results[b]->error().ToString();
    } else {
      ASSERT_TRUE(results[b]->has_value())
          << "batch " << b << ": " << results[b]->error().ToString();
      EXPECT_EQ((*results[b])->accepted, kPerBatch);
    }
  }
  EXPECT_EQ(CountAll(t.id), (kBatches - 1) * kPerBatch);
  EventQuery q;
  q.from = kT0 + seconds(kPoisoned * kPerBatch);
  q.to = kT0 + seconds((kPoisoned + 1) * kPerBatch);
  EXPECT_TRUE(OK(store_->QueryEvents(t.id, q)).empty()) << "nothing of the failed batch is kept";
}

// Values that need quoting or escaping on the way in (COPY's text format on PostgreSQL, bound
// parameters elsewhere) come back byte for byte; a caller's document text is stored as given.
TEST_P(StoreConformance, HostileStringsAndDocumentTextRoundTrip) {
  Tenant t = MakeTenant("a");
  const std::vector<std::string> hostile = {
      "it's \"quoted\"",         "back\\slash \\N \\. \\\\",  "tab\there\tand\ttabs",
      "new\nline\r\nCRLF",       "é✓ 中文 🙂",         "\\t literally, not a tab",
      "ends with a backslash\\", "'); DROP TABLE events; --", "a\x01\x1f control",
  };
  std::vector<StoredEvent> batch;
  for (size_t i = 0; i < hostile.size(); ++i) {
    StoredEvent e = MakeEvent(t.id, "agent-1", kT0 + seconds(static_cast<long>(i)));
    e.path = hostile[i];
    e.rule = hostile[hostile.size() - 1 - i];
    e.action = hostile[i].substr(0, 20);
    e.doc = {{"event", {{"id", e.id}}}, {"file", {{"path", e.path}}}, {"n", i}};
    if (i % 2 == 0) {
      // Caller-supplied text, with whitespace between tokens that COPY must escape.
      e.doc_text = e.doc.dump(1, '\t');
    }
    batch.push_back(std::move(e));
  }
  ASSERT_EQ(OK(store_->InsertEvents(batch)).accepted, static_cast<int>(hostile.size()));
  EventQuery q;
  q.limit = 100;
  auto got = OK(store_->QueryEvents(t.id, q));
  ASSERT_EQ(got.size(), hostile.size());
  for (size_t i = 0; i < hostile.size(); ++i) {
    EXPECT_EQ(got[i].path, batch[i].path) << i;
    EXPECT_EQ(got[i].rule, batch[i].rule) << i;
    EXPECT_EQ(got[i].action, batch[i].action) << i;
    EXPECT_EQ(got[i].doc, batch[i].doc) << i;
    EXPECT_TRUE(got[i].doc_text.empty());
  }
  q.text = "\\N \\.";
  ASSERT_EQ(OK(store_->QueryEvents(t.id, q)).size(), 2u) << "one path, one rule";

  // NUL bytes: dropped from the columns (as before); a document text holding one is refused.
  StoredEvent nul = MakeEvent(t.id, "agent-1", kT0 + hours(1));
  nul.path = std::string("a\0b", 3);
  ASSERT_EQ(OK(store_->InsertEvents({nul})).accepted, 1);
  q = {};
  q.from = kT0 + hours(1);
  auto back = OK(store_->QueryEvents(t.id, q));
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].path, "ab");
  StoredEvent nul_doc = MakeEvent(t.id, "agent-1", kT0 + hours(2));
  nul_doc.doc_text = std::string("{\"a\":\"\0\"}", 9);
  auto refused = store_->InsertEvents({nul_doc});
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.error().message().find("event[0]"), std::string::npos);

  // Invalid UTF-8 in a column (the API layer makes the columns valid UTF-8 before they get
  // here): SQLite keeps the bytes; MariaDB's INSERT IGNORE stores the row with the value cut at
  // the bad byte (a warning, not an error); PostgreSQL refuses the batch.
  StoredEvent bad = MakeEvent(t.id, "agent-1", kT0 + hours(3));
  bad.path = "bad \xff\xfe utf-8";
  auto r = store_->InsertEvents({MakeEvent(t.id, "agent-1", kT0 + hours(3)), bad});
  q = {};
  q.from = kT0 + hours(3);
  if (GetParam() != Dialect::kPostgres) {
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    EXPECT_EQ(r->accepted, 2);
    EXPECT_EQ(OK(store_->QueryEvents(t.id, q)).size(), 2u);
  } else {
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument) << r.error().ToString();
    EXPECT_TRUE(OK(store_->QueryEvents(t.id, q)).empty()) << "a refused batch stores nothing";
  }
}

TEST_P(StoreConformance, QueryEventsFiltersAndKeepsTheDocument) {
  Tenant t = MakeTenant("a");
  std::vector<StoredEvent> events;
  StoredEvent e1 = MakeEvent(t.id, "agent-1", kT0, "integrity", 5);
  e1.path = "/var/www/html/index.php";
  e1.doc = {{"@timestamp", "2026-09-21T00:00:00Z"}, {"nested", {{"a", {1, 2, 3}}}}, {"u", "é✓"}};
  StoredEvent e2 = MakeEvent(t.id, "agent-1", kT0 + minutes(1), "ips", 8);
  e2.action = "blocked";
  e2.path = "";
  e2.rule = "942100 SQL Injection";
  StoredEvent e3 = MakeEvent(t.id, "agent-2", kT0 + minutes(2), "integrity", 2);
  StoredEvent e4 = MakeEvent(t.id, "agent-2", kT0 + hours(2), "antimalware", 9);
  e4.path = "/tmp/EICAR.com";
  ASSERT_TRUE(store_->InsertEvents({e1, e2, e3, e4}).has_value());

  auto ids = [&](const EventQuery& q) {
    std::vector<std::string> out;
    for (const auto& e : OK(store_->QueryEvents(t.id, q))) out.push_back(e.id);
    return out;
  };
  EventQuery all;
  auto got = OK(store_->QueryEvents(t.id, all));
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].doc, e1.doc);
  EXPECT_EQ(got[0].path, e1.path);
  EXPECT_EQ(got[0].timestamp, kT0);
  EXPECT_EQ(got[0].severity, 5);
  EXPECT_EQ(got[1].rule, e2.rule);
  EXPECT_EQ(got[1].action, "blocked");

  EventQuery q;
  q.agent_id = "agent-2";
  EXPECT_EQ(ids(q), (std::vector<std::string>{e3.id, e4.id}));
  q = {};
  q.module = "integrity";
  EXPECT_EQ(ids(q), (std::vector<std::string>{e1.id, e3.id}));
  q = {};
  q.min_severity = 8;
  EXPECT_EQ(ids(q), (std::vector<std::string>{e2.id, e4.id}));
  q = {};
  q.action = "blocked";
  EXPECT_EQ(ids(q), (std::vector<std::string>{e2.id}));
  q = {};
  q.text = "html/index";
  EXPECT_EQ(ids(q), (std::vector<std::string>{e1.id}));
  q.text = "SQL Inj";
  EXPECT_EQ(ids(q), (std::vector<std::string>{e2.id}));
  q.text = "sql inj";
  EXPECT_TRUE(ids(q).empty()) << "free text is case-sensitive on every backend";
  q.text = "%";
  EXPECT_TRUE(ids(q).empty()) << "no LIKE wildcards";
  q = {};
  q.from = kT0 + minutes(1);
  q.to = kT0 + hours(2);
  EXPECT_EQ(ids(q), (std::vector<std::string>{e2.id, e3.id})) << "from inclusive, to exclusive";
  q = {};
  q.descending = true;
  q.limit = 2;
  EXPECT_EQ(ids(q), (std::vector<std::string>{e4.id, e3.id}));
}

TEST_P(StoreConformance, PaginationHasNoGapsOrRepeatsInBothDirections) {
  Tenant t = MakeTenant("a");
  std::vector<StoredEvent> batch;
  // 600 events over 7 timestamps: many share a timestamp, so the id breaks ties.
  for (int i = 0; i < 600; ++i) {
    batch.push_back(MakeEvent(t.id, "agent-1", kT0 + seconds(i % 7), "integrity", i % 10,
                              fmt::format("ev-{:04d}-{}", (i * 7919) % 600, i)));
  }
  ASSERT_EQ(OK(store_->InsertEvents(batch)).accepted, 600);
  std::vector<std::pair<TimePoint, std::string>> expected;
  for (const auto& e : batch) expected.emplace_back(e.timestamp, e.id);
  std::sort(expected.begin(), expected.end());

  for (bool desc : {false, true}) {
    EventQuery q;
    q.limit = 37;
    q.descending = desc;
    std::vector<std::pair<TimePoint, std::string>> seen;
    for (int pages = 0; pages < 100; ++pages) {
      auto page = OK(store_->QueryEvents(t.id, q));
      for (const auto& e : page) seen.emplace_back(e.timestamp, e.id);
      if (page.size() < 37) break;
      q.after = std::make_pair(page.back().timestamp, page.back().id);
    }
    auto want = expected;
    if (desc) std::reverse(want.begin(), want.end());
    EXPECT_EQ(seen, want) << (desc ? "descending" : "ascending");
  }
}

TEST_P(StoreConformance, CountEventsPerBucketModuleAndSeverity) {
  Tenant t = MakeTenant("a");
  std::vector<StoredEvent> batch;
  for (int i = 0; i < 5; ++i) batch.push_back(MakeEvent(t.id, "a1", kT0 + minutes(i), "ips", 8));
  for (int i = 0; i < 3; ++i) {
    batch.push_back(MakeEvent(t.id, "a1", kT0 + minutes(10 + i), "integrity", 3));
  }
  for (int i = 0; i < 2; ++i) {
    batch.push_back(MakeEvent(t.id, "a2", kT0 + hours(1) + minutes(i), "ips", 8));
  }
  batch.push_back(MakeEvent(t.id, "a2", kT0 + hours(3), "ips", 5));
  ASSERT_TRUE(store_->InsertEvents(batch).has_value());
  auto counts = OK(store_->CountEvents(t.id, EventQuery{}, hours(1)));
  std::vector<std::tuple<TimePoint, std::string, int, int64_t>> got;
  for (const auto& c : counts) got.emplace_back(c.bucket, c.module, c.severity, c.count);
  std::vector<std::tuple<TimePoint, std::string, int, int64_t>> want = {
      {kT0, "integrity", 3, 3},
      {kT0, "ips", 8, 5},
      {kT0 + hours(1), "ips", 8, 2},
      {kT0 + hours(3), "ips", 5, 1},
  };
  EXPECT_EQ(got, want);
  EventQuery only;
  only.agent_id = "a2";
  only.to = kT0 + hours(2);
  counts = OK(store_->CountEvents(t.id, only, minutes(15)));
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0].bucket, kT0 + hours(1));
  EXPECT_EQ(counts[0].count, 2);
  EXPECT_EQ(CodeOf(store_->CountEvents(t.id, only, seconds(0))), StatusCode::kInvalidArgument);
}

TEST_P(StoreConformance, TopEventValuesCountEveryMatchingEventMostFrequentFirst) {
  Tenant t = MakeTenant("a");
  Tenant other = MakeTenant("b");
  std::vector<StoredEvent> batch;
  auto add = [&](const std::string& tenant, const std::string& agent, int minute,
                 const std::string& rule, const std::string& path, const std::string& module) {
    StoredEvent e = MakeEvent(tenant, agent, kT0 + minutes(minute), module);
    e.rule = rule;
    e.path = path;
    batch.push_back(std::move(e));
  };
  for (int i = 0; i < 6; ++i) add(t.id, "a1", i, "942100 SQLi", "/login", "ips");
  for (int i = 0; i < 3; ++i) add(t.id, "a2", 10 + i, "941100 XSS", "/search", "ips");
  for (int i = 0; i < 3; ++i) add(t.id, "a2", 20 + i, "920350", "/", "ips");
  add(t.id, "a3", 30, "", "/etc/passwd", "integrity");
  for (int i = 0; i < 9; ++i) add(other.id, "b1", i, "999999 other tenant", "/b", "ips");
  ASSERT_TRUE(store_->InsertEvents(batch).has_value());

  using V = std::vector<std::pair<std::string, int64_t>>;
  auto top = [&](const std::string& tenant, const EventQuery& q, EventField f, int limit) {
    V out;
    for (const auto& v : OK(store_->TopEventValues(tenant, q, f, limit))) {
      out.emplace_back(v.value, v.count);
    }
    return out;
  };
  EXPECT_EQ(top(t.id, EventQuery{}, EventField::kRule, 10),
            (V{{"942100 SQLi", 6}, {"920350", 3}, {"941100 XSS", 3}}))
      << "empty values skipped, ties by value";
  EXPECT_EQ(top(t.id, EventQuery{}, EventField::kRule, 1), (V{{"942100 SQLi", 6}}));
  EXPECT_EQ(top(t.id, EventQuery{}, EventField::kAgent, 10), (V{{"a1", 6}, {"a2", 6}, {"a3", 1}}))
      << "ties by value: a1 before a2";
  EventQuery range;
  range.from = kT0 + minutes(10);
  range.to = kT0 + minutes(31);
  EXPECT_EQ(top(t.id, range, EventField::kPath, 10),
            (V{{"/", 3}, {"/search", 3}, {"/etc/passwd", 1}}));
  EventQuery integrity;
  integrity.module = "integrity";
  EXPECT_EQ(top(t.id, integrity, EventField::kPath, 10), (V{{"/etc/passwd", 1}}));
  EXPECT_EQ(top(t.id, EventQuery{}, EventField::kModule, 10), (V{{"ips", 12}, {"integrity", 1}}));
  EXPECT_EQ(top(t.id, EventQuery{}, EventField::kAction, 10), (V{{"file_changed", 13}}));
  EXPECT_EQ(top(other.id, EventQuery{}, EventField::kRule, 10), (V{{"999999 other tenant", 9}}));
  EXPECT_TRUE(top("no-such-tenant", EventQuery{}, EventField::kRule, 10).empty());
  EXPECT_EQ(CodeOf(store_->TopEventValues(t.id, EventQuery{}, EventField::kRule, 0)),
            StatusCode::kInvalidArgument);
}

TEST_P(StoreConformance, SummarizeEventsCountsHealsAndQuarantines) {
  Tenant t = MakeTenant("a");
  std::vector<StoredEvent> batch;
  auto add = [&](const std::string& module, const std::string& action, int minute) {
    StoredEvent e = MakeEvent(t.id, "a1", kT0 + minutes(minute), module);
    e.action = action;
    batch.push_back(std::move(e));
  };
  for (int i = 0; i < 4; ++i) add("autoheal", "restored", i);
  add("autoheal", "unexpected_file", 5);
  for (int i = 0; i < 2; ++i) add("antimalware", "quarantine", 10 + i);
  add("antimalware", "log", 12);
  add("integrity", "restored", 13);  // not a heal: another module's action of the same name
  ASSERT_TRUE(store_->InsertEvents(batch).has_value());
  EventSummary s = OK(store_->SummarizeEvents(t.id, EventQuery{}));
  EXPECT_EQ(s.total, 9);
  EXPECT_EQ(s.heals, 4);
  EXPECT_EQ(s.quarantines, 2);
  EventQuery later;
  later.from = kT0 + minutes(3);
  s = OK(store_->SummarizeEvents(t.id, later));
  EXPECT_EQ(s.total, 6);
  EXPECT_EQ(s.heals, 1);
  EXPECT_EQ(s.quarantines, 2);
  s = OK(store_->SummarizeEvents(MakeTenant("empty").id, EventQuery{}));
  EXPECT_EQ(s.total, 0);
  EXPECT_EQ(s.heals, 0);
  EXPECT_EQ(s.quarantines, 0);
}

TEST_P(StoreConformance, RetentionDeletesOnlyOldEventsOfOneTenantInBatches) {
  Tenant a = MakeTenant("a");
  Tenant b = MakeTenant("b");
  std::vector<StoredEvent> batch;
  // Tenant a: 300 events on a day nobody else has (PostgreSQL drops that partition whole),
  // 200 on days shared with b, 100 after the cutoff. Tenant b: 150 old, 50 new.
  TimePoint day0 = kT0 - hours(24 * 30);
  for (int i = 0; i < 300; ++i) batch.push_back(MakeEvent(a.id, "x", day0 + seconds(i)));
  for (int i = 0; i < 200; ++i) {
    batch.push_back(MakeEvent(a.id, "x", kT0 - hours(24 * 10) + minutes(i * 7)));
  }
  for (int i = 0; i < 100; ++i) batch.push_back(MakeEvent(a.id, "x", kT0 + seconds(i)));
  for (int i = 0; i < 150; ++i) {
    batch.push_back(MakeEvent(b.id, "y", kT0 - hours(24 * 10) + minutes(i * 9)));
  }
  for (int i = 0; i < 50; ++i) batch.push_back(MakeEvent(b.id, "y", kT0 + seconds(i)));
  ASSERT_TRUE(store_->InsertEvents(batch).has_value());
  // The cutoff falls inside a day (kT0 - 12 h): rows of that day are deleted row by row.
  batch.clear();
  for (int i = 0; i < 40; ++i) batch.push_back(MakeEvent(a.id, "x", kT0 - hours(13) + seconds(i)));
  for (int i = 0; i < 10; ++i) batch.push_back(MakeEvent(a.id, "x", kT0 - hours(11) + seconds(i)));
  ASSERT_TRUE(store_->InsertEvents(batch).has_value());

  TimePoint cutoff = kT0 - hours(12);
  int64_t total = 0, largest = 0;
  int calls = 0;
  for (;; ++calls) {
    ASSERT_LT(calls, 100);
    int64_t n = OK(store_->DeleteEventsBefore(a.id, cutoff, 64));
    ASSERT_GE(n, 0);
    if (n == 0) break;
    total += n;
    largest = std::max(largest, n);
  }
  EXPECT_EQ(total, 540);
  if (GetParam() == Dialect::kPostgres) {
    // The day only tenant a has goes in one call (its partition is dropped); the shared day
    // (200 rows) and the part of the cutoff day (40 rows) in batches of 64.
    EXPECT_EQ(largest, 300);
    EXPECT_EQ(calls, 6);
  } else {
    EXPECT_EQ(largest, 64);
    EXPECT_EQ(calls, 9) << "batches of at most 64";
  }
  EXPECT_EQ(CountAll(a.id), 110);
  EXPECT_EQ(CountAll(b.id), 200);
  EventQuery before;
  before.to = cutoff;
  EXPECT_TRUE(OK(store_->QueryEvents(a.id, before)).empty());
  // Events may arrive again for a day whose partition was dropped.
  auto again = store_->InsertEvents({MakeEvent(a.id, "x", day0 + seconds(5))});
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  EXPECT_EQ(again->accepted, 1);
}

TEST_P(StoreConformance, LeasesAreExclusiveAcrossTwoStores) {
  auto other = Open();
  ASSERT_NE(other, nullptr);
  const seconds ttl(30);
  EXPECT_TRUE(OK(store_->TryAcquireLease("retention", "node-1", kT0, ttl)));
  EXPECT_FALSE(OK(other->TryAcquireLease("retention", "node-2", kT0 + seconds(1), ttl)));
  EXPECT_TRUE(OK(store_->TryAcquireLease("retention", "node-1", kT0 + seconds(20), ttl)))
      << "renewal by the holder";
  EXPECT_FALSE(OK(other->TryAcquireLease("retention", "node-2", kT0 + seconds(49), ttl)))
      << "renewed until +50 s";
  EXPECT_TRUE(OK(other->TryAcquireLease("retention", "node-2", kT0 + seconds(50), ttl)))
      << "expired";
  EXPECT_FALSE(OK(store_->TryAcquireLease("retention", "node-1", kT0 + seconds(51), ttl)));
  EXPECT_TRUE(OK(store_->TryAcquireLease("offline", "node-1", kT0 + seconds(51), ttl)))
      << "leases are independent";
  EXPECT_OK(store_->ReleaseLease("retention", "node-1"));  // not the holder: no effect
  EXPECT_FALSE(OK(store_->TryAcquireLease("retention", "node-1", kT0 + seconds(52), ttl)));
  EXPECT_OK(other->ReleaseLease("retention", "node-2"));
  EXPECT_TRUE(OK(store_->TryAcquireLease("retention", "node-1", kT0 + seconds(53), ttl)));

  // Many contenders at the same instant, half through each store: exactly one wins.
  for (int round = 0; round < 3; ++round) {
    std::string name = fmt::format("contended-{}", round);
    std::atomic<int> winners{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
      threads.emplace_back([&, i] {
        Store* s = i % 2 ? other.get() : store_.get();
        auto r = s->TryAcquireLease(name, fmt::format("node-{}", i), kT0, ttl);
        if (!r.has_value()) {
          ADD_FAILURE() << r.error().ToString();
          return;
        }
        if (*r) ++winners;
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(winners.load(), 1) << name;
  }
}

TEST_P(StoreConformance, DeleteTenantRemovesEverythingItOwns) {
  Tenant a = MakeTenant("a");
  Tenant keep = MakeTenant("keep");
  Policy pol = MakePolicy(a, "p");
  Agent agent = MakeAgent(a, "h");
  Agent kept_agent = MakeAgent(keep, "h");
  ApiKey key;
  key.id = NewId("key");
  key.tenant_id = a.id;
  key.name = "k";
  key.secret_hash = std::string(64, 'd');
  key.created_at = kT0;
  ASSERT_OK(store_->CreateApiKey(key));
  ActivationToken tok;
  tok.id = NewId("tok");
  tok.tenant_id = a.id;
  tok.name = "t";
  tok.token_hash = std::string(64, '5');
  tok.policy_id = pol.id;
  tok.created_at = kT0;
  ASSERT_OK(store_->CreateActivationToken(tok));
  Command cmd;
  cmd.id = NewId("cmd");
  cmd.tenant_id = a.id;
  cmd.agent_id = agent.id;
  cmd.name = "integrity.check";
  cmd.created_at = kT0;
  ASSERT_OK(store_->QueueCommand(cmd));
  ASSERT_TRUE(
      store_->InsertEvents({MakeEvent(a.id, agent.id, kT0), MakeEvent(keep.id, kept_agent.id, kT0)})
          .has_value());
  AuditEntry audit;
  audit.id = NewId("audit");
  audit.tenant_id = a.id;
  audit.actor = "system";
  audit.method = "DELETE";
  audit.path = "/x";
  audit.at = kT0;
  ASSERT_OK(store_->AppendAudit(audit));

  ASSERT_OK(store_->DeleteTenant(a.id));
  EXPECT_EQ(CodeOf(store_->GetTenant(a.id)), StatusCode::kNotFound);
  EXPECT_EQ(CodeOf(store_->DeleteTenant(a.id)), StatusCode::kNotFound);
  EXPECT_EQ(CodeOf(store_->FindApiKeyByHash(key.secret_hash)), StatusCode::kNotFound);
  EXPECT_EQ(CodeOf(store_->UseActivationToken(tok.token_hash, kT0)), StatusCode::kUnauthenticated);
  EXPECT_EQ(CodeOf(store_->FindAgentByCredentialHash(agent.credential_hash)),
            StatusCode::kNotFound);
  EXPECT_EQ(CodeOf(store_->GetPolicy(a.id, pol.id)), StatusCode::kNotFound);
  EXPECT_EQ(CodeOf(store_->ListCommands(a.id, agent.id)), StatusCode::kNotFound);
  EXPECT_TRUE(OK(store_->QueryEvents(a.id, EventQuery{})).empty());
  EXPECT_TRUE(OK(store_->QueryAudit(a.id, std::nullopt, 10)).empty());
  EXPECT_TRUE(OK(store_->ListApiKeys(a.id)).empty());
  EXPECT_TRUE(OK(store_->ListActivationTokens(a.id)).empty());
  // The other tenant is untouched.
  EXPECT_TRUE(store_->GetAgent(keep.id, kept_agent.id).has_value());
  EXPECT_EQ(CountAll(keep.id), 1);
  EXPECT_EQ(OK(store_->ListTenants()).size(), 1u);
}

TEST_P(StoreConformance, ConcurrentInsertsFromManyThreadsLoseAndDuplicateNothing) {
  Tenant t = MakeTenant("a");
  constexpr int kThreads = 6, kBatches = 10, kPerBatch = 100;
  std::atomic<int> accepted{0}, duplicates{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<StoredEvent> batch;
        for (int i = 0; i < kPerBatch; ++i) {
          // Thread pairs send the same ids (an agent retrying through two manager nodes).
          int owner = th / 2;
          StoredEvent e =
              MakeEvent(t.id, fmt::format("agent-{}", owner), kT0 + seconds(b * kPerBatch + i),
                        "integrity", 1, fmt::format("e-{}-{}-{}", owner, b, i));
          batch.push_back(std::move(e));
        }
        auto r = store_->InsertEvents(batch);
        if (!r.has_value()) {
          ADD_FAILURE() << r.error().ToString();
          continue;
        }
        accepted += r->accepted;
        duplicates += r->duplicates;
      }
    });
  }
  for (auto& th : threads) th.join();
  constexpr int kUnique = kThreads / 2 * kBatches * kPerBatch;
  EXPECT_EQ(accepted.load(), kUnique);
  EXPECT_EQ(duplicates.load(), kThreads * kBatches * kPerBatch - kUnique);
  EXPECT_EQ(CountAll(t.id), kUnique);
}

TEST_P(StoreConformance, AuditIsPagedInTimeOrder) {
  Tenant t = MakeTenant("a");
  for (int i = 0; i < 25; ++i) {
    AuditEntry e;
    e.id = fmt::format("audit-{:03d}", 24 - i);
    e.tenant_id = t.id;
    e.actor = "apikey:k1";
    e.method = "PATCH";
    e.path = fmt::format("/api/v1/agents/{}", i);
    e.status = 200;
    e.detail = {{"i", i}};
    e.at = kT0 + seconds(i / 5);
    ASSERT_OK(store_->AppendAudit(e));
  }
  std::vector<std::string> seen;
  std::optional<std::pair<TimePoint, std::string>> after;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = OK(store_->QueryAudit(t.id, after, 4));
    for (const auto& e : page) seen.push_back(e.path);
    if (page.size() < 4) break;
    after = std::make_pair(page.back().at, page.back().id);
  }
  ASSERT_EQ(seen.size(), 25u);
  std::set<std::string> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), 25u);
  auto first = OK(store_->QueryAudit(t.id, std::nullopt, 1));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].id, "audit-020") << "earliest time, then smallest id";
  EXPECT_EQ(first[0].detail, json({{"i", 4}}));
  EXPECT_EQ(first[0].status, 200);
}

// --- c1: audit filters, user time zone and TOTP (schema version 3) ---
TEST_P(StoreConformance, AuditSearchFiltersAndPagesBothWays) {
  Tenant t = MakeTenant("a"), other = MakeTenant("b");
  const char* methods[] = {"POST", "PATCH", "DELETE"};
  for (int i = 0; i < 30; ++i) {
    AuditEntry e;
    e.id = fmt::format("audit-{:03d}", i);
    e.tenant_id = t.id;
    e.actor = i % 2 == 0 ? "user:alice" : "apikey:k1";
    e.method = methods[i % 3];
    e.path = i % 5 == 0 ? fmt::format("/api/v1/policies/{}", i) : "/api/v1/agents/x";
    e.status = i % 4 == 0 ? 403 : 200;
    e.at = kT0 + seconds(i);
    ASSERT_OK(store_->AppendAudit(e));
  }
  AuditEntry foreign;
  foreign.id = "audit-foreign";
  foreign.tenant_id = other.id;
  foreign.actor = "user:alice";
  foreign.method = "POST";
  foreign.path = "/api/v1/policies/0";
  foreign.status = 403;
  foreign.at = kT0;
  ASSERT_OK(store_->AppendAudit(foreign));

  auto ids = [&](const AuditQuery& q) {
    std::vector<std::string> out;
    for (const auto& e : OK(store_->SearchAudit(t.id, q))) out.push_back(e.id);
    return out;
  };
  AuditQuery q;
  q.limit = 1000;
  q.actor = "user:alice";
  q.method = "POST";  // i even and i % 3 == 0: 0, 6, 12, 18, 24
  EXPECT_EQ(ids(q), (std::vector<std::string>{"audit-000", "audit-006", "audit-012", "audit-018",
                                              "audit-024"}));
  AuditQuery path;
  path.path = "policies/";  // substring
  path.status_min = 400;
  path.status_max = 499;  // i % 5 == 0 and i % 4 == 0: 0, 20
  EXPECT_EQ(ids(path), (std::vector<std::string>{"audit-000", "audit-020"}));
  AuditQuery none;
  none.path = "POLICIES";
  EXPECT_TRUE(ids(none).empty()) << "case-sensitive like the event search";
  AuditQuery range;
  range.from = kT0 + seconds(10);
  range.to = kT0 + seconds(13);
  EXPECT_EQ(ids(range), (std::vector<std::string>{"audit-010", "audit-011", "audit-012"}));

  // newest first, four per page, no gap or repeat
  std::vector<std::string> seen;
  AuditQuery page;
  page.descending = true;
  page.limit = 4;
  for (int n = 0; n < 20; ++n) {
    auto got = OK(store_->SearchAudit(t.id, page));
    for (const auto& e : got) seen.push_back(e.id);
    if (got.size() < 4) break;
    page.after = std::make_pair(got.back().at, got.back().id);
  }
  ASSERT_EQ(seen.size(), 30u);
  EXPECT_EQ(seen.front(), "audit-029");
  EXPECT_EQ(seen.back(), "audit-000");
  EXPECT_TRUE(std::is_sorted(seen.rbegin(), seen.rend()));
}

TEST_P(StoreConformance, UserTimeZoneAndTotpRoundTripAndAStepIsUsedOnce) {
  Tenant a = MakeTenant("a"), b = MakeTenant("b");
  User u = UserOf(a, "carol");
  ASSERT_OK(store_->CreateUser(u));
  User got = OK(store_->GetUser(a.id, u.id));
  EXPECT_EQ(got.time_zone, "");
  EXPECT_EQ(got.totp_secret, "");
  EXPECT_FALSE(got.totp_enabled);
  EXPECT_EQ(got.totp_last_step, 0);
  got.time_zone = "Asia/Tokyo";
  got.totp_secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
  got.totp_enabled = true;
  ASSERT_OK(store_->UpdateUser(got));
  got = OK(store_->FindUserByName("carol"));
  EXPECT_EQ(got.time_zone, "Asia/Tokyo");
  EXPECT_EQ(got.totp_secret, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
  EXPECT_TRUE(got.totp_enabled);

  ASSERT_OK(store_->UseTotpStep(a.id, u.id, 1000));
  EXPECT_EQ(store_->UseTotpStep(a.id, u.id, 1000).code(), StatusCode::kFailedPrecondition)
      << "the same code twice";
  EXPECT_EQ(store_->UseTotpStep(a.id, u.id, 999).code(), StatusCode::kFailedPrecondition)
      << "an older code after a newer one";
  ASSERT_OK(store_->UseTotpStep(a.id, u.id, 1001));
  EXPECT_EQ(OK(store_->GetUser(a.id, u.id)).totp_last_step, 1001);
  EXPECT_EQ(store_->UseTotpStep(b.id, u.id, 2000).code(), StatusCode::kNotFound);
  // UpdateUser leaves the last step alone (a concurrent PATCH cannot reopen a used code)
  got.totp_last_step = 0;
  ASSERT_OK(store_->UpdateUser(got));
  EXPECT_EQ(OK(store_->GetUser(a.id, u.id)).totp_last_step, 1001);

  // of many threads using one step at once, exactly one succeeds
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (store_->UseTotpStep(a.id, u.id, 5000).ok()) ++ok;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 1);
}

// A port on 127.0.0.1 that nothing listens on.
int ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST_P(StoreConformance, UsersAndSessionsAreUniqueScopedAndExpire) {
  Tenant a = MakeTenant("a"), b = MakeTenant("b");
  User u = UserOf(a, "alice");
  u.role = Role::kOperator;
  u.language = "ja";
  ASSERT_OK(store_->CreateUser(u));
  User dup = u;
  dup.id = NewId("user");
  dup.tenant_id = b.id;
  EXPECT_EQ(store_->CreateUser(dup).code(), StatusCode::kAlreadyExists) << "names are global";
  User other = u;
  other.id = NewId("user");
  other.tenant_id = b.id;
  other.username = "bob";
  ASSERT_OK(store_->CreateUser(other));

  User got = OK(store_->FindUserByName("alice"));
  EXPECT_EQ(got.id, u.id);
  EXPECT_EQ(got.tenant_id, a.id);
  EXPECT_EQ(got.role, Role::kOperator);
  EXPECT_EQ(got.password_hash, u.password_hash);
  EXPECT_EQ(got.language, "ja");
  EXPECT_EQ(store_->GetUser(b.id, u.id).error().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->FindUserByName("nobody").error().code(), StatusCode::kNotFound);
  auto list = OK(store_->ListUsers(a.id));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].username, "alice");
  got.role = Role::kAdmin;
  got.language = "en";
  ASSERT_OK(store_->UpdateUser(got));
  EXPECT_EQ(OK(store_->GetUser(a.id, u.id)).role, Role::kAdmin);
  User foreign = got;
  foreign.tenant_id = b.id;
  EXPECT_EQ(store_->UpdateUser(foreign).code(), StatusCode::kNotFound);

  UserSession s;
  s.id = NewId("session");
  s.token_hash = std::string(64, 'a');
  s.tenant_id = a.id;
  s.user_id = u.id;
  s.created_at = s.last_seen = kT0;
  s.expires_at = kT0 + hours(12);
  ASSERT_OK(store_->CreateSession(s));
  UserSession s2 = s;
  s2.id = NewId("session");
  s2.token_hash = std::string(64, 'b');
  s2.last_seen = kT0 + hours(2);
  ASSERT_OK(store_->CreateSession(s2));
  UserSession found = OK(store_->FindSessionByHash(s.token_hash));
  EXPECT_EQ(found.user_id, u.id);
  EXPECT_EQ(found.expires_at, s.expires_at);
  ASSERT_OK(store_->TouchSession(s.id, kT0 + hours(1)));
  EXPECT_EQ(OK(store_->FindSessionByHash(s.token_hash)).last_seen, kT0 + hours(1));
  // Idle since before kT0 + 90 min: only the first goes.
  EXPECT_EQ(OK(store_->DeleteExpiredSessions(kT0 + hours(3), kT0 + std::chrono::minutes(90))), 1);
  EXPECT_EQ(store_->FindSessionByHash(s.token_hash).error().code(), StatusCode::kNotFound);
  ASSERT_OK(store_->DeleteSession(s2.id));
  EXPECT_EQ(store_->FindSessionByHash(s2.token_hash).error().code(), StatusCode::kNotFound);

  // Deleting a user ends their sessions; deleting a tenant removes its users.
  s.id = NewId("session");
  ASSERT_OK(store_->CreateSession(s));
  EXPECT_EQ(store_->DeleteUser(b.id, u.id).code(), StatusCode::kNotFound);
  ASSERT_OK(store_->DeleteUser(a.id, u.id));
  EXPECT_EQ(store_->FindSessionByHash(s.token_hash).error().code(), StatusCode::kNotFound);
  ASSERT_OK(store_->DeleteTenant(b.id));
  EXPECT_EQ(store_->FindUserByName("bob").error().code(), StatusCode::kNotFound);
}

TEST_P(StoreConformance, UnreachableDatabaseIsUnavailable) {
  std::string url;
  switch (GetParam()) {
    case Dialect::kSqlite:
      url = "sqlite:/nonexistent-ward-dir/sub/ward.db";
      break;
    case Dialect::kPostgres:
      url = fmt::format("postgresql://ward:ward-test@127.0.0.1:{}/ward", ClosedPort());
      break;
    case Dialect::kMysql:
      url = fmt::format("mysql://ward:ward-test@127.0.0.1:{}/ward", ClosedPort());
      break;
  }
  auto s = Store::Open(url);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), StatusCode::kUnavailable) << s.error().ToString();
  EXPECT_EQ(s.error().message().find("ward-test"), std::string::npos) << "password not leaked";
}

// Server backends only: SQLite has no connection to lose.
class ServerStoreConformance : public StoreConformance {};

TEST_P(ServerStoreConformance, RecoversWhenTheServerDropsItsConnections) {
  Tenant t = MakeTenant("a");
  ASSERT_TRUE(store_->GetTenant(t.id).has_value());
  auto server = TestServerUrl(GetParam());
  ASSERT_TRUE(server.has_value());
  std::string db = db_->url().substr(db_->url().rfind('/') + 1);
  if (GetParam() == Dialect::kPostgres) {
    ASSERT_OK(RunAdminSql(*server, {fmt::format("SELECT pg_terminate_backend(pid) FROM "
                                                "pg_stat_activity WHERE datname = '{}' AND pid <> "
                                                "pg_backend_pid()",
                                                db)}));
  } else {
    // MariaDB: KILL CONNECTION for each session on the scratch database, via a procedure.
    ASSERT_OK(RunAdminSql(
        *server,
        {fmt::format("CREATE OR REPLACE PROCEDURE ward.kill_{0}() BEGIN DECLARE done INT DEFAULT "
                     "0; DECLARE cid BIGINT; DECLARE c CURSOR FOR SELECT id FROM "
                     "information_schema.processlist WHERE db = '{0}' AND id <> CONNECTION_ID(); "
                     "DECLARE CONTINUE HANDLER FOR NOT FOUND SET done = 1; OPEN c; FETCH c INTO "
                     "cid; WHILE done = 0 DO KILL CONNECTION cid; FETCH c INTO cid; END WHILE; "
                     "CLOSE c; END",
                     db),
         fmt::format("CALL ward.kill_{}()", db), fmt::format("DROP PROCEDURE ward.kill_{}", db)}));
  }
  // The pooled connection is dead; the store replaces it and answers.
  auto again = store_->GetTenant(t.id);
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  EXPECT_EQ(again->name, "a");
}

TEST_P(ServerStoreConformance, RejectedCredentialsArePermissionDenied) {
  auto server = TestServerUrl(GetParam());
  ASSERT_TRUE(server.has_value());
  std::string url = *server;
  auto colon = url.find(':', url.find("//") + 2);
  auto at = url.find('@');
  ASSERT_NE(colon, std::string::npos);
  url = url.substr(0, colon + 1) + "wrong-password" + url.substr(at);
  auto s = Store::Open(url);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), StatusCode::kPermissionDenied) << s.error().ToString();
  EXPECT_EQ(s.error().message().find("wrong-password"), std::string::npos) << "password not leaked";
}

// ---- c3: policy versions and alerts (schema version 4) ----

TEST_P(StoreConformance, EveryPolicyVersionIsKeptAndDeletedWithThePolicy) {
  Tenant t = MakeTenant("a");
  Tenant other = MakeTenant("b");
  Policy p = MakePolicy(t, "web");
  json v2 = {{"integrity", {{"paths", {"/srv"}}}}};
  json v3 = {{"integrity", {{"paths", {"/srv", "/etc"}}}}};
  ASSERT_TRUE(store_->UpdatePolicy(t.id, p.id, "web", v2, kT0 + hours(1)).has_value());
  ASSERT_TRUE(store_->UpdatePolicy(t.id, p.id, "web-3", v3, kT0 + hours(2)).has_value());
  // A failed update (name taken) keeps no version.
  MakePolicy(t, "taken");
  EXPECT_EQ(CodeOf(store_->UpdatePolicy(t.id, p.id, "taken", v3, kT0 + hours(3))),
            StatusCode::kAlreadyExists);

  auto versions = OK(store_->ListPolicyVersions(t.id, p.id));
  ASSERT_EQ(versions.size(), 3u);
  EXPECT_EQ(versions[0].version, 1);
  EXPECT_EQ(versions[0].document, p.document);
  EXPECT_EQ(versions[0].saved_at, kT0);
  EXPECT_EQ(versions[1].version, 2);
  EXPECT_EQ(versions[1].document, v2);
  EXPECT_EQ(versions[1].saved_at, kT0 + hours(1));
  EXPECT_EQ(versions[2].name, "web-3");
  EXPECT_EQ(versions[2].document, v3);
  PolicyVersion v = OK(store_->GetPolicyVersion(t.id, p.id, 2));
  EXPECT_EQ(v.document, v2);
  EXPECT_EQ(v.name, "web");
  EXPECT_EQ(CodeOf(store_->GetPolicyVersion(t.id, p.id, 4)), StatusCode::kNotFound);
  // Another tenant sees none of them.
  EXPECT_EQ(CodeOf(store_->ListPolicyVersions(other.id, p.id)), StatusCode::kNotFound);
  EXPECT_EQ(CodeOf(store_->GetPolicyVersion(other.id, p.id, 1)), StatusCode::kNotFound);

  ASSERT_OK(store_->DeletePolicy(t.id, p.id));
  EXPECT_EQ(CodeOf(store_->GetPolicyVersion(t.id, p.id, 1)), StatusCode::kNotFound);
  // A new policy with the same id starts its history afresh.
  Policy again = p;
  again.name = "web-again";
  ASSERT_OK(store_->CreatePolicy(again));
  EXPECT_EQ(OK(store_->ListPolicyVersions(t.id, p.id)).size(), 1u);
}

AlertSignal Signal(const std::string& tenant, const std::string& agent, const std::string& event,
                   TimePoint ts, const std::string& rule_key = "ips.blocked:942100",
                   int severity = 3) {
  AlertSignal s;
  s.new_alert_id = "alert-" + event;
  s.tenant_id = tenant;
  s.agent_id = agent;
  s.event_id = event;
  s.timestamp = ts;
  s.rule_key = rule_key;
  s.module = "ips";
  s.title = "title of " + event;
  s.severity = severity;
  return s;
}

TEST_P(StoreConformance, AlertsGroupPerRuleAndHostWithinTheWindowAndCountEachEventOnce) {
  Tenant t = MakeTenant("a");
  Tenant other = MakeTenant("b");
  Agent h1 = MakeAgent(t, "h1");
  Agent h2 = MakeAgent(t, "h2");
  const seconds window = hours(1);
  // Three events of one rule on h1 within the window, one on h2, one of another rule on h1.
  std::vector<AlertSignal> batch = {
      Signal(t.id, h1.id, "e1", kT0),
      Signal(t.id, h1.id, "e2", kT0 + minutes(10), "ips.blocked:942100", 4),
      Signal(t.id, h2.id, "e3", kT0 + minutes(11)),
      Signal(t.id, h1.id, "e4", kT0 + minutes(12), "antimalware.quarantine:Eicar"),
      Signal(t.id, h1.id, "e5", kT0 + minutes(50)),
  };
  EXPECT_EQ(OK(store_->RecordAlertSignals(batch, window)), 5);
  // The same batch again (an agent resending): nothing counts twice.
  EXPECT_EQ(OK(store_->RecordAlertSignals(batch, window)), 0);
  auto all = OK(store_->ListAlerts(t.id, AlertFilter{}));
  ASSERT_EQ(all.size(), 3u);
  std::map<std::string, Alert> by_first;
  for (const auto& a : all) by_first[a.first_event_id] = a;
  const Alert& grouped = by_first.at("e1");
  EXPECT_EQ(grouped.id, "alert-e1");
  EXPECT_EQ(grouped.count, 3);
  EXPECT_EQ(grouped.severity, 4) << "the highest of its events";
  EXPECT_EQ(grouped.first_seen, kT0);
  EXPECT_EQ(grouped.last_seen, kT0 + minutes(50));
  EXPECT_EQ(grouped.last_event_id, "e5");
  EXPECT_EQ(grouped.title, "title of e5");
  EXPECT_EQ(grouped.state, AlertState::kOpen);
  EXPECT_EQ(grouped.source, "builtin");
  EXPECT_EQ(by_first.at("e3").agent_id, h2.id);
  EXPECT_EQ(by_first.at("e3").count, 1);
  EXPECT_EQ(by_first.at("e4").rule_key, "antimalware.quarantine:Eicar");
  // Newest first.
  EXPECT_EQ(all[0].id, "alert-e1");

  // Beyond the window after the last event: a new alert.
  ASSERT_EQ(OK(store_->RecordAlertSignals({Signal(t.id, h1.id, "e6", kT0 + minutes(50) + hours(2))},
                                          window)),
            1);
  EXPECT_EQ(OK(store_->GetAlert(t.id, "alert-e6")).count, 1);
  EXPECT_EQ(OK(store_->GetAlert(t.id, "alert-e1")).count, 3);
  // Resolved alerts collect nothing more: the next event opens a new one.
  AlertTransition resolve{AlertState::kResolved, "user:u1", "patched", kT0 + hours(5)};
  ASSERT_TRUE(store_->TransitionAlerts(t.id, {"alert-e6"}, resolve).has_value());
  ASSERT_EQ(OK(store_->RecordAlertSignals(
                {Signal(t.id, h1.id, "e7", kT0 + minutes(50) + hours(2) + minutes(1))}, window)),
            1);
  EXPECT_EQ(OK(store_->GetAlert(t.id, "alert-e7")).count, 1);

  // Filters and paging.
  AlertFilter f;
  f.agent_id = h2.id;
  EXPECT_EQ(OK(store_->ListAlerts(t.id, f)).size(), 1u);
  f = {};
  f.state = AlertState::kResolved;
  EXPECT_EQ(OK(store_->ListAlerts(t.id, f)).size(), 1u);
  f = {};
  f.min_severity = 4;
  EXPECT_EQ(OK(store_->ListAlerts(t.id, f)).size(), 1u);
  f = {};
  f.limit = 2;
  auto page1 = OK(store_->ListAlerts(t.id, f));
  ASSERT_EQ(page1.size(), 2u);
  f.before = {{page1.back().last_seen, page1.back().id}};
  auto page2 = OK(store_->ListAlerts(t.id, f));
  f.before = {{page2.back().last_seen, page2.back().id}};
  auto page3 = OK(store_->ListAlerts(t.id, f));
  std::set<std::string> ids;
  for (const auto* page : {&page1, &page2, &page3})
    for (const auto& a : *page) ids.insert(a.id);
  EXPECT_EQ(page1.size() + page2.size() + page3.size(), 5u);
  EXPECT_EQ(ids.size(), 5u);

  // Tenants never see each other's alerts.
  EXPECT_EQ(OK(store_->ListAlerts(other.id, AlertFilter{})).size(), 0u);
  EXPECT_EQ(CodeOf(store_->GetAlert(other.id, "alert-e1")), StatusCode::kNotFound);
  ASSERT_OK(store_->DeleteTenant(t.id));
  EXPECT_EQ(CodeOf(store_->GetAlert(t.id, "alert-e1")), StatusCode::kNotFound);
}

// A batch of many severe events over a few groups, some out of order, one group split by the
// window, one event twice: stored with its alerts in one transaction, the alerts exactly as the
// same signals recorded one at a time make them, and a re-delivered batch counts nothing twice.
TEST_P(StoreConformance, IngestWithAlertsGroupsABatchAsOneSignalAtATimeAndCountsResentEventsOnce) {
  Tenant t = MakeTenant("a");
  Tenant ref = MakeTenant("ref");
  Agent h1 = MakeAgent(t, "h1");
  Agent h2 = MakeAgent(t, "h2");
  const seconds window = hours(1);
  std::vector<StoredEvent> events;
  std::vector<AlertSignal> signals;
  auto add = [&](const Agent& h, const std::string& rule, TimePoint ts, int severity) {
    std::string id = fmt::format("ev-{:03}", events.size());
    events.push_back(MakeEvent(t.id, h.id, ts, "ips", severity, id));
    AlertSignal s = Signal(t.id, h.id, id, ts, rule, severity);
    s.new_alert_id = fmt::format("alert-{}-{}", t.id, id);
    signals.push_back(s);
  };
  for (int i = 0; i < 90; ++i) {
    // Three rules on two hosts (6 groups), 40 minutes of events, every 7th a minute early.
    TimePoint ts = kT0 + seconds(27 * i) - (i % 7 == 0 ? minutes(1) : minutes(0));
    add(i % 2 == 0 ? h1 : h2, fmt::format("ips.blocked:94210{}", i % 3), ts, 3 + (i % 11 == 5));
  }
  // One group split by the window: two events 3 hours apart, then one between them.
  add(h1, "autoheal.restored", kT0, 2);
  add(h1, "autoheal.restored", kT0 + hours(3), 2);
  add(h1, "autoheal.restored", kT0 + minutes(50), 2);
  // The same event twice among the signals counts once.
  signals.push_back(signals[4]);

  IngestResult r = OK(store_->InsertEventsWithAlerts(events, signals, window));
  EXPECT_EQ(r.accepted, 93);
  EXPECT_EQ(r.duplicates, 0);
  EXPECT_EQ(r.alerts_counted, 93);
  EXPECT_EQ(CountAll(t.id), 93);

  // The reference: the same signals, one call each, in another tenant.
  for (const AlertSignal& s : signals) {
    AlertSignal one = s;
    one.tenant_id = ref.id;
    one.agent_id = s.agent_id == h1.id ? "ref-h1" : "ref-h2";
    one.new_alert_id = "ref-" + s.new_alert_id;
    (void)OK(store_->RecordAlertSignals({one}, window));
  }
  AlertFilter all_filter;
  all_filter.limit = 1000;
  auto got = OK(store_->ListAlerts(t.id, all_filter));
  auto want = OK(store_->ListAlerts(ref.id, all_filter));
  ASSERT_EQ(got.size(), 8u) << "six rule/host groups, and the split group twice";
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(got[i].rule_key);
    EXPECT_EQ("ref-" + got[i].id, want[i].id);
    EXPECT_EQ(got[i].rule_key, want[i].rule_key);
    EXPECT_EQ(got[i].count, want[i].count);
    EXPECT_EQ(got[i].severity, want[i].severity);
    EXPECT_EQ(got[i].first_seen, want[i].first_seen);
    EXPECT_EQ(got[i].last_seen, want[i].last_seen);
    EXPECT_EQ(got[i].first_event_id, want[i].first_event_id);
    EXPECT_EQ(got[i].last_event_id, want[i].last_event_id);
    EXPECT_EQ(got[i].title, want[i].title);
    EXPECT_EQ(got[i].updated_at, want[i].updated_at);
  }
  int64_t total = 0;
  std::map<std::string, int64_t> per_rule;
  for (const Alert& a : got) {
    total += a.count;
    per_rule[a.rule_key] += a.count;
  }
  EXPECT_EQ(total, 93);
  EXPECT_EQ(per_rule.at("autoheal.restored"), 3);
  Alert early = OK(store_->GetAlert(t.id, fmt::format("alert-{}-ev-090", t.id)));
  EXPECT_EQ(early.count, 2) << "the event between counted into the first alert (within window)";
  EXPECT_EQ(early.last_event_id, "ev-092");

  // Re-delivered whole (new alert ids, as a retry computes them): nothing stored, nothing counted.
  std::vector<AlertSignal> again = signals;
  for (AlertSignal& s : again) s.new_alert_id += "-again";
  r = OK(store_->InsertEventsWithAlerts(events, again, window));
  EXPECT_EQ(r.accepted, 0);
  EXPECT_EQ(r.duplicates, 93);
  EXPECT_EQ(r.alerts_counted, 0);
  auto after = OK(store_->ListAlerts(t.id, all_filter));
  ASSERT_EQ(after.size(), got.size());
  for (size_t i = 0; i < after.size(); ++i) EXPECT_EQ(after[i].count, got[i].count);

  // Re-delivered in part, with new events: only the new ones count, into the open alerts.
  std::vector<StoredEvent> mixed(events.begin(), events.begin() + 10);
  std::vector<AlertSignal> mixed_signals(again.begin(), again.begin() + 10);
  for (int i = 0; i < 4; ++i) {
    std::string id = fmt::format("new-{}", i);
    TimePoint ts = kT0 + minutes(45 + i);
    mixed.push_back(MakeEvent(t.id, h1.id, ts, "ips", 3, id));
    AlertSignal s = Signal(t.id, h1.id, id, ts, "ips.blocked:942100", 3);
    s.new_alert_id = "alert-" + id;
    mixed_signals.push_back(s);
  }
  r = OK(store_->InsertEventsWithAlerts(mixed, mixed_signals, window));
  EXPECT_EQ(r.accepted, 4);
  EXPECT_EQ(r.duplicates, 10);
  EXPECT_EQ(r.alerts_counted, 4);
  total = 0;
  for (const Alert& a : OK(store_->ListAlerts(t.id, all_filter))) total += a.count;
  EXPECT_EQ(total, 97);
  EXPECT_EQ(OK(store_->ListAlerts(t.id, all_filter)).size(), 8u) << "no new alert opened";

  // An invalid signal stores nothing: neither the events nor any alert.
  std::vector<StoredEvent> bad_events = {MakeEvent(t.id, h1.id, kT0, "ips", 3, "bad-1")};
  std::vector<AlertSignal> bad = {Signal(t.id, h1.id, "bad-1", kT0)};
  bad[0].rule_key = std::string(300, 'r');
  EXPECT_EQ(CodeOf(store_->InsertEventsWithAlerts(bad_events, bad, window)),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CountAll(t.id), 97);
}

TEST_P(StoreConformance, AlertStatesRecordWhoWhenWhyAndBulkChangesAreAllOrNothing) {
  Tenant t = MakeTenant("a");
  Tenant other = MakeTenant("b");
  Agent h = MakeAgent(t, "h");
  ASSERT_EQ(OK(store_->RecordAlertSignals(
                {Signal(t.id, h.id, "e1", kT0, "a"), Signal(t.id, h.id, "e2", kT0, "b"),
                 Signal(t.id, h.id, "e3", kT0, "c")},
                hours(1))),
            3);
  AlertTransition ack{AlertState::kAcknowledged, "user:u1", "looking", kT0 + minutes(1)};
  auto changed = OK(store_->TransitionAlerts(t.id, {"alert-e1", "alert-e2"}, ack));
  ASSERT_EQ(changed.size(), 2u);
  Alert a1 = OK(store_->GetAlert(t.id, "alert-e1"));
  EXPECT_EQ(a1.state, AlertState::kAcknowledged);
  EXPECT_EQ(a1.acknowledged_by, "user:u1");
  EXPECT_EQ(a1.acknowledged_at, kT0 + minutes(1));
  EXPECT_EQ(a1.acknowledged_reason, "looking");
  EXPECT_FALSE(a1.resolved_at.has_value());
  // Acknowledging again changes nothing (who/when stay the first).
  AlertTransition ack2{AlertState::kAcknowledged, "user:u2", "", kT0 + minutes(2)};
  ASSERT_TRUE(store_->TransitionAlerts(t.id, {"alert-e1"}, ack2).has_value());
  EXPECT_EQ(OK(store_->GetAlert(t.id, "alert-e1")).acknowledged_by, "user:u1");

  AlertTransition resolve{AlertState::kResolved, "apikey:k1", "", kT0 + minutes(3)};
  ASSERT_TRUE(store_->TransitionAlerts(t.id, {"alert-e1"}, resolve).has_value());
  Alert r1 = OK(store_->GetAlert(t.id, "alert-e1"));
  EXPECT_EQ(r1.state, AlertState::kResolved);
  EXPECT_EQ(r1.resolved_by, "apikey:k1");
  EXPECT_EQ(r1.resolved_at, kT0 + minutes(3));
  EXPECT_FALSE(r1.resolved_reason.has_value()) << "an empty reason is none";
  EXPECT_EQ(r1.acknowledged_by, "user:u1") << "the acknowledgement stays on record";

  // All or nothing: one unknown id (or another tenant's) and nothing changes.
  auto bad = store_->TransitionAlerts(t.id, {"alert-e2", "alert-nope"}, resolve);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), StatusCode::kNotFound);
  EXPECT_NE(bad.error().message().find("alert-nope"), std::string::npos);
  EXPECT_EQ(OK(store_->GetAlert(t.id, "alert-e2")).state, AlertState::kAcknowledged);
  EXPECT_EQ(CodeOf(store_->TransitionAlerts(other.id, {"alert-e3"}, resolve)),
            StatusCode::kNotFound);
  // A resolved alert cannot be acknowledged; the whole request fails.
  EXPECT_EQ(CodeOf(store_->TransitionAlerts(t.id, {"alert-e3", "alert-e1"}, ack)),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(OK(store_->GetAlert(t.id, "alert-e3")).state, AlertState::kOpen);
  // Reopening clears the later states.
  AlertTransition reopen{AlertState::kOpen, "user:u1", "", kT0 + minutes(4)};
  ASSERT_TRUE(store_->TransitionAlerts(t.id, {"alert-e1"}, reopen).has_value());
  Alert o1 = OK(store_->GetAlert(t.id, "alert-e1"));
  EXPECT_EQ(o1.state, AlertState::kOpen);
  EXPECT_FALSE(o1.acknowledged_by.has_value());
  EXPECT_FALSE(o1.resolved_at.has_value());
  EXPECT_EQ(o1.updated_at, kT0 + minutes(4));
}

TEST_P(StoreConformance, ActivationTokenPolicyIsChangedOnlyWithinItsTenant) {
  Tenant t = MakeTenant("a");
  Policy web = MakePolicy(t, "web");
  Policy db = MakePolicy(t, "db");
  ActivationToken tok;
  tok.id = NewId("tok");
  tok.tenant_id = t.id;
  tok.token_hash = std::string(64, '5');
  tok.policy_id = web.id;
  tok.created_at = kT0;
  ASSERT_OK(store_->CreateActivationToken(tok));

  ASSERT_OK(store_->SetActivationTokenPolicy(t.id, tok.id, db.id));
  EXPECT_EQ(OK(store_->GetActivationToken(t.id, tok.id)).policy_id, db.id);
  EXPECT_EQ(OK(store_->UseActivationToken(tok.token_hash, kT0)).policy_id, db.id)
      << "an agent activated now gets the new policy";
  ASSERT_OK(store_->SetActivationTokenPolicy(t.id, tok.id, std::nullopt));
  EXPECT_FALSE(OK(store_->GetActivationToken(t.id, tok.id)).policy_id.has_value());

  Tenant other = MakeTenant("b");
  Policy foreign = MakePolicy(other, "theirs");
  Status s = store_->SetActivationTokenPolicy(t.id, tok.id, foreign.id);
  EXPECT_EQ(CodeOf(s), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("policy"), std::string::npos);
  EXPECT_EQ(CodeOf(store_->SetActivationTokenPolicy(other.id, tok.id, foreign.id)),
            StatusCode::kNotFound);
  EXPECT_EQ(CodeOf(store_->SetActivationTokenPolicy(t.id, "tok-none", web.id)),
            StatusCode::kNotFound);
  EXPECT_FALSE(OK(store_->GetActivationToken(t.id, tok.id)).policy_id.has_value());
}

std::string BackendName(const ::testing::TestParamInfo<Dialect>& info) {
  return std::string(DialectName(info.param));
}

// ---- tenant-wide IP lists (issue 17) ----
TEST_P(StoreConformance, IpListsArePerTenantCreatedReplacedAndDeleted) {
  Tenant t = MakeTenant("acme");
  Tenant other = MakeTenant("other");
  IpList office{t.id,
                "office",
                "HQ and VPN",
                {"10.1.0.0/16", "2001:db8::/32"},
                TimePoint(std::chrono::seconds(1))};
  EXPECT_TRUE(OK(store_->PutIpList(office)));
  IpList admins{t.id, "admins", "", {"192.0.2.10"}, TimePoint(std::chrono::seconds(2))};
  EXPECT_TRUE(OK(store_->PutIpList(admins)));
  // The same name in another tenant is another list.
  EXPECT_TRUE(OK(store_->PutIpList(IpList{other.id, "office", "", {"172.16.0.0/12"}, {}})));

  auto lists = OK(store_->ListIpLists(t.id));
  ASSERT_EQ(lists.size(), 2u);
  EXPECT_EQ(lists[0].name, "admins");  // by name
  EXPECT_EQ(lists[1].entries, (std::vector<std::string>{"10.1.0.0/16", "2001:db8::/32"}));
  EXPECT_EQ(lists[1].description, "HQ and VPN");
  EXPECT_EQ(lists[1].updated_at, TimePoint(std::chrono::seconds(1)));

  office.entries = {"10.2.0.0/16"};
  office.updated_at = TimePoint(std::chrono::seconds(3));
  EXPECT_FALSE(OK(store_->PutIpList(office))) << "replaced, not created";
  IpList got = OK(store_->GetIpList(t.id, "office"));
  EXPECT_EQ(got.entries, (std::vector<std::string>{"10.2.0.0/16"}));
  EXPECT_EQ(OK(store_->GetIpList(other.id, "office")).entries,
            (std::vector<std::string>{"172.16.0.0/12"}));

  EXPECT_OK(store_->DeleteIpList(t.id, "office"));
  EXPECT_EQ(store_->DeleteIpList(t.id, "office").code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetIpList(t.id, "office").error().code(), StatusCode::kNotFound);
  EXPECT_EQ(OK(store_->ListIpLists(other.id)).size(), 1u);
  EXPECT_EQ(store_->PutIpList(IpList{t.id, std::string(65, 'x'), "", {}, {}}).error().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->PutIpList(IpList{"no-such-tenant", "x", "", {}, {}}).error().code(),
            StatusCode::kNotFound);
  // A tenant's deletion takes its lists.
  EXPECT_OK(store_->DeleteTenant(other.id));
  EXPECT_EQ(OK(store_->ListIpLists(other.id)).size(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformance,
                         ::testing::Values(Dialect::kSqlite, Dialect::kPostgres, Dialect::kMysql),
                         BackendName);
INSTANTIATE_TEST_SUITE_P(Backends, ServerStoreConformance,
                         ::testing::Values(Dialect::kPostgres, Dialect::kMysql), BackendName);

// ---- Agent groups (issue #18, s8-upgrade) ----
TEST_P(StoreConformance, AgentGroupsHoldAnAgentOnceAndHandTheirPolicyToMembers) {
  Tenant t = MakeTenant("acme");
  Tenant other = MakeTenant("other");
  Policy web = MakePolicy(t, "web");
  Policy db = MakePolicy(t, "db");
  Policy foreign = MakePolicy(other, "theirs");
  Agent a1 = MakeAgent(t, "web-01");
  Agent a2 = MakeAgent(t, "web-02");
  Agent loner = MakeAgent(t, "db-01");
  Agent theirs = MakeAgent(other, "web-01");

  auto group = [&](const Tenant& of, const std::string& name, std::optional<std::string> policy) {
    AgentGroup g;
    g.id = NewId("group");
    g.tenant_id = of.id;
    g.name = name;
    g.description = "the " + name + " tier";
    g.policy_id = std::move(policy);
    g.created_at = kT0;
    g.updated_at = kT0;
    return g;
  };
  AgentGroup webs = group(t, "webs", web.id);
  ASSERT_OK(store_->CreateAgentGroup(webs));
  AgentGroup spare = group(t, "spare", std::nullopt);
  ASSERT_OK(store_->CreateAgentGroup(spare));
  // Names are unique per tenant; another tenant may use the same name; policies are the tenant's.
  EXPECT_EQ(CodeOf(store_->CreateAgentGroup(group(t, "webs", std::nullopt))),
            StatusCode::kAlreadyExists);
  ASSERT_OK(store_->CreateAgentGroup(group(other, "webs", foreign.id)));
  Status s = store_->CreateAgentGroup(group(t, "stolen", foreign.id));
  EXPECT_EQ(CodeOf(s), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("policy"), std::string::npos) << s.ToString();
  EXPECT_EQ(CodeOf(store_->CreateAgentGroup(group(t, std::string(256, 'x'), std::nullopt))),
            StatusCode::kInvalidArgument);

  // Joining a group with a policy gives the agent that policy (unless asked not to).
  ASSERT_OK(store_->SetAgentGroup(t.id, a1.id, webs.id, true, kT0));
  ASSERT_OK(store_->SetAgentGroup(t.id, a2.id, spare.id, true, kT0));
  EXPECT_EQ(OK(store_->GetAgent(t.id, a1.id)).policy_id, web.id);
  EXPECT_FALSE(OK(store_->GetAgent(t.id, a2.id)).policy_id.has_value());
  // An agent is in at most one group: moving it leaves the other.
  ASSERT_OK(store_->SetAgentGroup(t.id, a2.id, webs.id, false, kT0));
  EXPECT_FALSE(OK(store_->GetAgent(t.id, a2.id)).policy_id.has_value()) << "apply_policy false";
  EXPECT_EQ(OK(store_->AgentGroupOf(t.id, a2.id)), webs.id);
  EXPECT_EQ(OK(store_->AgentGroupOf(t.id, loner.id)), std::nullopt);
  EXPECT_EQ(OK(store_->GetAgentGroup(t.id, webs.id)).members, 2);
  EXPECT_EQ(OK(store_->GetAgentGroup(t.id, spare.id)).members, 0);
  auto members = OK(store_->ListAgentGroupMembers(t.id));
  EXPECT_EQ(members, (std::map<std::string, std::string>{{a1.id, webs.id}, {a2.id, webs.id}}));
  auto groups = OK(store_->ListAgentGroups(t.id));
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].name, "spare");  // by name
  EXPECT_EQ(groups[1].name, "webs");
  EXPECT_EQ(groups[1].description, "the webs tier");
  EXPECT_EQ(groups[1].policy_id, web.id);
  EXPECT_EQ(groups[1].members, 2);
  EXPECT_EQ(groups[1].created_at, kT0);

  // The group's new policy reaches every member in one change, and no one else.
  webs.policy_id = db.id;
  webs.name = "web tier";
  webs.updated_at = kT0 + minutes(1);
  EXPECT_EQ(OK(store_->UpdateAgentGroup(webs, true)), 2);
  EXPECT_EQ(OK(store_->GetAgent(t.id, a1.id)).policy_id, db.id);
  EXPECT_EQ(OK(store_->GetAgent(t.id, a2.id)).policy_id, db.id);
  EXPECT_FALSE(OK(store_->GetAgent(t.id, loner.id)).policy_id.has_value());
  AgentGroup got = OK(store_->GetAgentGroup(t.id, webs.id));
  EXPECT_EQ(got.name, "web tier");
  EXPECT_EQ(got.updated_at, kT0 + minutes(1));
  EXPECT_EQ(OK(store_->UpdateAgentGroup(webs, true)), 0) << "members already have it";
  // A member given another policy on its own keeps it through a rename, not a reassignment.
  ASSERT_OK(store_->AssignPolicy(t.id, a1.id, std::nullopt));
  EXPECT_EQ(OK(store_->UpdateAgentGroup(webs, false)), 0);
  EXPECT_FALSE(OK(store_->GetAgent(t.id, a1.id)).policy_id.has_value());
  EXPECT_EQ(OK(store_->UpdateAgentGroup(webs, true)), 1);
  EXPECT_EQ(OK(store_->GetAgent(t.id, a1.id)).policy_id, db.id);
  // A policy a group uses cannot be deleted.
  EXPECT_EQ(CodeOf(store_->DeletePolicy(t.id, web.id)), StatusCode::kOk);
  EXPECT_OK(store_->AssignPolicy(t.id, a1.id, std::nullopt));
  EXPECT_OK(store_->AssignPolicy(t.id, a2.id, std::nullopt));
  EXPECT_EQ(CodeOf(store_->DeletePolicy(t.id, db.id)), StatusCode::kFailedPrecondition);

  // Across tenants nothing is found, nothing changes.
  EXPECT_EQ(CodeOf(store_->GetAgentGroup(other.id, webs.id)), StatusCode::kNotFound);
  EXPECT_EQ(CodeOf(store_->SetAgentGroup(other.id, theirs.id, webs.id, true, kT0)),
            StatusCode::kNotFound);
  EXPECT_EQ(CodeOf(store_->SetAgentGroup(t.id, theirs.id, webs.id, true, kT0)),
            StatusCode::kNotFound);
  EXPECT_EQ(CodeOf(store_->AgentGroupOf(other.id, a1.id)), StatusCode::kNotFound);
  AgentGroup hijack = webs;
  hijack.tenant_id = other.id;
  EXPECT_EQ(CodeOf(store_->UpdateAgentGroup(hijack, true)), StatusCode::kNotFound);
  EXPECT_EQ(CodeOf(store_->DeleteAgentGroup(other.id, webs.id)), StatusCode::kNotFound);
  webs.policy_id = foreign.id;
  EXPECT_EQ(CodeOf(store_->UpdateAgentGroup(webs, true)), StatusCode::kNotFound);
  EXPECT_EQ(OK(store_->GetAgentGroup(t.id, webs.id)).policy_id, db.id);
  EXPECT_TRUE(OK(store_->ListAgentGroupMembers(other.id)).empty());
  EXPECT_EQ(OK(store_->ListAgentGroups(other.id)).size(), 1u);

  // Leaving, a deleted agent, a deleted group: memberships go, policies stay.
  ASSERT_OK(store_->SetAgentGroup(t.id, a2.id, std::nullopt, true, kT0));
  EXPECT_EQ(OK(store_->AgentGroupOf(t.id, a2.id)), std::nullopt);
  ASSERT_OK(store_->SetAgentGroup(t.id, loner.id, webs.id, true, kT0));
  EXPECT_EQ(OK(store_->GetAgent(t.id, loner.id)).policy_id, db.id);
  ASSERT_OK(store_->DeleteAgent(t.id, a1.id));
  EXPECT_EQ(OK(store_->GetAgentGroup(t.id, webs.id)).members, 1);
  ASSERT_OK(store_->DeleteAgentGroup(t.id, webs.id));
  EXPECT_EQ(CodeOf(store_->GetAgentGroup(t.id, webs.id)), StatusCode::kNotFound);
  EXPECT_EQ(OK(store_->AgentGroupOf(t.id, loner.id)), std::nullopt);
  EXPECT_EQ(OK(store_->GetAgent(t.id, loner.id)).policy_id, db.id);
  EXPECT_TRUE(OK(store_->ListAgentGroupMembers(t.id)).empty());
  // A tenant's deletion takes its groups.
  ASSERT_OK(store_->SetAgentGroup(other.id, theirs.id, OK(store_->ListAgentGroups(other.id))[0].id,
                                  true, kT0));
  ASSERT_OK(store_->DeleteTenant(other.id));
  EXPECT_TRUE(OK(store_->ListAgentGroups(other.id)).empty());
  EXPECT_TRUE(OK(store_->ListAgentGroupMembers(other.id)).empty());
}

// Two threads move agents between two groups while a third keeps changing one group's policy:
// every agent ends in exactly one group, and every member of the group holds its final policy.
TEST_P(StoreConformance, ConcurrentMovesAndPolicyChangesLeaveEveryMemberWithItsGroupsPolicy) {
  Tenant t = MakeTenant("acme");
  Policy p1 = MakePolicy(t, "p1");
  Policy p2 = MakePolicy(t, "p2");
  AgentGroup g1, g2;
  for (auto* g : {&g1, &g2}) {
    g->id = NewId("group");
    g->tenant_id = t.id;
    g->name = g->id;
    g->policy_id = p1.id;
    g->created_at = g->updated_at = kT0;
    ASSERT_OK(store_->CreateAgentGroup(*g));
  }
  std::vector<Agent> agents;
  for (int i = 0; i < 6; ++i) agents.push_back(MakeAgent(t, fmt::format("h{}", i)));
  std::atomic<int> failures{0};
  auto mover = [&](int offset) {
    auto s = Open();
    if (!s) return;
    for (int round = 0; round < 10; ++round) {
      for (size_t i = 0; i < agents.size(); ++i) {
        const AgentGroup& g = (i + round + offset) % 2 ? g1 : g2;
        if (!s->SetAgentGroup(t.id, agents[i].id, g.id, true, kT0).ok()) ++failures;
      }
    }
  };
  auto changer = [&] {
    auto s = Open();
    if (!s) return;
    for (int round = 0; round < 20; ++round) {
      AgentGroup g = g1;
      g.policy_id = round % 2 ? p1.id : p2.id;
      if (!s->UpdateAgentGroup(g, true).has_value()) ++failures;
    }
  };
  std::thread m1(mover, 0), m2(mover, 1), c(changer);
  m1.join();
  m2.join();
  c.join();
  EXPECT_EQ(failures.load(), 0);
  auto members = OK(store_->ListAgentGroupMembers(t.id));
  EXPECT_EQ(members.size(), agents.size());
  const std::string g1_policy = *OK(store_->GetAgentGroup(t.id, g1.id)).policy_id;
  for (const auto& a : agents) {
    ASSERT_TRUE(members.count(a.id));
    auto got = OK(store_->GetAgent(t.id, a.id));
    const std::string want = members[a.id] == g1.id ? g1_policy : p1.id;
    EXPECT_EQ(got.policy_id, want) << a.hostname;
  }
  EXPECT_EQ(OK(store_->GetAgentGroup(t.id, g1.id)).members +
                OK(store_->GetAgentGroup(t.id, g2.id)).members,
            static_cast<int64_t>(agents.size()));
}

}  // namespace
}  // namespace ward::manager
