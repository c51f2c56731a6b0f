// Fleet lifecycle and deployment (issue #18): auto-scaling hosts that vanish are marked offline,
// then removed with an event; a host re-created under the same name gets a new identity. Over
// the real HTTPS front and a real SQLite store, with a FakeClock moved by the test.
#include <gtest/gtest.h>

#include "manager/jobs/jobs.h"
#include "tests/manager_harness.h"

namespace ward::test {
namespace {

Json Activation(const std::string& token, const std::string& host, const std::string& machine) {
  return {
      {"token", token}, {"hostname", host}, {"machine_id", machine}, {"agent_version", "0.1.0"}};
}

Json Heartbeat(const std::string& machine) {
  return {{"machine_id", machine}, {"status", {{"version", "0.1.0"}, {"policy_version", 0}}}};
}

// The manager events of `action` (event.module manager) about agent `agent_id`.
size_t ManagerEvents(ManagerHarness& m, const std::string& key, const std::string& action,
                     const std::string& agent_id) {
  Reply r = m.Get("/api/v1/events?module=manager&action=" + action + "&limit=100", key);
  EXPECT_EQ(r.status, 200) << r.raw;
  size_t n = 0;
  for (const auto& e : r.body["items"]) n += e["agent"]["id"] == agent_id ? 1 : 0;
  return n;
}

TEST(FleetLifecycle, VanishedHostGoesOfflineThenIsRemovedWhileItsReplacementStays) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  // The tenant's setting, through the API: offline agents are removed after 2 days.
  Reply s = m.Patch("/api/v1/settings", k, {{"inactive_agent_cleanup_days", 2}});
  ASSERT_EQ(s.status, 200) << s.raw;
  Reply t = m.Post("/api/v1/activation-tokens", k, {{"name", "asg"}});
  ASSERT_EQ(t.status, 201) << t.raw;
  const std::string token = t.body["token"];

  // The first instance of web-01 activates and heartbeats, then its instance is terminated.
  Reply a = m.Post("/agent/v1/activate", "", Activation(token, "web-01", "instance-a"));
  ASSERT_EQ(a.status, 201) << a.raw;
  const std::string old_id = a.body["agent_id"], old_cred = a.body["credential"];
  ASSERT_EQ(m.Post("/agent/v1/heartbeat", old_cred, Heartbeat("instance-a")).status, 200);

  // 3 heartbeat intervals of silence: offline, with an event.
  m.clock().Advance(std::chrono::seconds(3 * 60 + 1));
  auto marked = manager::RunOfflineMarking(m.store(), m.clock());
  ASSERT_TRUE(marked) << marked.error().ToString();
  EXPECT_EQ(*marked, 1);
  EXPECT_EQ(m.Get("/api/v1/agents/" + old_id, k).body["status"], "offline");
  EXPECT_EQ(ManagerEvents(m, k, "agent_offline", old_id), 1u);

  // The auto-scaling group launches a replacement with the same host name: a new identity,
  // never the old one's.
  Reply b = m.Post("/agent/v1/activate", "", Activation(token, "web-01", "instance-b"));
  ASSERT_EQ(b.status, 201) << b.raw;
  const std::string new_id = b.body["agent_id"], new_cred = b.body["credential"];
  EXPECT_NE(new_id, old_id);
  EXPECT_NE(new_cred, old_cred);
  EXPECT_EQ(m.Get("/api/v1/agents?hostname=web-01", k).body["items"].size(), 2u);

  // A day later the old one is still listed (offline), not yet removed.
  m.clock().Advance(std::chrono::hours(24));
  ASSERT_EQ(m.Post("/agent/v1/heartbeat", new_cred, Heartbeat("instance-b")).status, 200);
  auto removed = manager::RunInactiveAgentCleanup(m.store(), m.clock());
  ASSERT_TRUE(removed) << removed.error().ToString();
  EXPECT_EQ(*removed, 0);
  EXPECT_EQ(m.Get("/api/v1/agents/" + old_id, k).status, 200);

  // Past 2 days of silence: removed (deactivated: its credential no longer works), with an
  // agent_removed event; the replacement, which heartbeats, stays.
  m.clock().Advance(std::chrono::hours(24) + std::chrono::minutes(1));
  ASSERT_EQ(m.Post("/agent/v1/heartbeat", new_cred, Heartbeat("instance-b")).status, 200);
  EXPECT_EQ(*manager::RunOfflineMarking(m.store(), m.clock()), 0);
  removed = manager::RunInactiveAgentCleanup(m.store(), m.clock());
  ASSERT_TRUE(removed) << removed.error().ToString();
  EXPECT_EQ(*removed, 1);
  EXPECT_EQ(m.Get("/api/v1/agents/" + old_id, k).status, 404);
  EXPECT_EQ(m.Post("/agent/v1/heartbeat", old_cred, Heartbeat("instance-a")).status, 401);
  EXPECT_EQ(ManagerEvents(m, k, "agent_removed", old_id), 1u);
  EXPECT_EQ(ManagerEvents(m, k, "agent_removed", new_id), 0u);
  Reply list = m.Get("/api/v1/agents?hostname=web-01", k);
  ASSERT_EQ(list.body["items"].size(), 1u);
  EXPECT_EQ(list.body["items"][0]["id"], new_id);
  EXPECT_EQ(list.body["items"][0]["status"], "online");
  Reply ev = m.Get("/api/v1/events?module=manager&action=agent_removed", k);
  ASSERT_EQ(ev.body["items"].size(), 1u);
  EXPECT_EQ(ev.body["items"][0]["host"]["name"], "web-01");
  EXPECT_EQ(ev.body["items"][0]["ward"]["lifecycle"]["reason"], "inactive");
  // A second run finds nothing more and raises no second event.
  EXPECT_EQ(*manager::RunInactiveAgentCleanup(m.store(), m.clock()), 0);
  EXPECT_EQ(ManagerEvents(m, k, "agent_removed", old_id), 1u);
}

TEST(FleetLifecycle, ZeroCleanupDaysKeepsOfflineAgentsForever) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  ASSERT_EQ(m.Patch("/api/v1/settings", k, {{"inactive_agent_cleanup_days", 0}}).status, 200);
  auto [id, cred] = m.NewAgent(k, "db-01");
  m.clock().Advance(std::chrono::hours(24 * 400));
  EXPECT_EQ(*manager::RunOfflineMarking(m.store(), m.clock()), 1);
  EXPECT_EQ(*manager::RunInactiveAgentCleanup(m.store(), m.clock()), 0);
  EXPECT_EQ(m.Get("/api/v1/agents/" + id, k).body["status"], "offline");
  EXPECT_EQ(ManagerEvents(m, k, "agent_removed", id), 0u);
}

}  // namespace
}  // namespace ward::test
