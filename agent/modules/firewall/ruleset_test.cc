#include "agent/modules/firewall/ruleset.h"

#include <gtest/gtest.h>

namespace ward::agent::firewall {
namespace {

FirewallConfig Config(const std::string& yaml) {
  auto doc = ConfigNode::FromYaml(yaml, "policy.yaml");
  EXPECT_TRUE(doc.has_value());
  auto c = ParseFirewallConfig(*doc->Find("firewall"));
  EXPECT_TRUE(c.has_value()) << c.error().ToString();
  return *c;
}

bool Has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

TEST(FirewallRuleset, ReplacesTheRulesInOneTransactionKeepingTheChains) {
  std::string text = RenderRuleset(Config("firewall: {}\n"), {});
  // The table and its base chains are declared (created when missing), the chains and sets
  // flushed, then filled: one batch for libnftables, and the table itself is never deleted.
  EXPECT_EQ(text.rfind("table inet ward {\n", 0), 0u) << text;
  EXPECT_FALSE(Has(text, "delete table")) << text;
  size_t flush = text.find("flush chain inet ward input\nflush chain inet ward output\n");
  ASSERT_NE(flush, std::string::npos) << text;
  EXPECT_LT(text.find("type filter hook input priority -10; policy accept;"), flush);
  EXPECT_LT(flush, text.find("default-inbound"));
  EXPECT_TRUE(Has(text, "type filter hook output priority -10; policy accept;")) << text;
  // Conntrack first: established and related traffic is accepted before any rule.
  EXPECT_LT(text.find("ct state established,related accept"), text.find("default-inbound"));
  EXPECT_TRUE(Has(text, "iifname \"lo\" accept")) << text;
  EXPECT_EQ(RenderRemoval(), "table inet ward\ndelete table inet ward\n");
}

TEST(FirewallRuleset, AddressSetsAreFlushedRefilledAndTheUnusedOnesDeleted) {
  FirewallConfig two = Config(R"(
firewall:
  rules:
    - {id: a, direction: inbound, remote: [10.0.0.0/8], action: allow}
    - {id: b, direction: inbound, remote: ["2001:db8::/32"], action: deny}
)");
  std::vector<std::string> names;
  std::string text = RenderRuleset(two, {}, {"r0_4", "r5_4"}, &names);
  EXPECT_EQ(names, (std::vector<std::string>{"r0_4", "r1_6"}));
  EXPECT_TRUE(Has(text, "flush set inet ward r0_4\n")) << text;
  EXPECT_TRUE(Has(text, "flush set inet ward r1_6\n")) << text;
  EXPECT_TRUE(Has(text, "flush set inet ward blocked4\n")) << text;
  // r5_4 is no longer used: declared first (so the delete cannot fail), deleted after the flush.
  size_t declared = text.find("set r5_4 { type ipv4_addr; flags interval; auto-merge; }");
  size_t deleted = text.find("delete set inet ward r5_4\n");
  ASSERT_NE(declared, std::string::npos) << text;
  ASSERT_NE(deleted, std::string::npos) << text;
  EXPECT_LT(declared, deleted);
  EXPECT_LT(text.find("flush chain inet ward input"), deleted);
  EXPECT_FALSE(Has(text, "delete set inet ward r0_4")) << text;
}

TEST(FirewallRuleset, RulesBecomeMatchesInOrderWithTheirVerdicts) {
  std::string text = RenderRuleset(Config(R"(
firewall:
  default: {inbound: deny, outbound: allow}
  allow_loopback: false
  log_group: 9
  rules:
    - {id: ssh, direction: inbound, protocol: tcp, local_ports: [22, "8000-8080"],
       remote: [10.0.0.0/8, "2001:db8::/32"], interfaces: [eth0], action: allow}
    - {id: dns, direction: outbound, protocol: udp, remote_ports: 53, action: log}
    - {id: ping, direction: inbound, protocol: icmp, action: deny}
)"),
                                   {});
  EXPECT_FALSE(Has(text, "iifname \"lo\" accept")) << text;
  EXPECT_TRUE(Has(text,
                  "set r0_4 { type ipv4_addr; flags interval; auto-merge; elements = { "
                  "10.0.0.0/8 }; }"))
      << text;
  EXPECT_TRUE(Has(text,
                  "set r0_6 { type ipv6_addr; flags interval; auto-merge; elements = { "
                  "2001:db8::/32 }; }"))
      << text;
  EXPECT_TRUE(Has(text,
                  "iifname { \"eth0\" } ip saddr @r0_4 meta l4proto tcp tcp dport { 22, "
                  "8000-8080 } counter accept comment \"ssh\""))
      << text;
  EXPECT_TRUE(Has(text, "iifname { \"eth0\" } ip6 saddr @r0_6 meta l4proto tcp")) << text;
  EXPECT_TRUE(Has(text,
                  "meta l4proto udp udp dport { 53 } counter log prefix \"ward:l:dns\" "
                  "group 9 accept comment \"dns\""))
      << text;
  EXPECT_TRUE(Has(text,
                  "meta l4proto icmp counter log prefix \"ward:d:ping\" group 9 drop "
                  "comment \"ping\""))
      << text;
  EXPECT_TRUE(Has(text,
                  "counter log prefix \"ward:d:default-inbound\" group 9 drop comment "
                  "\"default-inbound\""))
      << text;
  EXPECT_TRUE(Has(text, "counter accept comment \"default-outbound\"")) << text;
  // Inbound rules in the input chain, outbound ones in output (the filled chains come last).
  size_t output = text.rfind("chain output");
  EXPECT_LT(text.find("comment \"ssh\""), output);
  EXPECT_GT(text.find("comment \"dns\""), output);
}

TEST(FirewallRuleset, DetectModeLogsWhatWouldBeDeniedAndDropsNothing) {
  std::string text = RenderRuleset(Config(R"(
firewall:
  mode: detect
  default: {inbound: deny}
  rules:
    - {id: no-telnet, direction: inbound, protocol: tcp, local_ports: 23, action: deny}
)"),
                                   {{*ParseCidr("192.0.2.1"), std::chrono::seconds(60)}});
  EXPECT_FALSE(Has(text, " drop")) << text;
  EXPECT_TRUE(Has(text, "log prefix \"ward:w:no-telnet\"")) << text;
  EXPECT_TRUE(Has(text, "log prefix \"ward:w:default-inbound\"")) << text;
}

TEST(FirewallRuleset, BlockedAddressesAreCarriedWithTheirTimeLeft) {
  FirewallConfig c = Config("firewall:\n  active_response: {max_blocked: 50}\n");
  std::string text = RenderRuleset(c, {{*ParseCidr("192.0.2.1"), std::chrono::seconds(90)},
                                       {*ParseCidr("2001:db8::5"), std::chrono::seconds(0)}});
  EXPECT_TRUE(Has(text,
                  "set blocked4 { type ipv4_addr; flags timeout; size 50; elements = { "
                  "192.0.2.1 timeout 90s }; }"))
      << text;
  EXPECT_TRUE(Has(text, "2001:db8::5 timeout 1s")) << text;  // at least a second
  EXPECT_TRUE(Has(text, "ip saddr @blocked4 counter drop")) << text;
  EXPECT_LT(text.find("@blocked4 counter drop"), text.find("ct state established"));
}

}  // namespace
}  // namespace ward::agent::firewall
