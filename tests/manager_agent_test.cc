// The agent endpoints (/agent/v1, docs/agent-protocol.md) over real HTTPS: activation, tokens
// refused when revoked/expired/used up, heartbeat with policy delivery and commands, event
// ingestion exactly once, cloning, offline marking and credential isolation.
#include <gtest/gtest.h>

#include "common/clock.h"
#include "manager/jobs/jobs.h"
#include "tests/manager_harness.h"

namespace ward::test {
namespace {

Json Activation(const std::string& token, const std::string& host = "web-01",
                const std::string& machine = "machine-1") {
  return {
      {"token", token}, {"hostname", host}, {"machine_id", machine}, {"agent_version", "0.1.0"}};
}

Json Heartbeat(int policy_version, const std::string& machine = "machine-1",
               Json results = Json::array()) {
  return {{"machine_id", machine},
          {"status",
           {{"version", "0.1.1"},
            {"hostname", "web-01"},
            {"policy_version", policy_version},
            {"modules", {{{"name", "integrity"}, {"state", "running"}}}}}},
          {"command_results", results}};
}

TEST(ManagerAgentApi, ActivationReturnsCredentialAndTheTokensPolicy) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  std::string pid = m.NewPolicy(k, "web");
  Reply t = m.Post("/api/v1/activation-tokens", k, {{"policy_id", pid}, {"max_uses", 5}});
  ASSERT_EQ(t.status, 201) << t.raw;
  std::string token = t.body["token"];
  EXPECT_TRUE(token.starts_with("wat_"));
  Reply a = m.Post("/agent/v1/activate", "", Activation(token));
  ASSERT_EQ(a.status, 201) << a.raw;
  std::string id = a.body["agent_id"], cred = a.body["credential"];
  EXPECT_TRUE(cred.starts_with("wac_" + id + "_"));
  EXPECT_EQ(a.body["tenant_id"], m.primary_tenant());
  EXPECT_EQ(a.body["heartbeat_interval_s"], 60);
  EXPECT_EQ(a.body["policy"]["id"], pid);
  EXPECT_EQ(a.body["policy"]["version"], 1);
  EXPECT_EQ(a.body["policy"]["document"], ValidPolicyDocument());
  // The manager lists the agent, with the token's policy, and counts the use.
  Reply g = m.Get("/api/v1/agents/" + id, k);
  ASSERT_EQ(g.status, 200);
  EXPECT_EQ(g.body["hostname"], "web-01");
  EXPECT_EQ(g.body["policy_id"], pid);
  EXPECT_EQ(m.Get("/api/v1/activation-tokens/" + t.body["id"].get<std::string>(), k).body["uses"],
            1);
  // The credential is stored only as a hash: its secret appears nowhere in the API. (The secret
  // is base64url and may itself hold '_': it is what follows "wac_<id>_", not the last '_'.)
  const std::string secret = cred.substr(("wac_" + id + "_").size());
  ASSERT_GE(secret.size(), 32u);
  EXPECT_EQ(g.raw.find(secret), std::string::npos);
  // Token without a policy: policy null.
  Reply t2 = m.Post("/api/v1/activation-tokens", k, Json::object());
  a = m.Post("/agent/v1/activate", "", Activation(t2.body["token"], "web-02", "machine-2"));
  ASSERT_EQ(a.status, 201);
  EXPECT_TRUE(a.body["policy"].is_null());
  // Validation names the field.
  a = m.Post("/agent/v1/activate", "", {{"token", token}, {"machine_id", "x"}});
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.body["error"]["field"], "hostname");
  EXPECT_EQ(a.body["error"]["code"], "invalid");
}

TEST(ManagerAgentApi, RevokedExpiredUsedUpAndUnknownTokensAreRefused) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  // Used up.
  Reply once = m.Post("/api/v1/activation-tokens", k, {{"max_uses", 1}});
  EXPECT_EQ(m.Post("/agent/v1/activate", "", Activation(once.body["token"])).status, 201);
  Reply r = m.Post("/agent/v1/activate", "", Activation(once.body["token"], "h2", "m2"));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body["error"]["code"], "unauthenticated");
  // Revoked.
  Reply rev = m.Post("/api/v1/activation-tokens", k, Json::object());
  ASSERT_EQ(m.Delete("/api/v1/activation-tokens/" + rev.body["id"].get<std::string>(), k).status,
            204);
  EXPECT_EQ(m.Post("/agent/v1/activate", "", Activation(rev.body["token"])).status, 401);
  EXPECT_TRUE(
      m.Get("/api/v1/activation-tokens/" + rev.body["id"].get<std::string>(), k).body["revoked"]);
  // Expired.
  Reply exp = m.Post("/api/v1/activation-tokens", k,
                     {{"expires_at", FormatTimestamp(m.clock().Now() + std::chrono::minutes(10))}});
  ASSERT_EQ(exp.status, 201) << exp.raw;
  m.clock().Advance(std::chrono::minutes(11));
  EXPECT_EQ(m.Post("/agent/v1/activate", "", Activation(exp.body["token"])).status, 401);
  // Unknown, missing.
  EXPECT_EQ(m.Post("/agent/v1/activate", "", Activation("wat_nothing")).status, 401);
  EXPECT_EQ(m.Post("/agent/v1/activate", "", {{"hostname", "h"}, {"machine_id", "m"}}).status, 401);
  // Only the first activation made an agent.
  EXPECT_EQ(m.Get("/api/v1/agents", k).body["items"].size(), 1u);
}

