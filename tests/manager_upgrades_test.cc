// Agent upgrades from the manager (issue #18, docs/updates.md "Agent upgrades") over the real
// HTTPS front and a real SQLite store: a target version per agent group or policy, offered in
// heartbeat replies as a manifest signed with the update key, in two waves; agents back with the
// target are done, a failure or an agent not back within the timeout stops the rollout (event +
// state per agent). (Cross-tenant: manager_api_test's CrossTenantWalk; the agent's side:
// agent/updates/upgrade_test.cc.)
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <tuple>

#include "agent/updates/package.h"
#include "common/hash.h"
#include "manager/jobs/jobs.h"
#include "manager/services/agent_upgrades.h"
#include "manager/services/packages.h"
#include "manager/services/updates.h"
#include "tests/manager_harness.h"

namespace ward::test {
namespace {

// Two ward-agent "packages" (an ar archive's magic is all the catalog checks) and an update key.
struct Upgrades {
  Upgrades() {
    WriteFile(dir.Sub("ward-agent_0.1.0_amd64.deb"), old_bytes);
    WriteFile(dir.Sub("ward-agent_0.2.0_amd64.deb"), new_bytes);
    auto c = manager::PackageCatalog::Load(dir.path());
    WARD_CHECK(c.has_value());
    catalog = std::make_shared<const manager::PackageCatalog>(std::move(*c));
    std::array<unsigned char, 32> seed{};
    seed.fill(3);
    auto repo = manager::UpdateRepository::Open(updates_dir.path(), updates::KeyPairFromSeed(seed));
    WARD_CHECK(repo.has_value());
    repository = std::move(*repo);
  }
  manager::ApiOptions Options() const {
    manager::ApiOptions o;
    o.packages = catalog;
    o.updates = repository;
    return o;
  }
  TempDir dir;
  TempDir updates_dir;
  std::string old_bytes = "!<arch>\nward-agent 0.1.0";
  std::string new_bytes = "!<arch>\nward-agent 0.2.0, the new one";
  std::shared_ptr<const manager::PackageCatalog> catalog;
  std::shared_ptr<manager::UpdateRepository> repository;
};

struct Host {
  std::string id, cred, machine;
  std::string version = "0.1.0";
  Json upgrade = nullptr;  // status.upgrade as the agent reports it
};

Reply Beat(ManagerHarness& m, const Host& h) {
  Json status = {{"version", h.version}};
  if (!h.upgrade.is_null()) status["upgrade"] = h.upgrade;
  return m.Post(
      "/agent/v1/heartbeat", h.cred,
      {{"machine_id", h.machine}, {"status", status}, {"command_results", Json::array()}});
}

// The offer in a heartbeat reply, checked as the agent checks it: signed by the offered key,
// naming the offered version; null when there is none.
Json Offer(const Reply& r) {
  EXPECT_EQ(r.status, 200) << r.raw;
  if (!r.body.contains("updates") || !r.body["updates"].contains("agent_package")) return nullptr;
  const Json& o = r.body["updates"]["agent_package"];
  auto key = updates::PublicKeyFromBase64(r.body["updates"]["key"].get<std::string>());
  EXPECT_TRUE(key.has_value());
  auto m = updates::VerifyPackageManifest({o["manifest"], o["signature"]}, *key,
                                          o["version"].get<std::string>());
  EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().ToString());
  return o;
}

size_t ManagerEvents(ManagerHarness& m, const std::string& key, const std::string& action,
                     const std::string& agent_id) {
  Reply r = m.Get("/api/v1/events?module=manager&action=" + action + "&limit=100", key);
  EXPECT_EQ(r.status, 200) << r.raw;
  size_t n = 0;
  for (const auto& e : r.body["items"]) n += e["agent"]["id"] == agent_id ? 1 : 0;
  return n;
}

std::string StateOf(const Reply& status, const std::string& agent) {
  for (const auto& a : status.body["agents"]) {
    if (a["agent_id"] == agent) return a["state"];
  }
  return "absent";
}

std::vector<Host> GroupOfHosts(ManagerHarness& m, const std::string& k, const std::string& group,
                               int n) {
  std::vector<Host> hosts;
  for (int i = 0; i < n; ++i) {
    Host h;
    h.machine = "m-" + std::to_string(i);
    std::tie(h.id, h.cred) = m.NewAgent(k, "web-" + std::to_string(i), "", h.machine);
    EXPECT_EQ(m.Patch("/api/v1/agents/" + h.id, k, {{"group_id", group}}).status, 200);
    hosts.push_back(h);
  }
  // Waves follow the agent ids' order.
  std::sort(hosts.begin(), hosts.end(), [](const Host& a, const Host& b) { return a.id < b.id; });
  return hosts;
}

TEST(AgentUpgrades, AGroupUpgradesInTwoWavesAndATimeoutStopsIt) {
  Upgrades u;
  ManagerHarness m(u.Options());
  auto [tenant, k] = m.NewTenant("shop");
  Reply r = m.Post("/api/v1/agent-groups", k, {{"name", "web"}});
  ASSERT_EQ(r.status, 201) << r.raw;
  const std::string group = r.body["id"];
  std::vector<Host> hosts = GroupOfHosts(m, k, group, 4);
  for (const auto& h : hosts) EXPECT_TRUE(Offer(Beat(m, h)).is_null()) << "no rollout yet";

  r = m.Do("PUT", "/api/v1/agent-groups/" + group + "/upgrade", k,
           Json{{"version", "0.2.0"}, {"first_wave_percent", 50}, {"timeout_s", 600}}.dump());
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["version"], "0.2.0");
  EXPECT_EQ(r.body["stopped"], false);
  ASSERT_EQ(m.Get("/api/v1/agent-upgrades", k).body["items"].size(), 1u);

