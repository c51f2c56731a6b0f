// Agent groups (issue #18, docs/deployment.md "Agent groups") over the real HTTPS front and a
// real SQLite store: CRUD, one group per agent, the group's policy handed to members and
// delivered by their heartbeats, the listing's group and filter, activation rules that put a new
// agent into a group. (Cross-tenant: manager_api_test's CrossTenantWalk.)
#include <gtest/gtest.h>

#include "tests/manager_harness.h"

namespace ward::test {
namespace {

// A heartbeat of an agent that holds `policy_id` at `policy_version` ("" / 0: none).
Json Heartbeat(const std::string& machine, int policy_version, const std::string& policy_id = "") {
  Json status = {{"version", "0.1.1"}, {"policy_version", policy_version}};
  if (!policy_id.empty()) status["policy_id"] = policy_id;
  return {{"machine_id", machine}, {"status", status}, {"command_results", Json::array()}};
}

TEST(AgentGroups, MembersGetTheGroupsPolicyAndTheListingShowsTheirGroup) {
  ManagerHarness m;
  auto [tenant, k] = m.NewTenant("shop");
  const std::string web = m.NewPolicy(k, "web"), strict = m.NewPolicy(k, "strict");
  auto [a1, cred1] = m.NewAgent(k, "web-01", "", "m-1");
  auto [a2, cred2] = m.NewAgent(k, "web-02", "", "m-2");
  auto [loner, cred3] = m.NewAgent(k, "db-01", "", "m-3");

  Reply r = m.Post("/api/v1/agent-groups", k,
                   {{"name", "web tier"}, {"description", "front ends"}, {"policy_id", web}});
  ASSERT_EQ(r.status, 201) << r.raw;
  const std::string group = r.body["id"];
  EXPECT_EQ(r.body["policy_id"], web);
  EXPECT_EQ(r.body["members"], 0);
  r = m.Post("/api/v1/agent-groups", k, {{"name", "spare"}});
  ASSERT_EQ(r.status, 201) << r.raw;
  const std::string spare = r.body["id"];
  EXPECT_TRUE(r.body["policy_id"].is_null());
  // Refused, naming the field: a taken name, an unknown policy, no name, an unknown field.
  r = m.Post("/api/v1/agent-groups", k, {{"name", "web tier"}});
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.body["error"]["field"], "name");
  r = m.Post("/api/v1/agent-groups", k, {{"name", "x"}, {"policy_id", "nope"}});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body["error"]["field"], "policy_id");
  EXPECT_EQ(m.Post("/api/v1/agent-groups", k, {{"description", "x"}}).body["error"]["field"],
            "name");
  EXPECT_EQ(m.Post("/api/v1/agent-groups", k, {{"name", "x"}, {"target", 1}}).status, 400);
  const std::string auditor = m.NewKey(k, "auditor");
  EXPECT_EQ(m.Post("/api/v1/agent-groups", auditor, {{"name", "x"}}).status, 403);
  EXPECT_EQ(m.Get("/api/v1/agent-groups", auditor).body["items"].size(), 2u);