TEST(ManagerAgentApi, HeartbeatDeliversPolicyWhenItsVersionDiffersAndCommandsOnce) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  std::string pid = m.NewPolicy(k, "web");
  auto [agent, cred] = m.NewAgent(k, "web-01", pid);
  // The agent runs no policy yet (version 0): it gets version 1.
  Reply h = m.Post("/agent/v1/heartbeat", cred, Heartbeat(0));
  ASSERT_EQ(h.status, 200) << h.raw;
  EXPECT_EQ(h.body["heartbeat_interval_s"], 60);
  EXPECT_EQ(h.body["policy"]["version"], 1);
  EXPECT_EQ(h.body["commands"].size(), 0u);
  // Applied: nothing more.
  h = m.Post("/agent/v1/heartbeat", cred, Heartbeat(1));
  ASSERT_EQ(h.status, 200);
  EXPECT_FALSE(h.body.contains("policy"));
  Reply g = m.Get("/api/v1/agents/" + agent, k);
  EXPECT_EQ(g.body["applied_policy_version"], 1);
  EXPECT_EQ(g.body["version"], "0.1.1");
  EXPECT_EQ(g.body["report"]["modules"][0]["name"], "integrity");
  // A new version and a queued command.
  ASSERT_EQ(
      m.Patch("/api/v1/policies/" + pid, k, {{"document", {{"integrity", {{"paths", {"/srv"}}}}}}})
          .status,
      200);
  Reply c = m.Post("/api/v1/agents/" + agent + "/commands", k, {{"name", "integrity.check"}});
  ASSERT_EQ(c.status, 201);
  std::string cmd = c.body["id"];
  h = m.Post("/agent/v1/heartbeat", cred, Heartbeat(1));
  ASSERT_EQ(h.status, 200);
  EXPECT_EQ(h.body["policy"]["version"], 2);
  EXPECT_EQ(h.body["policy"]["document"]["integrity"]["paths"][0], "/srv");
  ASSERT_EQ(h.body["commands"].size(), 1u);
  EXPECT_EQ(h.body["commands"][0]["id"], cmd);
  EXPECT_EQ(h.body["commands"][0]["name"], "integrity.check");
  EXPECT_EQ(m.Get("/api/v1/agents/" + agent + "/commands", k).body["items"][0]["state"],
            "delivered");
  // Delivered once; the result completes it.
  h = m.Post(
      "/agent/v1/heartbeat", cred,
      Heartbeat(2, "machine-1", {{{"id", cmd}, {"status", "ok"}, {"output", {{"changes", 0}}}}}));
  ASSERT_EQ(h.status, 200) << h.raw;
  EXPECT_EQ(h.body["commands"].size(), 0u);
  Json stored = m.Get("/api/v1/agents/" + agent + "/commands", k).body["items"][0];
  EXPECT_EQ(stored["state"], "completed");
  EXPECT_EQ(stored["result"]["changes"], 0);
  // Unassigned: policy null tells the agent to keep its last one.
  ASSERT_EQ(m.Patch("/api/v1/agents/" + agent, k, {{"policy_id", nullptr}}).status, 200);
  h = m.Post("/agent/v1/heartbeat", cred, Heartbeat(2));
  ASSERT_TRUE(h.body.contains("policy"));
  EXPECT_TRUE(h.body["policy"].is_null());
  // Malformed heartbeats name the field.
  h = m.Post("/agent/v1/heartbeat", cred, {{"machine_id", 5}});
  EXPECT_EQ(h.status, 400);
  EXPECT_EQ(h.body["error"]["field"], "machine_id");
  h = m.Post("/agent/v1/heartbeat", cred,
             {{"machine_id", "machine-1"}, {"status", {{"policy_version", "two"}}}});
  EXPECT_EQ(h.body["error"]["field"], "status.policy_version");
}