  // Wave 1: half of the group (the first two by id) is offered the signed package.
  for (size_t i = 0; i < hosts.size(); ++i) {
    Json offer = Offer(Beat(m, hosts[i]));
    if (i < 2) {
      ASSERT_FALSE(offer.is_null()) << i;
      auto man = updates::ParsePackageManifest(offer["manifest"].get<std::string>());
      ASSERT_TRUE(man.has_value());
      EXPECT_EQ(man->file, "ward-agent_0.2.0_amd64.deb");
      EXPECT_EQ(man->sha256, DigestHex(Sha256::Of(u.new_bytes)));
      EXPECT_EQ(man->size, u.new_bytes.size());
    } else {
      EXPECT_TRUE(offer.is_null()) << i << ": wave 2 waits";
    }
  }
  // The package over the agent channel: only with an agent credential, only ward-agent files.
  Reply pkg = m.Do("POST", "/agent/v1/upgrade/package", hosts[0].cred,
                   Json{{"file", "ward-agent_0.2.0_amd64.deb"}}.dump());
  ASSERT_EQ(pkg.status, 200) << pkg.raw;
  EXPECT_EQ(pkg.raw, u.new_bytes);
  EXPECT_EQ(m.Do("POST", "/agent/v1/upgrade/package", hosts[0].cred,
                 Json{{"file", "../ward-agent_0.2.0_amd64.deb"}}.dump())
                .status,
            404);
  EXPECT_EQ(m.Do("POST", "/agent/v1/upgrade/package", "",
                 Json{{"file", "ward-agent_0.2.0_amd64.deb"}}.dump())
                .status,
            401);

  // Progress as the agents report it; wave 2 starts once wave 1 is back with 0.2.0.
  hosts[0].upgrade = {{"state", "installing"}, {"version", "0.2.0"}};
  Beat(m, hosts[0]);
  Reply st = m.Get("/api/v1/agent-groups/" + group + "/upgrade", k);
  ASSERT_EQ(st.status, 200) << st.raw;
  EXPECT_EQ(StateOf(st, hosts[0].id), "installing");
  EXPECT_EQ(StateOf(st, hosts[1].id), "pending");
  EXPECT_EQ(StateOf(st, hosts[2].id), "pending");
  EXPECT_TRUE(st.body["second_wave_at"].is_null());
  hosts[0].version = hosts[1].version = "0.2.0";
  EXPECT_TRUE(Offer(Beat(m, hosts[0])).is_null()) << "done: nothing more to offer";
  EXPECT_TRUE(Offer(Beat(m, hosts[2])).is_null()) << "wave 1 not all back yet";
  Beat(m, hosts[1]);
  EXPECT_EQ(ManagerEvents(m, k, "agent_upgraded", hosts[0].id), 1u);
  EXPECT_EQ(ManagerEvents(m, k, "agent_upgraded", hosts[1].id), 1u);
  st = m.Get("/api/v1/agent-groups/" + group + "/upgrade", k);
  EXPECT_FALSE(st.body["second_wave_at"].is_null()) << st.raw;
  EXPECT_EQ(st.body["counts"]["done"], 2);
  EXPECT_FALSE(Offer(Beat(m, hosts[2])).is_null()) << "wave 2";
  EXPECT_FALSE(Offer(Beat(m, hosts[3])).is_null()) << "wave 2";

