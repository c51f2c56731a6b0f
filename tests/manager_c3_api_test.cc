// The REST API of policy versions, policy documents as YAML/JSON text, and alerts (issue 14,
// console helper c3) over real HTTPS on a real store: validation errors naming key and line,
// every saved version readable, alerts raised at ingestion, de-duplicated, triaged (one and
// bulk, all or none), roles and tenant isolation.
#include <gtest/gtest.h>

#include "common/clock.h"
#include "tests/manager_harness.h"

namespace ward::test {
namespace {

TEST(ManagerApiPolicyText, YamlAndJsonTextAreValidatedWithKeyAndLine) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  const std::string yaml =
      "integrity:\n"
      "  paths:\n"
      "    - path: /srv\n"
      "      recursive: maybe\n";
  Reply r = m.Post("/api/v1/policies", k, {{"name", "y"}, {"document_text", yaml}});
  ASSERT_EQ(r.status, 400) << r.raw;
  EXPECT_EQ(r.body["error"]["code"], "invalid_policy");
  EXPECT_EQ(r.body["error"]["field"], "document.integrity.paths[0].recursive") << r.raw;
  EXPECT_EQ(r.body["error"]["line"], 4) << r.raw;
  EXPECT_EQ(r.body["error"]["column"], 18) << r.raw;
  // A misspelt module names the key's own line.
  r = m.Post("/api/v1/policies", k,
             {{"name", "y"}, {"document_text", "integrity:\n  paths: [/srv]\nfirewal: {}\n"}});
  ASSERT_EQ(r.status, 400) << r.raw;
  EXPECT_EQ(r.body["error"]["line"], 3) << r.raw;
  EXPECT_NE(r.body["error"]["message"].get<std::string>().find("firewal"), std::string::npos);
  // YAML syntax errors have a line too.
  r = m.Post("/api/v1/policies", k,
             {{"name", "y"}, {"document_text", "integrity:\n  paths: [/srv\n"}});
  ASSERT_EQ(r.status, 400) << r.raw;
  EXPECT_EQ(r.body["error"]["field"], "document_text");
  EXPECT_GE(r.body["error"]["line"].get<int>(), 2) << r.raw;
  // JSON text: a semantic error and a syntax error, each with its line.
  const std::string json_bad =
      "{\n"
      "  \"integrity\": {\n"
      "    \"paths\": [\"/srv\"],\n"
      "    \"schedule\": \"often\"\n"
      "  }\n"
      "}\n";
  r = m.Post("/api/v1/policies", k,
             {{"name", "j"}, {"document_text", json_bad}, {"document_format", "json"}});
  ASSERT_EQ(r.status, 400) << r.raw;
  EXPECT_EQ(r.body["error"]["field"], "document.integrity.schedule") << r.raw;
  EXPECT_EQ(r.body["error"]["line"], 4) << r.raw;
  r = m.Post("/api/v1/policies", k,
             {{"name", "j"},
              {"document_text", "{\n  \"integrity\": {\n    \"paths\": [\"/srv\",]\n  }\n}"},
              {"document_format", "json"}});
  ASSERT_EQ(r.status, 400) << r.raw;
  EXPECT_EQ(r.body["error"]["field"], "document_text");
  EXPECT_EQ(r.body["error"]["line"], 3) << r.raw;
  // Neither or both forms; an unknown format.
  EXPECT_EQ(m.Post("/api/v1/policies", k, {{"name", "n"}}).body["error"]["field"], "document");
  r = m.Post("/api/v1/policies", k,
             {{"name", "n"}, {"document", ValidPolicyDocument()}, {"document_text", "{}"}});
  EXPECT_EQ(r.body["error"]["field"], "document_text");
  r = m.Post("/api/v1/policies", k,
             {{"name", "n"}, {"document_text", "{}"}, {"document_format", "toml"}});
  EXPECT_EQ(r.body["error"]["field"], "document_format");
  EXPECT_EQ(m.Get("/api/v1/policies", k).body["items"].size(), 0u) << "nothing stored";