TEST(ManagerAgentApi, EventsAreStoredExactlyOnceWithTheAgentFromTheCredential) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  auto [agent, cred] = m.NewAgent(k, "web-01");
  std::string now = FormatTimestamp(m.clock().Now());
  std::string batch;
  for (int i = 0; i < 50; ++i) batch += EventLine("0193-x-" + std::to_string(i), now);
  batch += "this is not json\n";
  batch += R"({"@timestamp":")" + now +
           R"(","event":{"module":"integrity"},"agent":{"id":"other"}})"
           "\n";
  Reply r = m.Do("POST", "/agent/v1/events", cred, batch, "application/x-ndjson", "gzip");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["accepted"], 50);
  EXPECT_EQ(r.body["duplicates"], 0);
  ASSERT_EQ(r.body["rejected"].size(), 2u);
  EXPECT_EQ(r.body["rejected"][0]["line"], 51);
  EXPECT_EQ(r.body["rejected"][1]["line"], 52);
  EXPECT_EQ(r.body["rejected"][1]["error"], "event.id: missing");
  // The agent re-sends (it never saw the answer), plus 10 new ones.
  std::string again = batch;
  for (int i = 50; i < 60; ++i) again += EventLine("0193-x-" + std::to_string(i), now);
  r = m.Do("POST", "/agent/v1/events", cred, again, "application/x-ndjson", "gzip");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["accepted"], 10);
  EXPECT_EQ(r.body["duplicates"], 50);
  // Uncompressed uploads are accepted too.
  r = m.Do("POST", "/agent/v1/events", cred, EventLine("0193-x-0", now), "application/x-ndjson");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["duplicates"], 1);
  r = m.Get("/api/v1/events?limit=1000", k);
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body["items"].size(), 60u);
  for (const auto& e : r.body["items"]) {
    EXPECT_EQ(e["agent"]["id"], agent);
    EXPECT_EQ(e["agent"]["name"], "web-01");
  }
  // Corrupt gzip, oversized and too many lines.
  r = m.Do("POST", "/agent/v1/events", cred, "\x1f\x8b garbage", "application/x-ndjson",
           "identity");
  EXPECT_EQ(r.status, 200);  // identity: just a rejected line
  EXPECT_EQ(r.body["rejected"].size(), 1u);
}

TEST(ManagerAgentApi, OversizedAndCorruptUploadsAreRefusedAndLoseNothing) {
  manager::ApiOptions opt;
  opt.agent_body_limit = 256 * 1024;
  opt.max_batch_events = 100;
  ManagerHarness m(opt);
  auto [agent, cred] = m.NewAgent(m.primary_key(), "web-01");
  std::string now = FormatTimestamp(m.clock().Now());
  // A gzip bomb: small on the wire, over the limit inflated.
  std::string huge = EventLine("0193-big", now);
  huge.insert(huge.size() - 2, ",\"pad\":\"" + std::string(1024 * 1024, 'a') + "\"");
  Reply r = m.Do("POST", "/agent/v1/events", cred, huge, "application/x-ndjson", "gzip");
  EXPECT_EQ(r.status, 413) << r.raw;
  EXPECT_EQ(r.body["error"]["code"], "too_large");
  std::string many;
  for (int i = 0; i < 101; ++i) many += EventLine("0193-m-" + std::to_string(i), now);
  r = m.Do("POST", "/agent/v1/events", cred, many, "application/x-ndjson", "gzip");
  EXPECT_EQ(r.status, 413);
  std::string bad_gzip = GzipBytes(EventLine("0193-c", now));
  bad_gzip.resize(bad_gzip.size() / 2);
  r = Call(m.port(), m.cert(), "POST", "/agent/v1/events", cred, bad_gzip, "application/x-ndjson",
           "gzip-raw");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(m.Get("/api/v1/events", m.primary_key()).body["items"].size(), 0u);
  // The agent still works.
  r = m.Do("POST", "/agent/v1/events", cred, EventLine("0193-ok", now), "application/x-ndjson",
           "gzip");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body["accepted"], 1);
}