  // Host 3 comes back upgraded; host 2 never does: after the timeout it is reported and the
  // rollout stops.
  hosts[3].version = "0.2.0";
  Beat(m, hosts[3]);
  m.clock().Advance(std::chrono::seconds(601));
  EXPECT_EQ(*manager::RunUpgradeRollouts(m.store(), m.clock()), 1);
  st = m.Get("/api/v1/agent-groups/" + group + "/upgrade", k);
  EXPECT_EQ(StateOf(st, hosts[2].id), "timed-out") << st.raw;
  EXPECT_EQ(StateOf(st, hosts[3].id), "done");
  EXPECT_EQ(st.body["stopped"], true);
  EXPECT_NE(st.body["stopped_reason"].get<std::string>().find(hosts[2].id), std::string::npos);
  EXPECT_EQ(ManagerEvents(m, k, "agent_upgrade_timed_out", hosts[2].id), 1u);
  EXPECT_EQ(*manager::RunUpgradeRollouts(m.store(), m.clock()), 0) << "reported once";
  EXPECT_TRUE(Offer(Beat(m, hosts[2])).is_null()) << "a stopped rollout offers nothing";
}

TEST(AgentUpgrades, AFailedInstallStopsTheFirstWaveAndAPutStartsAfresh) {
  Upgrades u;
  ManagerHarness m(u.Options());
  auto [tenant, k] = m.NewTenant("shop");
  const std::string group = m.Post("/api/v1/agent-groups", k, {{"name", "web"}}).body["id"];
  std::vector<Host> hosts = GroupOfHosts(m, k, group, 3);
  const std::string path = "/api/v1/agent-groups/" + group + "/upgrade";
  ASSERT_EQ(
      m.Do("PUT", path, k, Json{{"version", "0.2.0"}, {"first_wave_percent", 30}}.dump()).status,
      200);
  ASSERT_FALSE(Offer(Beat(m, hosts[0])).is_null());
  EXPECT_TRUE(Offer(Beat(m, hosts[1])).is_null());
  // The agent refused the package (say, a bad signature): failed, reported, rollout stopped.
  hosts[0].upgrade = {
      {"state", "failed"}, {"version", "0.2.0"}, {"error", "signature does not verify"}};
  EXPECT_TRUE(Offer(Beat(m, hosts[0])).is_null());
  Reply st = m.Get(path, k);
  EXPECT_EQ(StateOf(st, hosts[0].id), "failed") << st.raw;
  EXPECT_EQ(st.body["stopped"], true);
  EXPECT_TRUE(st.body["second_wave_at"].is_null());
  EXPECT_EQ(ManagerEvents(m, k, "agent_upgrade_failed", hosts[0].id), 1u);
  EXPECT_TRUE(Offer(Beat(m, hosts[1])).is_null());
  EXPECT_TRUE(Offer(Beat(m, hosts[2])).is_null());
  // Put again (a fixed package, say): a new generation, every agent afresh.
  m.clock().Advance(std::chrono::seconds(1));
  hosts[0].upgrade = nullptr;
  ASSERT_EQ(
      m.Do("PUT", path, k, Json{{"version", "0.2.0"}, {"first_wave_percent", 30}}.dump()).status,
      200);
  EXPECT_FALSE(Offer(Beat(m, hosts[0])).is_null());
  st = m.Get(path, k);
  EXPECT_EQ(st.body["stopped"], false);
  EXPECT_EQ(StateOf(st, hosts[0].id), "pending");
  // Removing the rollout stops offering it.
  EXPECT_EQ(m.Delete(path, k).status, 204);
  EXPECT_TRUE(Offer(Beat(m, hosts[0])).is_null());
  EXPECT_EQ(m.Get(path, k).status, 404);
}

