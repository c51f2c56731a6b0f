// GET /api/v1/policies/{id}/egress-proposals over real HTTPS (issue #17; docs/api.md "Egress
// proposals"): per service of the policy, the newest allow-list learn mode proposed on one of the
// policy's own hosts, within the window; other hosts, other event kinds and other tenants never
// count; accepting it is a PATCH of the policy, after which the service shows the new list.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/clock.h"
#include "tests/manager_harness.h"

namespace ward::test {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

Json Proposal(const std::string& id, std::chrono::system_clock::time_point at,
              const std::string& service, const std::vector<std::string>& allow) {
  return {{"@timestamp", FormatTimestamp(at)},
          {"event",
           {{"id", id},
            {"kind", "event"},
            {"module", "egress"},
            {"action", "allowlist_proposed"},
            {"severity", 0}}},
          {"egress", {{"service", {{"id", service}}}, {"proposed_allow", allow}}}};
}

int Post(ManagerHarness& m, const std::string& credential, const std::vector<Json>& events) {
  std::string body;
  for (const Json& e : events) body += e.dump() + "\n";
  return m.Do("POST", "/agent/v1/events", credential, body, "application/x-ndjson", "gzip").status;
}

Json PolicyDocument() {
  return {{"egress",
           {{"mode", "detect"},
            {"services",
             {{{"id", "web"}, {"unit", "nginx.service"}, {"mode", "learn"}},
              {{"id", "backup"},
               {"exe", "/usr/bin/rsync"},
               {"mode", "detect"},
               {"allow", {"backup.example.net"}}},
              {{"id", "idle"}, {"exe", "/usr/bin/true"}}}}}}};
}

TEST(ManagerApiEgressProposals, NewestProposalPerServiceFromThePolicysOwnHostsInTheWindow) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  const std::string auditor = m.NewKey(k, "auditor");
  Reply r = m.Post("/api/v1/policies", k, {{"name", "egress"}, {"document", PolicyDocument()}});
  ASSERT_EQ(r.status, 201) << r.raw;
  const std::string pol = r.body["id"];
  auto [a1, c1] = m.NewAgent(k, "web-01", pol, "m1");
  auto [a2, c2] = m.NewAgent(k, "web-02", pol, "m2");
  auto [a3, c3] = m.NewAgent(k, "elsewhere", "", "m3");
  auto [tb, kb] = m.NewTenant("other");
  auto [b1, cb] = m.NewAgent(kb, "b-01", "", "mb");
  const auto t0 = m.clock().Now();

  Json blocked = Proposal("e-blocked", t0 - minutes(1), "web", {});
  blocked["event"]["action"] = "blocked";
  blocked["destination"] = {{"domain", "not-a-proposal.example"}};
  ASSERT_EQ(Post(m, c1,
                 {Proposal("e-old", t0 - hours(2), "web", {"b.example", "a.example"}),
                  Proposal("e-backup", t0 - hours(3), "backup", {"store.example.net"}), blocked}),
            200);
  // The newest, from the other host of the policy: duplicates once, sorted.
  ASSERT_EQ(Post(m, c2,
                 {Proposal("e-new", t0 - hours(1), "web", {"c.example", "a.example", "c.example"}),
                  Proposal("e-unknown", t0 - hours(1), "not-in-policy", {"x.example"})}),
            200);
  // Newer still, but from a host without this policy, and from another tenant.
  ASSERT_EQ(Post(m, c3, {Proposal("e-foreign", t0 - minutes(5), "web", {"foreign.example"})}), 200);
  ASSERT_EQ(Post(m, cb, {Proposal("e-tenant-b", t0 - minutes(5), "web", {"b-tenant.example"})}),
            200);

  const std::string path = "/api/v1/policies/" + pol + "/egress-proposals";
  r = m.Get(path, auditor);  // any role reads it
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["policy_id"], pol);
  EXPECT_EQ(r.body["version"], 1);
  EXPECT_EQ(r.body["truncated"], false);
  const Json items = r.body["items"];  // a copy: r is reused below
  ASSERT_EQ(items.size(), 3u) << r.raw;
  EXPECT_EQ(items[0]["service"], "web");
  EXPECT_EQ(items[0]["mode"], "learn");
  EXPECT_EQ(items[0]["allow"], Json::array());
  EXPECT_EQ(items[0]["proposal"]["allow"], Json::array({"a.example", "c.example"}));
  EXPECT_EQ(items[0]["proposal"]["agent_id"], a2);
  EXPECT_EQ(items[0]["proposal"]["hostname"], "web-02");
  EXPECT_EQ(items[0]["proposal"]["event_id"], "e-new");
  EXPECT_EQ(items[0]["proposal"]["at"], FormatTimestamp(t0 - hours(1)));
  EXPECT_EQ(items[1]["service"], "backup");
  EXPECT_EQ(items[1]["mode"], "detect");
  EXPECT_EQ(items[1]["allow"], Json::array({"backup.example.net"}));
  EXPECT_EQ(items[1]["proposal"]["allow"], Json::array({"store.example.net"}));
  EXPECT_EQ(items[1]["proposal"]["hostname"], "web-01");
  EXPECT_EQ(items[2]["service"], "idle");
  EXPECT_EQ(items[2]["mode"], "learn");  // the default
  EXPECT_TRUE(items[2]["proposal"].is_null());

  // A shorter window leaves the older proposal out.
  r = m.Get(path + "?window=90m", k);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["items"][0]["proposal"]["event_id"], "e-new");
  EXPECT_TRUE(r.body["items"][1]["proposal"].is_null()) << r.raw;

  // Accepting is a PATCH of the policy: the service then lists what was proposed.
  Json doc = PolicyDocument();
  doc["egress"]["services"][0]["allow"] = items[0]["proposal"]["allow"];
  doc["egress"]["services"][0]["mode"] = "prevent";
  r = m.Patch("/api/v1/policies/" + pol, k, {{"document", doc}});
  ASSERT_EQ(r.status, 200) << r.raw;
  r = m.Get(path, k);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["version"], 2);
  EXPECT_EQ(r.body["items"][0]["mode"], "prevent");
  EXPECT_EQ(r.body["items"][0]["allow"], Json::array({"a.example", "c.example"}));

  // Errors: a bad window names it; another tenant's policy and an unknown id are not found.
  for (const char* w : {"soon", "0s", "401d"}) {
    r = m.Get(path + "?window=" + w, k);
    EXPECT_EQ(r.status, 400) << w;
    EXPECT_EQ(r.body["error"]["field"], "window") << w;
  }
  r = m.Get(path + "?agent=" + a1, k);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(m.Get(path, kb).status, 404);
  EXPECT_EQ(
      m.Get("/api/v1/policies/01900000-0000-7000-8000-000000000000/egress-proposals", k).status,
      404);
}

TEST(ManagerApiEgressProposals, APolicyWithoutEgressServicesHasNoItems) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  const std::string pol = m.NewPolicy(k, "plain");
  Reply r = m.Get("/api/v1/policies/" + pol + "/egress-proposals", k);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["items"], Json::array());
  EXPECT_EQ(r.body["truncated"], false);
}

}  // namespace
}  // namespace ward::test
