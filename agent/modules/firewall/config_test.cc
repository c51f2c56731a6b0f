#include "agent/modules/firewall/config.h"

#include <gtest/gtest.h>

namespace ward::agent::firewall {
namespace {

Result<FirewallConfig> Parse(const std::string& yaml) {
  auto doc = ConfigNode::FromYaml(yaml, "policy.yaml");
  EXPECT_TRUE(doc.has_value()) << doc.error().ToString();
  const ConfigNode* section = doc->Find("firewall");
  return ParseFirewallConfig(*section);
}

std::string ErrorOf(const std::string& yaml) {
  auto c = Parse(yaml);
  EXPECT_FALSE(c.has_value());
  return c ? "" : c.error().message();
}

TEST(FirewallConfig, ReadsRulesListsDefaultsAndActiveResponse) {
  auto c = Parse(R"(
firewall:
  mode: detect
  default: {inbound: deny, outbound: log}
  allow_loopback: false
  log_group: 42
  confirm_timeout: 30s
  ip_lists:
    office: ["10.1.0.0/16", "2001:db8::/32"]
  rules:
    - id: web
      direction: inbound
      protocol: tcp
      local_ports: [80, "8000-8080"]
      remote: [192.0.2.7]
      remote_lists: [office]
      interfaces: [eth0]
      action: allow
    - {id: dns-out, direction: outbound, protocol: udp, remote_ports: 53, action: log}
  active_response:
    duration: 5m
    max_blocked: 10
    never_block: [198.51.100.0/24]
    never_block_lists: [office]
    triggers:
      - {id: brute, module: loginspect, rule_ids: ["5712"], min_level: 10}
      - {id: waf, module: ips, event_action: blocked, count: 3, within: 1m, duration: 1h}
)");
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->mode, Mode::kDetect);
  EXPECT_EQ(c->default_inbound, Action::kDeny);
  EXPECT_EQ(c->default_outbound, Action::kLog);
  EXPECT_FALSE(c->allow_loopback);
  EXPECT_EQ(c->log_group, 42);
  EXPECT_EQ(c->confirm_timeout, std::chrono::seconds(30));
  ASSERT_EQ(c->rules.size(), 2u);
  const Rule& web = c->rules[0];
  EXPECT_EQ(web.id, "web");
  EXPECT_EQ(web.protocol, Protocol::kTcp);
  ASSERT_EQ(web.local_ports.size(), 2u);
  EXPECT_EQ(web.local_ports[1].first, 8000);
  EXPECT_EQ(web.local_ports[1].last, 8080);
  ASSERT_EQ(web.remote.size(), 3u);  // the host plus the list's two networks
  EXPECT_EQ(web.remote[0].ToString(), "192.0.2.7/32");
  EXPECT_EQ(web.remote[2].ToString(), "2001:db8::/32");
  EXPECT_EQ(web.interfaces, std::vector<std::string>{"eth0"});
  EXPECT_EQ(c->rules[1].direction, Direction::kOutbound);
  EXPECT_EQ(c->rules[1].remote_ports[0].first, 53);
  EXPECT_EQ(c->rules[1].action, Action::kLog);
  const ActiveResponse& ar = c->active_response;
  EXPECT_TRUE(ar.enabled);
  EXPECT_EQ(ar.max_blocked, 10);
  EXPECT_EQ(ar.never_block.size(), 3u);
  ASSERT_EQ(ar.triggers.size(), 2u);
  EXPECT_EQ(ar.triggers[0].duration, std::chrono::minutes(5));  // the section's
  EXPECT_EQ(ar.triggers[0].min_level, 10);
  EXPECT_EQ(ar.triggers[1].count, 3);
  EXPECT_EQ(ar.triggers[1].duration, std::chrono::hours(1));
  EXPECT_EQ(ar.triggers[1].event_action, "blocked");
}

TEST(FirewallConfig, ErrorsNameTheRuleAndTheField) {
  std::string e = ErrorOf(R"(
firewall:
  rules:
    - {id: ok, direction: inbound, action: allow}
    - {id: web, direction: inbound, protocol: tcp, local_ports: ["90-80"], action: allow}
)");
  EXPECT_NE(e.find("rule web"), std::string::npos) << e;
  EXPECT_NE(e.find("firewall.rules[1].local_ports"), std::string::npos) << e;
  EXPECT_NE(e.find("ends before it starts"), std::string::npos) << e;

  e = ErrorOf("firewall:\n  rules:\n    - {id: x, direction: up, action: allow}\n");
  EXPECT_NE(e.find("rule x"), std::string::npos) << e;
  EXPECT_NE(e.find("firewall.rules[0].direction"), std::string::npos) << e;

  e = ErrorOf(
      "firewall:\n  rules:\n    - {id: y, direction: in, remote: [10.0.0.1/8], "
      "action: deny}\n");
  EXPECT_NE(e.find("rule y"), std::string::npos) << e;
  EXPECT_NE(e.find("host bits"), std::string::npos) << e;
  EXPECT_NE(e.find("10.0.0.0/8"), std::string::npos) << e;

  e = ErrorOf(
      "firewall:\n  rules:\n    - {id: z, direction: out, remote_lists: [nope], "
      "action: deny}\n");
  EXPECT_NE(e.find("rule z"), std::string::npos) << e;
  EXPECT_NE(e.find("no IP list \"nope\""), std::string::npos) << e;

  e = ErrorOf("firewall:\n  rules:\n    - {id: p, direction: in, local_ports: 22, action: deny}\n");
  EXPECT_NE(e.find("ports need protocol tcp or udp"), std::string::npos) << e;

  e = ErrorOf(
      "firewall:\n  rules:\n    - {id: d, direction: in, action: allow}\n"
      "    - {id: d, direction: out, action: allow}\n");
  EXPECT_NE(e.find("used by an earlier rule"), std::string::npos) << e;

  e = ErrorOf("firewall:\n  rules:\n    - {id: q, direction: in, action: reject}\n");
  EXPECT_NE(e.find("rule q"), std::string::npos) << e;
  EXPECT_NE(e.find("firewall.rules[0].action"), std::string::npos) << e;

  e = ErrorOf("firewall:\n  rules:\n    - {id: 'bad id', direction: in, action: allow}\n");
  EXPECT_NE(e.find("is not an id"), std::string::npos) << e;

  e = ErrorOf("firewall:\n  rules:\n    - {id: default-x, direction: in, action: allow}\n");
  EXPECT_NE(e.find("Ward's own"), std::string::npos) << e;

  e = ErrorOf("firewall:\n  mode: block\n");
  EXPECT_NE(e.find("firewall.mode"), std::string::npos) << e;

  e = ErrorOf(
      "firewall:\n  active_response:\n    triggers:\n"
      "      - {id: t, module: ips, count: 3}\n");
  EXPECT_NE(e.find("trigger t"), std::string::npos) << e;
  EXPECT_NE(e.find("within"), std::string::npos) << e;

  e = ErrorOf(
      "firewall:\n  active_response:\n    triggers:\n"
      "      - {id: t, module: ips, min_level: 3}\n");
  EXPECT_NE(e.find("min_level is for module loginspect"), std::string::npos) << e;

  e = ErrorOf("firewall:\n  colour: blue\n");
  EXPECT_NE(e.find("colour"), std::string::npos) << e;
}

TEST(FirewallConfig, CidrsParseAndContain) {
  auto net = ParseCidr("10.1.0.0/16");
  ASSERT_TRUE(net.has_value());
  EXPECT_TRUE(net->Contains(*ParseCidr("10.1.200.3")));
  EXPECT_FALSE(net->Contains(*ParseCidr("10.2.0.1")));
  EXPECT_FALSE(net->Contains(*ParseCidr("::1")));
  auto v6 = ParseCidr("2001:db8::/33");
  ASSERT_TRUE(v6.has_value());
  EXPECT_TRUE(v6->Contains(*ParseCidr("2001:db8:7fff::1")));
  EXPECT_FALSE(v6->Contains(*ParseCidr("2001:db8:8000::1")));
  EXPECT_TRUE(ParseCidr("0.0.0.0/0")->Contains(*ParseCidr("203.0.113.9")));
  EXPECT_FALSE(ParseCidr("10.0.0.0/33").has_value());
  EXPECT_FALSE(ParseCidr("10.0.0/8").has_value());
  EXPECT_FALSE(ParseCidr("2001:db8::1/64").has_value());  // host bits
  EXPECT_FALSE(ParseCidr("host.example").has_value());
  EXPECT_FALSE(ParseCidr("10.0.0.0/").has_value());
}

}  // namespace
}  // namespace ward::agent::firewall
