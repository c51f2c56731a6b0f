#include "manager/services/activation_rules.h"

#include <gtest/gtest.h>

namespace ward::manager {
namespace {

using json = nlohmann::json;

TEST(ActivationRules, FirstMatchingRuleWinsAndEveryConditionMustHold) {
  auto rules = ParseActivationRules(json::parse(R"([
    {"name": "web in prod", "match": {"hostname": "web-*", "ip": "10.1.0.0/16",
                                      "tags": {"env": "prod*"}}, "policy_id": "p-web-prod"},
    {"name": "any web", "match": {"hostname": "WEB-*"}, "policy_id": "p-web"},
    {"name": "debian v6", "match": {"os": "*debian*", "ip": "2001:db8::/32"}, "policy_id": "p-deb"}
  ])"));
  ASSERT_TRUE(rules) << rules.error().ToString();
  HostFacts web{
      "web-01", "Debian GNU/Linux 12", {"192.168.1.5", "10.1.4.20"}, {{"env", "production"}}};
  ASSERT_NE(FirstMatchingRule(*rules, web), nullptr);
  EXPECT_EQ(FirstMatchingRule(*rules, web)->policy_id, "p-web-prod");
  web.tags["env"] = "staging";  // one condition fails: the next rule
  EXPECT_EQ(FirstMatchingRule(*rules, web)->policy_id, "p-web");
  web.tags.clear();  // a missing tag does not match
  EXPECT_EQ(FirstMatchingRule(*rules, web)->policy_id, "p-web");
  HostFacts db{"db-01", "Debian GNU/Linux 12", {"2001:db8:5::9"}, {}};
  EXPECT_EQ(FirstMatchingRule(*rules, db)->policy_id, "p-deb");
  db.ips = {"2001:db9::1"};
  EXPECT_EQ(FirstMatchingRule(*rules, db), nullptr);
  EXPECT_TRUE(ParseActivationRules(json::array())->empty());
}

TEST(ActivationRules, CidrRangesOfBothFamilies) {
  EXPECT_TRUE(InCidr("10.1.255.255", "10.1.0.0/16"));
  EXPECT_FALSE(InCidr("10.2.0.0", "10.1.0.0/16"));
  EXPECT_TRUE(InCidr("192.168.7.130", "192.168.7.128/25"));
  EXPECT_FALSE(InCidr("192.168.7.127", "192.168.7.128/25"));
  EXPECT_TRUE(InCidr("203.0.113.9", "203.0.113.9"));
  EXPECT_TRUE(InCidr("8.8.8.8", "0.0.0.0/0"));
  EXPECT_TRUE(InCidr("2001:db8::1", "2001:db8::/32"));
  EXPECT_FALSE(InCidr("10.0.0.1", "::/0"));  // families differ
  EXPECT_FALSE(InCidr("not-an-ip", "10.0.0.0/8"));
  EXPECT_FALSE(InCidr("10.0.0.1", "10.0.0.0/33"));
}

TEST(ActivationRules, MalformedRulesAreRefusedNamingTheElement) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"name": "x"})", "rules:"},
      {R"([{"match": {"hostname": "a"}, "policy_id": "p"}])", "rules[0].name:"},
      {R"([{"name": "x", "match": {}, "policy_id": "p"}])", "rules[0].match:"},
      {R"([{"name": "x", "match": {"hostname": "a"}}])", "rules[0].policy_id:"},
      {R"([{"name": "x", "match": {"hostname": "a"}, "policy_id": "p"},
           {"name": "y", "match": {"ip": "10.0.0.0/40"}, "policy_id": "p"}])",
       "rules[1].match.ip:"},
      {R"([{"name": "x", "match": {"region": "eu"}, "policy_id": "p"}])", "rules[0].match.region:"},
      {R"([{"name": "x", "match": {"tags": {"env": 3}}, "policy_id": "p"}])",
       "rules[0].match.tags.env:"},
      {R"([{"name": "x", "match": {"os": ""}, "policy_id": "p"}])", "rules[0].match.os:"},
      {R"([{"name": "x", "match": {"os": "a"}, "policy_id": "p", "group": "g"}])",
       "rules[0].group:"},
  };
  for (const auto& [doc, prefix] : cases) {
    auto r = ParseActivationRules(json::parse(doc));
    ASSERT_FALSE(r) << doc;
    EXPECT_TRUE(r.error().message().starts_with(prefix)) << r.error().message();
  }
  json many = json::array();
  for (int i = 0; i < 101; ++i) {
    many.push_back({{"name", "r"}, {"match", {{"hostname", "*"}}}, {"policy_id", "p"}});
  }
  EXPECT_FALSE(ParseActivationRules(many));
}

}  // namespace
}  // namespace ward::manager
