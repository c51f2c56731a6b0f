// Fleet lifecycle and deployment (issue #18): auto-scaling hosts that vanish are marked offline,
// then removed with an event; a host re-created under the same name gets a new identity; the
// manager serves its agent packages and makes deployment scripts whose token activates and whose
// pin matches the key it presents. Over the real HTTPS front and a real SQLite store, with a
// FakeClock moved by the test. (The script run end to end on a host, through Squid: packaging/
// test-packages.)
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <regex>

#include "common/hash.h"
#include "manager/jobs/jobs.h"
#include "manager/services/packages.h"
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

// A directory with a ward-agent "package" (an ar archive's magic is all the catalog checks).
struct Packages {
  Packages() {
    test::WriteFile(dir.Sub("ward-agent_0.1.0_amd64.deb"), bytes);
    auto c = manager::PackageCatalog::Load(dir.path());
    WARD_CHECK(c.has_value());
    catalog = std::make_shared<const manager::PackageCatalog>(std::move(*c));
  }
  manager::ApiOptions Options() const {
    manager::ApiOptions o;
    o.packages = catalog;
    return o;
  }
  TempDir dir;
  std::string bytes = "!<arch>\ndebian-binary   1712345678  0     0     100644  4         `\n2.0\n";
  std::shared_ptr<const manager::PackageCatalog> catalog;
};

std::string TokenIn(const std::string& script) {
  std::smatch m;
  std::regex re("\nACTIVATION_TOKEN='(wat_[A-Za-z0-9_-]+)'\n");
  return std::regex_search(script, m, re) ? m[1].str() : "";
}

TEST(DeploymentScripts, ANewTokenInTheScriptActivatesWithItsPolicy) {
  Packages pk;
  ManagerHarness m(pk.Options());
  const std::string k = m.primary_key();
  std::string pid = m.NewPolicy(k, "web");
  const std::string url = "https://127.0.0.1:" + std::to_string(m.port());
  Reply r = m.Post("/api/v1/deployment-scripts", k,
                   {{"name", "asg web"},
                    {"policy_id", pid},
                    {"max_uses", 100},
                    {"manager_url", url},
                    {"proxy", "http://proxy.internal:3128"}});
  ASSERT_EQ(r.status, 201) << r.raw;
  EXPECT_EQ(r.body["token_created"], true);
  EXPECT_EQ(r.body["activation_token"]["policy_id"], pid);
  EXPECT_EQ(r.body["activation_token"]["max_uses"], 100);
  EXPECT_EQ(r.body["activation_token"].count("token"), 0u);  // the secret is in the script only
  EXPECT_EQ(r.body["packages"][0]["file"], "ward-agent_0.1.0_amd64.deb");
  EXPECT_EQ(r.body["packages"][0]["sha256"], DigestHex(Sha256::Of(pk.bytes)));
  const std::string script = r.body["script"];
  EXPECT_NE(script.find("MANAGER_URL='" + url + "'"), std::string::npos);
  EXPECT_NE(script.find("PROXY=${WARD_PROXY-'http://proxy.internal:3128'}"), std::string::npos);
  EXPECT_NE(script.find("MANAGER_PUBKEY_PIN='" + m.api().options().tls_pubkey_pin + "'"),
            std::string::npos);
  EXPECT_NE(script.find("MANAGER_FINGERPRINT='" + m.api().options().tls_fingerprint + "'"),
            std::string::npos);
  EXPECT_TRUE(r.body["cloud_init"].get<std::string>().starts_with("#cloud-config\n"));
  // The token the script carries activates an agent with the policy.
  std::string token = TokenIn(script);
  ASSERT_FALSE(token.empty()) << script;
  Reply a = m.Post("/agent/v1/activate", "",
                   {{"token", token}, {"hostname", "web-07"}, {"machine_id", "i-07"}});
  ASSERT_EQ(a.status, 201) << a.raw;
  EXPECT_EQ(a.body["policy"]["id"], pid);
  // The audit trail names the token, not its secret.
  Reply audit = m.Get("/api/v1/audit?path=deployment-scripts", k);
  ASSERT_EQ(audit.status, 200) << audit.raw;
  ASSERT_EQ(audit.body["items"].size(), 1u);
  EXPECT_EQ(audit.body["items"][0]["detail"]["object_id"], r.body["activation_token"]["id"]);
  EXPECT_EQ(audit.raw.find(token), std::string::npos);
}

