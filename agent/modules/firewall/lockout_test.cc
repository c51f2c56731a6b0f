#include "agent/modules/firewall/lockout.h"

#include <gtest/gtest.h>

#include <fstream>

#include "testing/temp_dir.h"

namespace ward::agent::firewall {
namespace {

FirewallConfig Config(const std::string& yaml) {
  auto doc = ConfigNode::FromYaml(yaml, "policy.yaml");
  EXPECT_TRUE(doc.has_value());
  auto c = ParseFirewallConfig(*doc->Find("firewall"));
  EXPECT_TRUE(c.has_value()) << c.error().ToString();
  return *c;
}

Endpoint Manager(const char* ip, uint16_t port) {
  Endpoint e;
  e.what = "the manager channel";
  e.direction = Direction::kOutbound;
  e.remote = *ParseCidr(ip);
  e.remote_port = port;
  return e;
}

Endpoint Ssh(const char* ip) {
  Endpoint e;
  e.what = std::string("the SSH session from ") + ip;
  e.direction = Direction::kInbound;
  e.remote = *ParseCidr(ip);
  e.local_port = 22;
  e.remote_port = 50000;
  return e;
}

TEST(FirewallLockout, RefusesARuleThatCutsTheManagerNamingIt) {
  FirewallConfig c = Config(R"(
firewall:
  rules:
    - {id: web-out, direction: outbound, protocol: tcp, remote_ports: [80, 443], action: allow}
    - {id: no-8443, direction: outbound, protocol: tcp, remote_ports: "8000-9000", action: deny}
)");
  Status s = CheckLockout(c, {Manager("192.0.2.10", 8443)});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("rule no-8443 would cut the manager channel (tcp to 192.0.2.10 "
                             "port 8443)"),
            std::string::npos)
      << s.ToString();
  // An allow before the deny keeps it.
  EXPECT_TRUE(CheckLockout(c, {Manager("192.0.2.10", 443)}).ok());
}

TEST(FirewallLockout, RefusesADefaultDenyThatCutsAnSshSession) {
  FirewallConfig c = Config(R"(
firewall:
  default: {inbound: deny}
  rules:
    - {id: ssh-admins, direction: inbound, protocol: tcp, local_ports: 22,
       remote: [10.0.0.0/8], action: allow}
)");
  EXPECT_TRUE(CheckLockout(c, {Ssh("10.1.2.3")}).ok());
  Status s = CheckLockout(c, {Ssh("10.1.2.3"), Ssh("198.51.100.4")});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("the default for inbound traffic (deny) would cut the SSH session "
                             "from 198.51.100.4"),
            std::string::npos)
      << s.ToString();
}

TEST(FirewallLockout, DetectModeAndUnknownInterfacesRefuseNothing) {
  FirewallConfig detect = Config("firewall:\n  mode: detect\n  default: {outbound: deny}\n");
  EXPECT_TRUE(CheckLockout(detect, {Manager("192.0.2.10", 443)}).ok());
  FirewallConfig iface = Config(R"(
firewall:
  rules:
    - {id: eth1-off, direction: outbound, interfaces: [eth1], action: deny}
)");
  // The route's interface is not known: left to the commit-confirmed timer.
  EXPECT_TRUE(CheckLockout(iface, {Manager("192.0.2.10", 443)}).ok());
  Endpoint known = Manager("192.0.2.10", 443);
  known.interface = "eth1";
  EXPECT_FALSE(CheckLockout(iface, {known}).ok());
}

TEST(FirewallLockout, ReadsEstablishedSshSessionsFromProcNetTcp) {
  test::TempDir dir;
  {
    std::ofstream tcp(dir.path() / "tcp");
    tcp << "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
           "timeout inode\n"
        // 10.0.2.15:22 <- 10.0.2.2:54321, established
        << "   0: 0F02000A:0016 0202000A:D431 01 00000000:00000000 00:00000000 00000000     0 "
           "0 1234 1 0 20 4 30 10 -1\n"
        // listening socket on 22
        << "   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0 "
           "0 1200 1 0 100 0 0 10 0\n"
        // established on another port
        << "   2: 0F02000A:0050 0202000A:D432 01 00000000:00000000 00:00000000 00000000     0 "
           "0 1235 1 0 20 4 30 10 -1\n";
    std::ofstream tcp6(dir.path() / "tcp6");
    tcp6 << "  sl  local_address remote_address st\n"
         // ::ffff:10.0.2.15:22 <- ::ffff:192.0.2.9
         << "   0: 0000000000000000FFFF00000F02000A:0016 0000000000000000FFFF0000090200C0:C000 "
            "01 00000000:00000000 00:00000000 00000000 0 0 99 1\n"
         // 2001:db8::1 (words in host order)
         << "   1: 00000000000000000000000001000000:0016 B80D0120000000000000000001000000:C001 "
            "01 00000000:00000000 00:00000000 00000000 0 0 98 1\n";
  }
  auto sessions = InboundSessions(dir.path().string(), 22);
  ASSERT_EQ(sessions.size(), 3u);
  EXPECT_EQ(sessions[0].remote.ToString(), "10.0.2.2/32");
  EXPECT_EQ(sessions[0].remote_port, 54321);
  EXPECT_EQ(sessions[0].what, "the SSH session from 10.0.2.2");
  EXPECT_EQ(sessions[1].remote.ToString(), "192.0.2.9/32");  // IPv4-mapped
  EXPECT_EQ(sessions[2].remote.ToString(), "2001:db8::1/128");
}

TEST(FirewallLockout, ManagerEndpointsComeFromTheUrl) {
  auto e = ManagerEndpoints("https://127.0.0.1:8443/agent/v1");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].remote.ToString(), "127.0.0.1/32");
  EXPECT_EQ(e[0].remote_port, 8443);
  EXPECT_EQ(e[0].interface, "lo");
  e = ManagerEndpoints("https://[2001:db8::7]/");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].remote_port, 443);
  EXPECT_EQ(e[0].remote.ToString(), "2001:db8::7/128");
  e = ManagerEndpoints("http://192.0.2.1");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].remote_port, 80);
  EXPECT_TRUE(ManagerEndpoints("").empty());
  EXPECT_TRUE(ManagerEndpoints("https://192.0.2.1:99999").empty());
}

}  // namespace
}  // namespace ward::agent::firewall