  // Valid YAML is stored as the document it means (typed as the agent reads it).
  r = m.Post("/api/v1/policies", k,
             {{"name", "web"},
              {"document_text",
               "# comments are not kept\nintegrity:\n  paths:\n    - path: /srv\n      "
               "recursive: false\n  schedule: 30m\n"}});
  ASSERT_EQ(r.status, 201) << r.raw;
  EXPECT_EQ(r.body["document"]["integrity"]["paths"][0]["recursive"], false);
  EXPECT_EQ(r.body["document"]["integrity"]["schedule"], "30m");
  std::string id = r.body["id"];
  r = m.Patch(
      "/api/v1/policies/" + id, k,
      {{"document_text", "{\"integrity\": {\"paths\": [\"/etc\"]}}"}, {"document_format", "json"}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["version"], 2);
  EXPECT_EQ(r.body["document"]["integrity"]["paths"][0], "/etc");
}

TEST(ManagerApiPolicyVersions, EverySavedVersionIsKeptAndReadable) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  const std::string auditor = m.NewKey(k, "auditor");
  std::string id = m.NewPolicy(k, "web");
  Json v1 = m.Get("/api/v1/policies/" + id, k).body["document"];
  Json v2 = {{"integrity", {{"paths", {"/srv"}}}}};
  ASSERT_EQ(m.Patch("/api/v1/policies/" + id, k, {{"document", v2}}).status, 200);
  ASSERT_EQ(m.Patch("/api/v1/policies/" + id, k, {{"name", "web-renamed"}}).status, 200);
  // A refused update makes no version.
  ASSERT_EQ(m.Patch("/api/v1/policies/" + id, k, {{"document", {{"nope", 1}}}}).status, 400);

  Reply r = m.Get("/api/v1/policies/" + id + "/versions", auditor);
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_EQ(r.body["items"].size(), 3u);
  EXPECT_EQ(r.body["items"][0]["version"], 1);
  EXPECT_EQ(r.body["items"][0]["name"], "web");
  EXPECT_FALSE(r.body["items"][0].contains("document")) << "the list is light";
  EXPECT_EQ(r.body["items"][2]["name"], "web-renamed");
  r = m.Get("/api/v1/policies/" + id + "/versions/1", auditor);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["document"], v1);
  EXPECT_EQ(m.Get("/api/v1/policies/" + id + "/versions/2", k).body["document"], v2);
  EXPECT_EQ(m.Get("/api/v1/policies/" + id + "/versions/3", k).body["document"], v2);
  EXPECT_EQ(m.Get("/api/v1/policies/" + id + "/versions/4", k).status, 404);
  r = m.Get("/api/v1/policies/" + id + "/versions/abc", k);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["field"], "version");
  EXPECT_EQ(m.Get("/api/v1/policies/" + id + "/versions/0", k).status, 400);
  EXPECT_EQ(m.Get("/api/v1/policies/nope/versions", k).status, 404);
  // Another tenant sees nothing.
  auto [b_id, b_key] = m.NewTenant("b");
  EXPECT_EQ(m.Get("/api/v1/policies/" + id + "/versions", b_key).status, 404);
  EXPECT_EQ(m.Get("/api/v1/policies/" + id + "/versions/1", b_key).status, 404);
  (void)b_id;
}

// The time and `event` fields of an IPS alert.
Json IpsEvent(const std::string& id, std::chrono::system_clock::time_point at,
              const std::string& action, int severity) {
  return {{"@timestamp", FormatTimestamp(at)},
          {"event",
           {{"id", id},
            {"kind", "alert"},
            {"module", "ips"},
            {"action", action},
            {"severity", severity}}}};
}

// One NDJSON IPS event line: a blocked request matching `rule`.
std::string IpsLine(const std::string& id, std::chrono::system_clock::time_point at,
                    const std::string& rule, const std::string& action = "blocked",
                    int severity = 3) {
  Json e = IpsEvent(id, at, action, severity);
  e["rule"] = {{"id", {rule, "949110"}}};
  e["ips"] = {{"messages", {"SQL Injection Attack <script>", "Inbound Anomaly Score"}}};
  e["url"] = {{"original", "/search?q=1' OR 1=1--"}};
  return e.dump() + "\n";
}