TEST(DeploymentScripts, AnExistingTokenIsUsedOnlyWhenThisTenantCanStillUseIt) {
  Packages pk;
  ManagerHarness m(pk.Options());
  const std::string k = m.primary_key();
  Reply t = m.Post("/api/v1/activation-tokens", k, {{"name", "fleet"}});
  ASSERT_EQ(t.status, 201);
  // No manager_url: the Host the caller reached.
  Reply r = m.Post("/api/v1/deployment-scripts", k, {{"token", t.body["token"]}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["token_created"], false);
  EXPECT_EQ(r.body["activation_token"]["id"], t.body["id"]);
  EXPECT_EQ(r.body["manager_url"], "https://127.0.0.1:" + std::to_string(m.port()));
  EXPECT_EQ(TokenIn(r.body["script"]), t.body["token"]);
  EXPECT_EQ(m.Get("/api/v1/activation-tokens", k).body["items"].size(), 1u);  // none made
  // Another tenant's token, a revoked one, garbage: 400 naming `token`, nothing made.
  auto [other, other_key] = m.NewTenant("other");
  Reply theirs = m.Post("/api/v1/activation-tokens", other_key, Json::object());
  for (const std::string& bad :
       {theirs.body["token"].get<std::string>(), std::string("wat_nope")}) {
    Reply e = m.Post("/api/v1/deployment-scripts", k, {{"token", bad}});
    EXPECT_EQ(e.status, 400) << e.raw;
    EXPECT_EQ(e.body["error"]["field"], "token");
  }
  ASSERT_EQ(m.Delete("/api/v1/activation-tokens/" + t.body["id"].get<std::string>(), k).status,
            204);
  EXPECT_EQ(m.Post("/api/v1/deployment-scripts", k, {{"token", t.body["token"]}}).status, 400);
  // Token options only go with a new token; bad URL and proxy are refused before any write.
  EXPECT_EQ(
      m.Post("/api/v1/deployment-scripts", k, {{"token", theirs.body["token"]}, {"max_uses", 2}})
          .body["error"]["field"],
      "max_uses");
  Reply u = m.Post("/api/v1/deployment-scripts", k, {{"manager_url", "http://m:4119"}});
  EXPECT_EQ(u.status, 400);
  EXPECT_EQ(u.body["error"]["field"], "manager_url");
  Reply pr = m.Post("/api/v1/deployment-scripts", k, {{"proxy", "socks5://p:1080"}});
  EXPECT_EQ(pr.status, 400);
  EXPECT_EQ(pr.body["error"]["field"], "proxy");
  EXPECT_EQ(m.Get("/api/v1/activation-tokens", k).body["items"].size(), 1u);
  // Auditors may not make scripts (they carry a token).
  EXPECT_EQ(m.Post("/api/v1/deployment-scripts", m.NewKey(k, "auditor"), Json::object()).status,
            403);
}

TEST(DeploymentScripts, WithoutAgentPackagesTheManagerSaysSo) {
  ManagerHarness m;
  Reply r = m.Post("/api/v1/deployment-scripts", m.primary_key(), Json::object());
  EXPECT_EQ(r.status, 409) << r.raw;
  EXPECT_NE(r.body["error"]["message"].get<std::string>().find("--packages-dir"),
            std::string::npos);
  EXPECT_EQ(m.Get("/agent/v1/packages", "").body["items"].size(), 0u);
  EXPECT_EQ(m.Get("/agent/v1/packages/ward-agent_0.1.0_amd64.deb", "").status, 404);
}

// Runs curl as the deployment script does; returns its exit status.
int Curl(const std::string& args) {
  int st = std::system(("curl --fail --silent --insecure " + args + " 2>/dev/null").c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(AgentPackages, ServedWithoutACredentialAndOnlyByTheirExactName) {
  Packages pk;
  ManagerHarness m(pk.Options());
  Reply list = m.Get("/agent/v1/packages", "");
  ASSERT_EQ(list.status, 200) << list.raw;
  ASSERT_EQ(list.body["items"].size(), 1u);
  EXPECT_EQ(list.body["items"][0]["name"], "ward-agent");
  EXPECT_EQ(list.body["items"][0]["size"], pk.bytes.size());
  Reply get = m.Get("/agent/v1/packages/ward-agent_0.1.0_amd64.deb", "");
  ASSERT_EQ(get.status, 200);
  EXPECT_EQ(get.raw, pk.bytes);
  for (const char* bad :
       {"ward-agent_0.2.0_amd64.deb", "..%2fmanager.db", "../manager.db", "x/../ward-agent.deb"}) {
    EXPECT_EQ(m.Get(std::string("/agent/v1/packages/") + bad, "").status, 404) << bad;
  }
  EXPECT_EQ(m.Post("/agent/v1/packages/ward-agent_0.1.0_amd64.deb", "", Json::object()).status,
            405);
  // curl with the pin the deployment script carries gets the package; with another pin, curl
  // refuses the server (exit 90), although --insecure skips the CA check.
  TempDir out;
  const std::string url = "https://127.0.0.1:" + std::to_string(m.port()) +
                          "/agent/v1/packages/ward-agent_0.1.0_amd64.deb";
  EXPECT_EQ(Curl("--pinnedpubkey '" + m.api().options().tls_pubkey_pin + "' -o " +
                 out.Sub("a.deb") + " " + url),
            0);
  EXPECT_EQ(test::ReadFileOrDie(out.Sub("a.deb")), pk.bytes);
  EXPECT_EQ(Curl("--pinnedpubkey 'sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' -o " +
                 out.Sub("b.deb") + " " + url),
            90);
}

TEST(ActivationRules, TheFirstRuleMatchingTheHostsFactsAssignsItsPolicy) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  const std::string web = m.NewPolicy(k, "web"), lan = m.NewPolicy(k, "lan"),
                    fallback = m.NewPolicy(k, "fallback");
  Json rules = {
      {{"name", "web servers"}, {"match", {{"hostname", "web-*"}}}, {"policy_id", web}},
      {{"name", "loopback"}, {"match", {{"ip", "127.0.0.0/8"}}}, {"policy_id", lan}},
      {{"name", "prod tag"}, {"match", {{"tags", {{"env", "prod"}}}}}, {"policy_id", web}}};
  Reply put = m.Do("PUT", "/api/v1/activation-rules", k, Json{{"rules", rules}}.dump());
  ASSERT_EQ(put.status, 200) << put.raw;
  Reply get = m.Get("/api/v1/activation-rules", k);
  ASSERT_EQ(get.status, 200);
  EXPECT_EQ(get.body["rules"], rules);
  Reply t = m.Post("/api/v1/activation-tokens", k, {{"policy_id", fallback}});
  const std::string token = t.body["token"];
  auto activate = [&](Json body) {
    body["token"] = token;
    body["machine_id"] = body["hostname"];
    Reply a = m.Post("/agent/v1/activate", "", body);
    EXPECT_EQ(a.status, 201) << a.raw;
    return a.body["policy"].is_null() ? std::string() : a.body["policy"]["id"].get<std::string>();
  };
  // Host name first; then the address it reports, else the one it connects from (loopback here).
  EXPECT_EQ(activate({{"hostname", "web-01"}}), web);
  EXPECT_EQ(activate({{"hostname", "db-01"}}), lan);
  EXPECT_EQ(activate({{"hostname", "db-02"}, {"ips", {"192.0.2.10"}}}), fallback);
  EXPECT_EQ(activate({{"hostname", "db-03"},
                      {"ips", {"192.0.2.11"}},
                      {"cloud", {{"tags", {{"env", "prod"}}}}}}),
            web);
  // The audit entry of the activation names the rule.
  Reply audit = m.Get("/api/v1/audit?path=/agent/v1/activate", k);
  ASSERT_EQ(audit.status, 200) << audit.raw;
  ASSERT_EQ(audit.body["items"].size(), 4u);
  EXPECT_EQ(audit.body["items"][0]["detail"]["activation_rule"], "web servers");
  EXPECT_FALSE(audit.body["items"][2]["detail"].contains("activation_rule"));
  // Refused: a policy of no one, a malformed range, an auditor; nothing changes.
  Reply bad = m.Do(
      "PUT", "/api/v1/activation-rules", k,
      Json{{"rules", {{{"name", "x"}, {"match", {{"os", "*"}}}, {"policy_id", "nope"}}}}}.dump());
  EXPECT_EQ(bad.status, 404);
  EXPECT_EQ(bad.body["error"]["field"], "rules[0].policy_id");
  bad = m.Do(
      "PUT", "/api/v1/activation-rules", k,
      Json{{"rules", {{{"name", "x"}, {"match", {{"ip", "10.0.0.0/99"}}}, {"policy_id", web}}}}}
          .dump());
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body["error"]["field"], "rules[0].match.ip");
  EXPECT_EQ(m.Do("PUT", "/api/v1/activation-rules", m.NewKey(k, "auditor"),
                 Json{{"rules", Json::array()}}.dump())
                .status,
            403);
  EXPECT_EQ(m.Get("/api/v1/activation-rules", k).body["rules"], rules);
  // Another tenant has none of them.
  auto [other, other_key] = m.NewTenant("other");
  EXPECT_EQ(m.Get("/api/v1/activation-rules", other_key).body["rules"], Json::array());
}

}  // namespace
}  // namespace ward::test