TEST(AgentUpgrades, PolicyRolloutsAndRequestsThatAreRefused) {
  Upgrades u;
  ManagerHarness m(u.Options());
  auto [tenant, k] = m.NewTenant("shop");
  const std::string web = m.NewPolicy(k, "web");
  Host a, b;
  a.machine = "m-a";
  b.machine = "m-b";
  std::tie(a.id, a.cred) = m.NewAgent(k, "a", web, a.machine);
  std::tie(b.id, b.cred) = m.NewAgent(k, "b", web, b.machine);
  const std::string group = m.Post("/api/v1/agent-groups", k, {{"name", "pinned"}}).body["id"];
  ASSERT_EQ(m.Patch("/api/v1/agents/" + b.id, k, {{"group_id", group}}).status, 200);
  // b's group has a rollout of its own (to the version b runs): it follows that one.
  ASSERT_EQ(m.Do("PUT", "/api/v1/agent-groups/" + group + "/upgrade", k,
                 Json{{"version", "0.1.0"}}.dump())
                .status,
            200);
  Reply r = m.Do("PUT", "/api/v1/policies/" + web + "/upgrade", k,
                 Json{{"version", "0.2.0"}, {"timeout_s", 60}}.dump());
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["scope"], "policy");
  EXPECT_FALSE(Offer(Beat(m, a)).is_null());
  EXPECT_TRUE(Offer(Beat(m, b)).is_null());
  Reply st = m.Get("/api/v1/policies/" + web + "/upgrade", k);
  ASSERT_EQ(st.body["agents"].size(), 1u) << st.raw;
  EXPECT_EQ(st.body["agents"][0]["agent_id"], a.id);
  // A version the manager has no package of is not offered (and not counted as offered).
  ASSERT_EQ(
      m.Do("PUT", "/api/v1/policies/" + web + "/upgrade", k, Json{{"version", "0.3.0"}}.dump())
          .status,
      200);
  EXPECT_TRUE(Offer(Beat(m, a)).is_null());
  EXPECT_TRUE(
      m.Get("/api/v1/policies/" + web + "/upgrade", k).body["agents"][0]["offered_at"].is_null());

  // Refused, naming the field: bad versions, percent, timeout, unknown fields; unknown objects;
  // the auditor may read but not write.
  for (const Json& bad :
       {Json{{"version", "../x"}}, Json{{"version", "x1.0"}}, Json::object(),
        Json{{"version", "1.0"}, {"first_wave_percent", 0}},
        Json{{"version", "1.0"}, {"first_wave_percent", 101}},
        Json{{"version", "1.0"}, {"timeout_s", 5}}, Json{{"version", "1.0"}, {"waves", 3}}}) {
    r = m.Do("PUT", "/api/v1/policies/" + web + "/upgrade", k, bad.dump());
    EXPECT_EQ(r.status, 400) << bad.dump() << " " << r.raw;
  }
  EXPECT_EQ(m.Do("PUT", "/api/v1/policies/nope/upgrade", k, Json{{"version", "1.0"}}.dump()).status,
            404);
  EXPECT_EQ(
      m.Do("PUT", "/api/v1/agent-groups/nope/upgrade", k, Json{{"version", "1.0"}}.dump()).status,
      404);
  const std::string auditor = m.NewKey(k, "auditor");
  EXPECT_EQ(m.Do("PUT", "/api/v1/policies/" + web + "/upgrade", auditor,
                 Json{{"version", "0.2.0"}}.dump())
                .status,
            403);
  EXPECT_EQ(m.Get("/api/v1/policies/" + web + "/upgrade", auditor).status, 200);
  EXPECT_EQ(m.Get("/api/v1/agent-upgrades", auditor).body["items"].size(), 2u);
}

}  // namespace
}  // namespace ward::test