TEST(ManagerAgentApi, CredentialsAreIsolatedFromApiKeysAndOtherAgents) {
  ManagerHarness m;
  auto [b_id, b_key] = m.NewTenant("b");
  auto [a1, c1] = m.NewAgent(m.primary_key(), "a-host");
  auto [b1, cb] = m.NewAgent(b_key, "b-host");
  std::string now = FormatTimestamp(m.clock().Now());
  // API key on /agent/v1: 401.
  Reply r = m.Post("/agent/v1/heartbeat", m.primary_key(), Heartbeat(0));
  EXPECT_EQ(r.status, 401);
  r = m.Do("POST", "/agent/v1/events", m.primary_key(), EventLine("0193-k", now),
           "application/x-ndjson", "gzip");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(m.Post("/agent/v1/heartbeat", "wac_forged_credential", Heartbeat(0)).status, 401);
  EXPECT_EQ(m.Post("/agent/v1/heartbeat", "", Heartbeat(0)).status, 401);
  // Agent B's events go to tenant B, whatever the body says about the agent.
  r = m.Do("POST", "/agent/v1/events", cb,
           EventLine("0193-b", now).insert(1, "\"agent\":{\"id\":\"" + a1 + "\"},"),
           "application/x-ndjson", "gzip");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["accepted"], 1);
  EXPECT_EQ(m.Get("/api/v1/events", m.primary_key()).body["items"].size(), 0u);
  Reply b_events = m.Get("/api/v1/events", b_key);
  ASSERT_EQ(b_events.body["items"].size(), 1u);
  EXPECT_EQ(b_events.body["items"][0]["agent"]["id"], b1);
  // The same event id in two tenants is two events (uniqueness is per tenant).
  r = m.Do("POST", "/agent/v1/events", c1, EventLine("0193-b", now), "application/x-ndjson",
           "gzip");
  EXPECT_EQ(r.body["accepted"], 1);
  (void)b_id;
}

TEST(ManagerAgentApi, CloneIsDetectedByMachineIdAndReactivatesWithCloneOf) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  std::string pid = m.NewPolicy(k, "web");
  auto [agent, cred] = m.NewAgent(k, "web-01", pid, "machine-1");
  // The state dir was copied to another host: its heartbeat carries another machine id.
  Reply h = m.Post("/agent/v1/heartbeat", cred, Heartbeat(0, "machine-2"));
  EXPECT_EQ(h.status, 409);
  EXPECT_EQ(h.body["error"]["code"], "identity_conflict");
  // It re-activates with clone_of: a new agent, same tenant and policy, no token needed.
  Reply a = m.Post("/agent/v1/activate", "",
                   {{"hostname", "web-02"}, {"machine_id", "machine-2"}, {"clone_of", cred}});
  ASSERT_EQ(a.status, 201) << a.raw;
  EXPECT_NE(a.body["agent_id"], agent);
  EXPECT_EQ(a.body["policy"]["id"], pid);
  EXPECT_EQ(a.body["tenant_id"], m.primary_tenant());
  h = m.Post("/agent/v1/heartbeat", a.body["credential"], Heartbeat(1, "machine-2"));
  EXPECT_EQ(h.status, 200) << h.raw;
  // The original keeps working on its own host.
  EXPECT_EQ(m.Post("/agent/v1/heartbeat", cred, Heartbeat(1, "machine-1")).status, 200);
  EXPECT_EQ(m.Get("/api/v1/agents", k).body["items"].size(), 2u);
  // A made-up clone_of without a token is refused.
  a = m.Post("/agent/v1/activate", "",
             {{"hostname", "x"}, {"machine_id", "m"}, {"clone_of", "wac_made_up"}});
  EXPECT_EQ(a.status, 401);
}

TEST(ManagerAgentApi, SilentAgentsGoOfflineAndComeBackWithEvents) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  auto [agent, cred] = m.NewAgent(k, "web-01");
  ASSERT_EQ(m.Post("/agent/v1/heartbeat", cred, Heartbeat(0)).status, 200);
  // Not yet: 3 intervals of 60 s have not passed.
  m.clock().Advance(std::chrono::seconds(170));
  auto n = manager::RunOfflineMarking(m.store(), m.clock());
  ASSERT_TRUE(n) << n.error().ToString();
  EXPECT_EQ(*n, 0);
  m.clock().Advance(std::chrono::seconds(20));
  n = manager::RunOfflineMarking(m.store(), m.clock());
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(m.Get("/api/v1/agents/" + agent, k).body["status"], "offline");
  EXPECT_EQ(m.Get("/api/v1/agents?status=offline", k).body["items"].size(), 1u);
  Reply e = m.Get("/api/v1/events?module=manager", k);
  ASSERT_EQ(e.body["items"].size(), 1u);
  EXPECT_EQ(e.body["items"][0]["event"]["action"], "agent_offline");
  EXPECT_EQ(e.body["items"][0]["agent"]["id"], agent);
  // Marked once only.
  EXPECT_EQ(*manager::RunOfflineMarking(m.store(), m.clock()), 0);
  // It comes back.
  ASSERT_EQ(m.Post("/agent/v1/heartbeat", cred, Heartbeat(0)).status, 200);
  EXPECT_EQ(m.Get("/api/v1/agents/" + agent, k).body["status"], "online");
  e = m.Get("/api/v1/events?module=manager&action=agent_online", k);
  ASSERT_EQ(e.body["items"].size(), 1u);
}

}  // namespace
}  // namespace ward::test