TEST(ManagerApiAlerts, SevereEventsBecomeDeduplicatedAlertsTriagedByRoleAndInBulk) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  const std::string auditor = m.NewKey(k, "auditor");
  const std::string op = m.NewKey(k, "operator");
  auto [agent, cred] = m.NewAgent(k, "web-01");
  auto [agent2, cred2] = m.NewAgent(k, "web-02");
  const std::chrono::system_clock::time_point t0 = m.clock().Now();
  using std::chrono::minutes;
  // Two blocks of one rule 10 minutes apart, a detect-only match (not severe), a healed file,
  // a plain change (not severe), and one block on another host.
  std::string batch = IpsLine("e-1", t0, "942100") + IpsLine("e-2", t0 + minutes(10), "942100") +
                      IpsLine("e-3", t0 + minutes(11), "942100", "detected", 2) +
                      EventLine("e-4", FormatTimestamp(t0 + minutes(12)), "autoheal", "restored", 2,
                                "/var/www/index.html") +
                      EventLine("e-5", FormatTimestamp(t0 + minutes(13)));
  auto post = [&](const std::string& c, const std::string& body) {
    return m.Do("POST", "/agent/v1/events", c, body, "application/x-ndjson", "gzip");
  };
  ASSERT_EQ(post(cred, batch).status, 200);
  ASSERT_EQ(post(cred, batch).status, 200) << "resent: duplicates";
  ASSERT_EQ(post(cred2, IpsLine("e-6", t0 + minutes(1), "942100")).status, 200);
  // Beyond the window (1 h after the last one): a new alert.
  ASSERT_EQ(post(cred, IpsLine("e-7", t0 + minutes(10) + std::chrono::hours(2), "942100")).status,
            200);

  Reply r = m.Get("/api/v1/alerts", auditor);
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_EQ(r.body["items"].size(), 4u) << r.raw;
  Json newest = r.body["items"][0];
  EXPECT_EQ(newest["last_event_id"], "e-7");
  EXPECT_EQ(newest["count"], 1);
  Json grouped;
  for (const auto& a : r.body["items"]) {
    if (a["first_event_id"] == "e-1") grouped = a;
  }
  ASSERT_TRUE(grouped.is_object()) << r.raw;
  EXPECT_EQ(grouped["count"], 2) << "e-1 and e-2; the resend counted nothing";
  EXPECT_EQ(grouped["rule_key"], "ips.blocked:942100");
  EXPECT_EQ(grouped["agent_id"], agent);
  EXPECT_EQ(grouped["title"], "SQL Injection Attack <script>");
  EXPECT_EQ(grouped["severity"], 3);
  EXPECT_EQ(grouped["state"], "open");
  EXPECT_EQ(grouped["source"], "builtin");
  EXPECT_TRUE(grouped["acknowledged"].is_null());
  r = m.Get("/api/v1/alerts?module=autoheal", k);
  ASSERT_EQ(r.body["items"].size(), 1u);
  EXPECT_EQ(r.body["items"][0]["rule_key"], "autoheal.restored");
  EXPECT_EQ(m.Get("/api/v1/alerts?agent=" + agent2, k).body["items"].size(), 1u);
  // Paging.
  r = m.Get("/api/v1/alerts?limit=3", k);
  ASSERT_EQ(r.body["items"].size(), 3u);
  ASSERT_TRUE(r.body["next_cursor"].is_string());
  r = m.Get("/api/v1/alerts?limit=3&cursor=" + r.body["next_cursor"].get<std::string>(), k);
  EXPECT_EQ(r.body["items"].size(), 1u);
  EXPECT_EQ(m.Get("/api/v1/alerts?state=closed", k).status, 400);
  EXPECT_EQ(m.Get("/api/v1/alerts?cursor=zzz", k).status, 400);

  // One alert: the auditor may not, the operator may; who, when and why are recorded.
  const std::string gid = grouped["id"];
  EXPECT_EQ(m.Patch("/api/v1/alerts/" + gid, auditor, {{"state", "acknowledged"}}).status, 403);
  m.clock().Advance(minutes(5));
  r = m.Patch("/api/v1/alerts/" + gid, op, {{"state", "acknowledged"}, {"reason", "on it"}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["state"], "acknowledged");
  EXPECT_TRUE(r.body["acknowledged"]["by"].get<std::string>().starts_with("apikey:"));
  EXPECT_EQ(r.body["acknowledged"]["reason"], "on it");
  EXPECT_EQ(r.body["acknowledged"]["at"], FormatTimestamp(m.clock().Now()));
  EXPECT_EQ(m.Patch("/api/v1/alerts/" + gid, op, {{"state", "gone"}}).status, 400);
  EXPECT_EQ(m.Patch("/api/v1/alerts/" + gid, op, {{"state", "open"}, {"extra", 1}}).status, 400);
  EXPECT_EQ(m.Patch("/api/v1/alerts/nope", op, {{"state", "resolved"}}).status, 404);

  // Bulk: all or none.
  Json all_ids = Json::array();
  Reply listed = m.Get("/api/v1/alerts", k);
  for (const auto& a : listed.body["items"]) all_ids.push_back(a["id"]);
  ASSERT_EQ(all_ids.size(), 4u);
  Json with_unknown = all_ids;
  with_unknown.push_back("no-such-alert");
  r = m.Patch("/api/v1/alerts", op, {{"ids", with_unknown}, {"state", "resolved"}});
  ASSERT_EQ(r.status, 404) << r.raw;
  EXPECT_NE(r.body["error"]["message"].get<std::string>().find("no-such-alert"), std::string::npos);
  EXPECT_EQ(m.Get("/api/v1/alerts?state=resolved", k).body["items"].size(), 0u);
  EXPECT_EQ(m.Patch("/api/v1/alerts", op, {{"ids", Json::array()}, {"state", "resolved"}}).status,
            400);
  EXPECT_EQ(m.Patch("/api/v1/alerts", auditor, {{"ids", all_ids}, {"state", "resolved"}}).status,
            403);
  r = m.Patch("/api/v1/alerts", op,
              {{"ids", all_ids}, {"state", "resolved"}, {"reason", "false positive"}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["items"].size(), 4u);
  EXPECT_EQ(m.Get("/api/v1/alerts?state=resolved", k).body["items"].size(), 4u);
  r = m.Get("/api/v1/alerts/" + gid, k);
  EXPECT_EQ(r.body["resolved"]["reason"], "false positive");
  EXPECT_EQ(r.body["acknowledged"]["reason"], "on it") << "kept on record";
  // Acknowledging a resolved alert is a conflict; reopening works.
  EXPECT_EQ(m.Patch("/api/v1/alerts/" + gid, op, {{"state", "acknowledged"}}).status, 409);
  r = m.Patch("/api/v1/alerts/" + gid, op, {{"state", "open"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.body["resolved"].is_null());
  // The audit log has the triage.
  r = m.Get("/api/v1/audit?limit=1000", k);
  int triage = 0;
  for (const auto& e : r.body["items"]) {
    if (e["path"].get<std::string>().starts_with("/api/v1/alerts") && e["status"] == 200) ++triage;
  }
  EXPECT_EQ(triage, 3);
}

// One IPS event with its matches: {rule id, variable}; severity 2 = over the anomaly threshold.
std::string IpsMatchLine(const std::string& id, std::chrono::system_clock::time_point at,
                         const std::string& action, int severity, const std::string& client,
                         const std::string& path,
                         const std::vector<std::pair<std::string, std::string>>& matches) {
  Json m = Json::array();
  Json ids = Json::array();
  for (const auto& [rule, var] : matches) {
    m.push_back({{"id", rule}, {"variable", var}, {"message", "msg " + rule}, {"data", "d"}});
    ids.push_back(rule);
  }
  m.push_back({{"id", "949110"}, {"variable", "TX:ANOMALY_SCORE"}, {"message", "score"}});
  ids.push_back("949110");
  Json e = IpsEvent(id, at, action, severity);
  e["rule"] = {{"id", ids}};
  e["ips"] = {{"matches", m}};
  e["source"] = {{"ip", client}};
  e["http"] = {{"request", {{"method", "GET"}}}};
  e["url"] = {{"original", path + "?q=x"}, {"path", path}};
  return e.dump() + "\n";
}

// A log inspection match at level 10 (severity 3) becomes an alert titled with the rule's
// description, keyed by the OSSEC/Wazuh rule id.
TEST(ManagerApiAlerts, LogInspectionAlertsAreTitledWithTheRuleDescription) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  auto [agent, cred] = m.NewAgent(k, "web-01");
  Json e = {{"@timestamp", FormatTimestamp(m.clock().Now())},
            {"event",
             {{"id", "li-1"},
              {"kind", "alert"},
              {"module", "loginspect"},
              {"action", "rule_matched"},
              {"severity", 3}}},
            {"rule",
             {{"id", "5712"},
              {"level", 10},
              {"description", "sshd: brute force trying to get access to the system. <b>"},
              {"groups", {"syslog", "sshd", "authentication_failures"}}}},
            {"source", {{"ip", "203.0.113.7"}}}};
  ASSERT_EQ(m.Do("POST", "/agent/v1/events", cred, e.dump() + "\n", "application/x-ndjson", "gzip")
                .status,
            200);
  Reply r = m.Get("/api/v1/alerts?module=loginspect", k);
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_EQ(r.body["items"].size(), 1u) << r.raw;
  EXPECT_EQ(r.body["items"][0]["title"],
            "sshd: brute force trying to get access to the system. <b>");
  EXPECT_EQ(r.body["items"][0]["rule_key"], "loginspect.rule_matched:5712");
  EXPECT_EQ(r.body["items"][0]["agent_id"], agent);
}

// Active response's blocks as the manager sees them: derived from the hosts' address_blocked /
// address_unblocked events (expired, removed and other tenants' blocks are not listed); removal
// queues the agent's firewall.unblock command.
Json FirewallEvent(const std::string& id, std::chrono::system_clock::time_point at,
                   const std::string& action, const std::string& address, int duration_s = 0) {
  Json e = {{"@timestamp", FormatTimestamp(at)},
            {"event",
             {{"id", id},
              {"kind", "event"},
              {"module", "firewall"},
              {"action", action},
              {"severity", action == "address_blocked" ? 3 : 0}}},
            {"source", {{"ip", address}}},
            {"rule", {{"id", "ssh-brute"}}}};
  if (action == "address_blocked") {
    e["firewall"] = {
        {"duration_s", duration_s}, {"mode", "prevent"}, {"cause", {{"module", "loginspect"}}}};
  } else {
    e["firewall"] = {{"reason", "removed"}};
  }
  return e;
}

TEST(ManagerApiBlockedAddresses, ListsActiveBlocksFromEventsAndUnblocksThroughACommand) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  const std::string auditor = m.NewKey(k, "auditor");
  auto [agent, cred] = m.NewAgent(k, "web-01");
  auto [agent2, cred2] = m.NewAgent(k, "web-02");
  auto [other_tenant, other_key] = m.NewTenant("other");
  auto [other_agent, other_cred] = m.NewAgent(other_key, "x-01");
  const auto now = m.clock().Now();
  using std::chrono::hours;
  using std::chrono::minutes;
  auto post = [&](const std::string& c, const std::vector<Json>& events) {
    std::string body;
    for (const auto& e : events) body += e.dump() + "\n";
    return m.Do("POST", "/agent/v1/events", c, body, "application/x-ndjson", "gzip").status;
  };
  ASSERT_EQ(
      post(cred, {FirewallEvent("b-1", now - minutes(10), "address_blocked", "203.0.113.7", 3600),
                  // expired an hour ago
                  FirewallEvent("b-2", now - hours(2), "address_blocked", "198.51.100.2", 3600),
                  // blocked, then removed
                  FirewallEvent("b-3", now - minutes(30), "address_blocked", "198.51.100.3", 3600),
                  FirewallEvent("u-3", now - minutes(20), "address_unblocked", "198.51.100.3"),
                  // removed, then blocked again: active
                  FirewallEvent("u-4", now - minutes(50), "address_unblocked", "2001:db8::4"),
                  FirewallEvent("b-4", now - minutes(5), "address_blocked", "2001:db8::4", 600)}),
      200);
  ASSERT_EQ(
      post(cred2, {FirewallEvent("b-5", now - minutes(1), "address_blocked", "203.0.113.7", 120)}),
      200);
  ASSERT_EQ(post(other_cred,
                 {FirewallEvent("b-6", now - minutes(1), "address_blocked", "192.0.2.66", 3600)}),
            200);

  Reply r = m.Get("/api/v1/blocked-addresses", auditor);
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_EQ(r.body["items"].size(), 3u) << r.raw;
  EXPECT_EQ(r.body["items"][0]["agent_id"], agent2);  // newest block first
  EXPECT_EQ(r.body["items"][1]["address"], "2001:db8::4");
  EXPECT_EQ(r.body["items"][1]["expires_at"], FormatTimestamp(now + minutes(5)));
  EXPECT_EQ(r.body["items"][2]["address"], "203.0.113.7");
  EXPECT_EQ(r.body["items"][2]["rule_id"], "ssh-brute");
  EXPECT_EQ(r.body["items"][2]["cause_module"], "loginspect");
  EXPECT_EQ(r.body["items"][2]["mode"], "prevent");
  EXPECT_EQ(r.body["truncated"], false);
  r = m.Get("/api/v1/blocked-addresses?agent=" + agent, k);
  ASSERT_EQ(r.body["items"].size(), 2u) << r.raw;
  // Time passes: the 10-minute block on 2001:db8::4 ends.
  m.clock().Advance(minutes(6));
  EXPECT_EQ(m.Get("/api/v1/blocked-addresses?agent=" + agent, k).body["items"].size(), 1u);
  // The other tenant sees only its own.
  r = m.Get("/api/v1/blocked-addresses", other_key);
  ASSERT_EQ(r.body["items"].size(), 1u) << r.raw;
  EXPECT_EQ(r.body["items"][0]["address"], "192.0.2.66");
  EXPECT_EQ(m.Get("/api/v1/blocked-addresses?window=1y", k).status, 400);

  // Removal: a command for the agent, by operators and admins only.
  EXPECT_EQ(m.Delete("/api/v1/agents/" + agent + "/blocked-addresses/203.0.113.7", auditor).status,
            403);
  EXPECT_EQ(m.Delete("/api/v1/agents/" + agent + "/blocked-addresses/not-an-ip", k).status, 400);
  EXPECT_EQ(m.Delete("/api/v1/agents/" + other_agent + "/blocked-addresses/192.0.2.66", k).status,
            404);
  r = m.Delete("/api/v1/agents/" + agent + "/blocked-addresses/203.0.113.7", k);
  ASSERT_EQ(r.status, 202) << r.raw;
  EXPECT_EQ(r.body["command"]["name"], "firewall.unblock");
  EXPECT_EQ(r.body["command"]["args"]["address"], "203.0.113.7");
  r = m.Delete("/api/v1/agents/" + agent + "/blocked-addresses", k);
  ASSERT_EQ(r.status, 202) << r.raw;
  EXPECT_TRUE(r.body["command"]["args"].empty()) << r.raw;
  r = m.Get("/api/v1/agents/" + agent + "/commands", k);
  ASSERT_EQ(r.body["items"].size(), 2u) << r.raw;
  // The agent's answer, an address_unblocked event, takes it off the list.
  m.clock().Advance(std::chrono::seconds(1));
  ASSERT_EQ(post(cred, {FirewallEvent("u-1", m.clock().Now(), "address_unblocked", "203.0.113.7")}),
            200);
  EXPECT_EQ(m.Get("/api/v1/blocked-addresses?agent=" + agent, k).body["items"].size(), 0u);
}

// Tenant-wide IP lists: a firewall policy names a list it does not define; the manager
// validates it with the tenant's list merged in, sends the merged document to the hosts, and a
// change of the list gives the policy a new version (the hosts get it at their next heartbeat).
TEST(ManagerApiIpLists, PoliciesUseTenantListsAndAChangeReachesTheirHosts) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  const std::string auditor = m.NewKey(k, "auditor");
  Reply r = m.Do("PUT", "/api/v1/ip-lists/office", k,
                 Json{{"description", "HQ"}, {"entries", {"10.1.0.0/16", "2001:db8::/32"}}}.dump());
  ASSERT_EQ(r.status, 201) << r.raw;
  EXPECT_EQ(r.body["policies_updated"].size(), 0u);
  // Bad input names what was wrong; nothing is stored.
  r = m.Do("PUT", "/api/v1/ip-lists/office", k,
           Json{{"entries", {"10.1.0.0/16", "10.1.0.1/16"}}}.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["field"], "entries[1]") << r.raw;
  EXPECT_EQ(m.Do("PUT", "/api/v1/ip-lists/-bad", k, Json{{"entries", Json::array()}}.dump()).status,
            400);
  EXPECT_EQ(
      m.Do("PUT", "/api/v1/ip-lists/x", auditor, Json{{"entries", Json::array()}}.dump()).status,
      403);
  EXPECT_EQ(m.Get("/api/v1/ip-lists/office", k).body["entries"].size(), 2u);

  const Json doc = {{"firewall",
                     {{"rules",
                       {{{"id", "ssh-office"},
                         {"direction", "inbound"},
                         {"protocol", "tcp"},
                         {"local_ports", 22},
                         {"remote_lists", {"office"}},
                         {"action", "allow"}}}}}}};
  r = m.Post("/api/v1/policies", k, {{"name", "web"}, {"document", doc}});
  ASSERT_EQ(r.status, 201) << r.raw;
  const std::string pid = r.body["id"];
  // A list that exists nowhere is refused, naming it.
  Json unknown = doc;
  unknown["firewall"]["rules"][0]["remote_lists"] = {"nope"};
  r = m.Post("/api/v1/policies", k, {{"name", "bad"}, {"document", unknown}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.raw.find("nope"), std::string::npos) << r.raw;
  // The same through YAML text.
  r = m.Post("/api/v1/policies", k,
             {{"name", "text"},
              {"document_text",
               "firewall:\n  rules:\n    - {id: a, direction: in, remote_lists: [office], "
               "action: deny}\n"}});
  EXPECT_EQ(r.status, 201) << r.raw;

  auto [agent, cred] = m.NewAgent(k, "web-01", pid);
  auto heartbeat = [&](int version) {
    return m.Post("/agent/v1/heartbeat", cred,
                  {{"machine_id", "machine-1"},
                   {"status", {{"version", "0.1.1"}, {"policy_version", version}}},
                   {"command_results", Json::array()}});
  };
  Reply h = heartbeat(0);
  ASSERT_EQ(h.status, 200) << h.raw;
  EXPECT_EQ(h.body["policy"]["version"], 1);
  EXPECT_EQ(h.body["policy"]["document"]["firewall"]["ip_lists"]["office"],
            Json({"10.1.0.0/16", "2001:db8::/32"}))
      << h.raw;
  // The stored policy stays as written.
  EXPECT_FALSE(
      m.Get("/api/v1/policies/" + pid, k).body["document"]["firewall"].contains("ip_lists"));

  m.clock().Advance(std::chrono::seconds(5));
  r = m.Do("PUT", "/api/v1/ip-lists/office", k, Json{{"entries", {"10.9.0.0/16"}}}.dump());
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_EQ(r.body["policies_updated"].size(), 2u) << r.raw;  // "web" and "text"
  h = heartbeat(1);
  ASSERT_EQ(h.status, 200) << h.raw;
  EXPECT_EQ(h.body["policy"]["version"], 2);
  EXPECT_EQ(h.body["policy"]["document"]["firewall"]["ip_lists"]["office"], Json({"10.9.0.0/16"}));

  // In use: not deleted. A policy's own list of the same name wins over the tenant's.
  r = m.Delete("/api/v1/ip-lists/office", k);
  EXPECT_EQ(r.status, 409);
  EXPECT_NE(r.raw.find("web"), std::string::npos) << r.raw;
  Json own = doc;
  own["firewall"]["ip_lists"] = {{"office", {"192.0.2.0/24"}}};
  r = m.Post("/api/v1/policies", k, {{"name", "own"}, {"document", own}});
  ASSERT_EQ(r.status, 201) << r.raw;
  r = m.Do("PUT", "/api/v1/ip-lists/office", k, Json{{"entries", {"10.8.0.0/16"}}}.dump());
  EXPECT_EQ(r.body["policies_updated"].size(), 2u) << "not the policy with its own list";

  // Other tenants see none of it.
  auto [other, other_key] = m.NewTenant("other");
  EXPECT_EQ(m.Get("/api/v1/ip-lists", other_key).body["items"].size(), 0u);
  EXPECT_EQ(m.Get("/api/v1/ip-lists/office", other_key).status, 404);
  EXPECT_EQ(m.Get("/api/v1/ip-lists", auditor).body["items"].size(), 1u);
}

TEST(ManagerApiIpsTuning, AggregatesRulesAcrossHostsOfAPolicyAndPreviewsExclusions) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  const std::string auditor = m.NewKey(k, "auditor");
  std::string pol = m.NewPolicy(k, "web");
  auto [a1, c1] = m.NewAgent(k, "web-01", pol, "m1");
  auto [a2, c2] = m.NewAgent(k, "web-02", pol, "m2");
  auto [a3, c3] = m.NewAgent(k, "other", "", "m3");
  const auto t0 = m.clock().Now() - std::chrono::hours(1);
  using std::chrono::minutes;
  auto post = [&](const std::string& c, const std::string& body) {
    return m.Do("POST", "/agent/v1/events", c, body, "application/x-ndjson", "gzip").status;
  };
  // 942100 on ARGS:q from two clients on two hosts (one over the threshold), once together with
  // 941100 on ARGS:name under /blog; 920350 once; the host without the policy is not counted.
  ASSERT_EQ(
      post(c1,
           IpsMatchLine("i-1", t0, "detected", 2, "10.0.0.1", "/search", {{"942100", "ARGS:q"}}) +
               IpsMatchLine("i-2", t0 + minutes(1), "detected", 1, "10.0.0.2", "/search",
                            {{"942100", "ARGS:q"}}) +
               IpsMatchLine("i-3", t0 + minutes(2), "detected", 2, "10.0.0.1", "/blog/post",
                            {{"942100", "ARGS:q"}, {"941100", "ARGS:name"}})),
      200);
  ASSERT_EQ(post(c2, IpsMatchLine("i-4", t0 + minutes(3), "detected", 1, "10.0.0.3", "/",
                                  {{"920350", "REQUEST_HEADERS:Host"}}) +
                         IpsMatchLine("i-5", t0 + minutes(4), "detected", 1, "10.0.0.3", "/search",
                                      {{"942100", "ARGS:q"}})),
            200);
  ASSERT_EQ(
      post(c3, IpsMatchLine("i-6", t0, "detected", 2, "10.9.9.9", "/", {{"942100", "ARGS:q"}})),
      200);

  Reply r = m.Get("/api/v1/ips/tuning?policy=" + pol, auditor);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["agents"], 2);
  EXPECT_EQ(r.body["events"], 5);
  EXPECT_EQ(r.body["would_block"], 2);
  EXPECT_FALSE(r.body["truncated"]);
  ASSERT_EQ(r.body["rules"].size(), 3u) << "949110 (scoring) is not a tunable rule";
  Json top = r.body["rules"][0];
  EXPECT_EQ(top["rule_id"], "942100");
  EXPECT_EQ(top["events"], 4);
  EXPECT_EQ(top["would_block"], 2);
  EXPECT_EQ(top["hosts"], Json({"web-01", "web-02"}));
  EXPECT_EQ(top["clients"], 3);
  EXPECT_EQ(top["targets"][0]["value"], "ARGS:q");
  EXPECT_EQ(top["paths"][0]["value"], "/search");
  EXPECT_EQ(top["paths"][0]["count"], 3);
  EXPECT_EQ(top["message"], "msg 942100");
  EXPECT_EQ(top["samples"].size(), 4u);
  EXPECT_EQ(top["samples"][0]["url"], "/search?q=x");
  // Every agent when no policy is named.
  EXPECT_EQ(m.Get("/api/v1/ips/tuning", k).body["events"], 6);

  // Previews: the whole rule; the rule on one target; the rule under a path prefix.
  r = m.Get("/api/v1/ips/tuning?policy=" + pol + "&exclude_rule=942100", k);
  EXPECT_EQ(r.body["preview"]["matched"], 4);
  EXPECT_EQ(r.body["preview"]["suppressed"], 3) << "i-3 still matches 941100";
  r = m.Get("/api/v1/ips/tuning?policy=" + pol + "&exclude_rule=942100&exclude_target=ARGS:other",
            k);
  EXPECT_EQ(r.body["preview"]["matched"], 0);
  r = m.Get("/api/v1/ips/tuning?policy=" + pol + "&exclude_rule=942100&exclude_path=/blog", k);
  EXPECT_EQ(r.body["preview"]["matched"], 1);
  EXPECT_EQ(r.body["preview"]["suppressed"], 0);
  // The period.
  r = m.Get("/api/v1/ips/tuning?policy=" + pol + "&from=" + FormatTimestamp(t0 + minutes(3)), k);
  EXPECT_EQ(r.body["events"], 2);
  // Bad parameters; another tenant's policy.
  EXPECT_EQ(m.Get("/api/v1/ips/tuning?exclude_rule=abc", k).status, 400);
  EXPECT_EQ(m.Get("/api/v1/ips/tuning?exclude_target=ARGS:q", k).status, 400);
  EXPECT_EQ(m.Get("/api/v1/ips/tuning?from=yesterday", k).status, 400);
  auto [b_id, b_key] = m.NewTenant("b");
  r = m.Get("/api/v1/ips/tuning?policy=" + pol, b_key);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body["error"]["field"], "policy");
  EXPECT_EQ(m.Get("/api/v1/ips/tuning", b_key).body["events"], 0);
  (void)a1;
  (void)a2;
  (void)a3;
  (void)b_id;
}

}  // namespace
}  // namespace ward::test