  // Joining gives the group's policy; the heartbeat delivers it.
  r = m.Patch("/api/v1/agents/" + a1, k, {{"group_id", group}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["group_id"], group);
  EXPECT_EQ(r.body["policy_id"], web);
  r = m.Patch("/api/v1/agents/" + a2, k, {{"group_id", spare}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_TRUE(r.body["policy_id"].is_null()) << "spare has no policy";
  // Moving leaves the other group (one group per agent).
  r = m.Patch("/api/v1/agents/" + a2, k, {{"group_id", group}});
  EXPECT_EQ(r.body["group_id"], group);
  EXPECT_EQ(m.Get("/api/v1/agent-groups/" + group, k).body["members"], 2);
  EXPECT_EQ(m.Get("/api/v1/agent-groups/" + spare, k).body["members"], 0);
  Reply h = m.Post("/agent/v1/heartbeat", cred1, Heartbeat("m-1", 0));
  ASSERT_EQ(h.status, 200) << h.raw;
  EXPECT_EQ(h.body["policy"]["id"], web);

  // The listing: each agent's group, and a filter by group.
  Reply list = m.Get("/api/v1/agents", k);
  ASSERT_EQ(list.body["items"].size(), 3u);
  for (const auto& a : list.body["items"]) {
    if (a["id"] == loner) {
      EXPECT_TRUE(a["group_id"].is_null());
    } else {
      EXPECT_EQ(a["group_id"], group) << a.dump();
    }
  }
  list = m.Get("/api/v1/agents?group=" + group, k);
  ASSERT_EQ(list.body["items"].size(), 2u);
  EXPECT_EQ(m.Get("/api/v1/agents/" + loner, k).body["group_id"], nullptr);
  EXPECT_EQ(m.Get("/api/v1/agents/" + a1, k).body["group_id"], group);

  // The group's new policy reaches both members at once (not the loner), and their heartbeats.
  r = m.Patch("/api/v1/agent-groups/" + group, k, {{"policy_id", strict}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["members_reassigned"], 2);
  EXPECT_EQ(m.Get("/api/v1/agents/" + a1, k).body["policy_id"], strict);
  EXPECT_EQ(m.Get("/api/v1/agents/" + a2, k).body["policy_id"], strict);
  EXPECT_TRUE(m.Get("/api/v1/agents/" + loner, k).body["policy_id"].is_null());
  // An agent holding version 1 of `web` is sent `strict`, although that is version 1 as well:
  // it reports the policy's id beside its version.
  h = m.Post("/agent/v1/heartbeat", cred1, Heartbeat("m-1", 1, web));
  ASSERT_EQ(h.status, 200) << h.raw;
  EXPECT_EQ(h.body["policy"]["id"], strict);
  EXPECT_EQ(h.body["policy"]["version"], 1);
  h = m.Post("/agent/v1/heartbeat", cred1, Heartbeat("m-1", 1, strict));
  EXPECT_FALSE(h.body.contains("policy")) << "applied: nothing more";
  h = m.Post("/agent/v1/heartbeat", cred2, Heartbeat("m-2", 0));
  EXPECT_EQ(h.body["policy"]["id"], strict);
  // A rename keeps a member's own policy; an explicit policy with the group overrides it.
  r = m.Patch("/api/v1/agents/" + a1, k, {{"group_id", group}, {"policy_id", web}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["policy_id"], web);
  r = m.Patch("/api/v1/agent-groups/" + group, k, {{"name", "web"}});
  EXPECT_EQ(r.body["members_reassigned"], 0);
  EXPECT_EQ(m.Get("/api/v1/agents/" + a1, k).body["policy_id"], web);
  // A policy a group uses cannot be deleted; no body field is refused.
  EXPECT_EQ(m.Delete("/api/v1/policies/" + strict, k).status, 409);
  r = m.Patch("/api/v1/agents/" + a1, k, Json::object());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(m.Patch("/api/v1/agents/" + a1, k, {{"group_id", "nope"}}).body["error"]["field"],
            "group_id");
  EXPECT_EQ(m.Patch("/api/v1/agent-groups/" + group, auditor, {{"name", "x"}}).status, 403);

  // Leaving, and deleting the group: members keep their policy.
  r = m.Patch("/api/v1/agents/" + a1, k, {{"group_id", nullptr}});
  EXPECT_TRUE(r.body["group_id"].is_null());
  EXPECT_EQ(r.body["policy_id"], web);
  EXPECT_EQ(m.Delete("/api/v1/agent-groups/" + group, auditor).status, 403);
  EXPECT_EQ(m.Delete("/api/v1/agent-groups/" + group, k).status, 204);
  EXPECT_EQ(m.Get("/api/v1/agent-groups/" + group, k).status, 404);
  EXPECT_TRUE(m.Get("/api/v1/agents/" + a2, k).body["group_id"].is_null());
  EXPECT_EQ(m.Get("/api/v1/agents/" + a2, k).body["policy_id"], strict);
  EXPECT_EQ(m.Delete("/api/v1/policies/" + strict, k).status, 409) << "a2 still uses it";
  // Audited.
  Reply audit = m.Get("/api/v1/audit?path=/api/v1/agent-groups", k);
  EXPECT_GE(audit.body["items"].size(), 4u) << audit.raw;
}

TEST(AgentGroups, AnActivationRuleWithAGroupPutsTheNewAgentInItWithItsPolicy) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  const std::string web = m.NewPolicy(k, "web"), db = m.NewPolicy(k, "db"),
                    fallback = m.NewPolicy(k, "fallback");
  Reply r = m.Post("/api/v1/agent-groups", k, {{"name", "webs"}, {"policy_id", web}});
  ASSERT_EQ(r.status, 201) << r.raw;
  const std::string webs = r.body["id"];
  r = m.Post("/api/v1/agent-groups", k, {{"name", "dbs"}});
  const std::string dbs = r.body["id"];
  Json rules = {{{"name", "web servers"}, {"match", {{"hostname", "web-*"}}}, {"group_id", webs}},
                {{"name", "databases"},
                 {"match", {{"hostname", "db-*"}}},
                 {"group_id", dbs},
                 {"policy_id", db}}};
  r = m.Do("PUT", "/api/v1/activation-rules", k, Json{{"rules", rules}}.dump());
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(m.Get("/api/v1/activation-rules", k).body["rules"], rules);
  r = m.Do(
      "PUT", "/api/v1/activation-rules", k,
      Json{{"rules", {{{"name", "x"}, {"match", {{"os", "*"}}}, {"group_id", "nope"}}}}}.dump());
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body["error"]["field"], "rules[0].group_id");
  r = m.Do("PUT", "/api/v1/activation-rules", k,
           Json{{"rules", {{{"name", "x"}, {"match", {{"os", "*"}}}}}}}.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["field"], "rules[0].policy_id");

  Reply t = m.Post("/api/v1/activation-tokens", k, {{"policy_id", fallback}});
  const std::string token = t.body["token"];
  auto activate = [&](const std::string& host) {
    Reply a = m.Post("/agent/v1/activate", "",
                     {{"token", token}, {"hostname", host}, {"machine_id", host}});
    EXPECT_EQ(a.status, 201) << a.raw;
    auto str = [](const Json& j) { return j.is_string() ? j.get<std::string>() : std::string(); };
    std::string policy = a.body["policy"].is_null() ? "" : str(a.body["policy"]["id"]);
    Reply got = m.Get("/api/v1/agents/" + str(a.body["agent_id"]), k);
    std::string group = str(got.body["group_id"]);
    EXPECT_EQ(str(got.body["policy_id"]), policy);
    return std::make_pair(policy, group);
  };
  // The group's policy when the rule names none; the rule's own over the group's; else the
  // token's, outside any group.
  EXPECT_EQ(activate("web-01"), std::make_pair(web, webs));
  EXPECT_EQ(activate("db-01"), std::make_pair(db, dbs));
  EXPECT_EQ(activate("mail-01"), std::make_pair(fallback, std::string()));
  EXPECT_EQ(m.Get("/api/v1/agent-groups/" + webs, k).body["members"], 1);
  Reply audit = m.Get("/api/v1/audit?path=/agent/v1/activate", k);
  ASSERT_EQ(audit.body["items"].size(), 3u) << audit.raw;
  EXPECT_EQ(audit.body["items"][0]["detail"]["group_id"], webs);
  // A rule whose group was deleted since: the agent activates with the token's policy.
  ASSERT_EQ(m.Delete("/api/v1/agent-groups/" + webs, k).status, 204);
  EXPECT_EQ(activate("web-02"), std::make_pair(fallback, std::string()));
}

}  // namespace
}  // namespace ward::test
