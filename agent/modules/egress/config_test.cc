#include "agent/modules/egress/config.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace ward::agent::egress {
namespace {

Result<EgressConfig> Parse(std::string_view yaml) {
  auto doc = ConfigNode::FromYaml(yaml, "policy.yaml");
  EXPECT_TRUE(doc.has_value());
  return ParseEgressConfig(*doc->Find("egress"));
}

TEST(EgressConfig, ReadsEveryKey) {
  auto c = Parse(R"(
egress:
  mode: prevent
  fail: closed
  queue: 77
  security_level: high
  http_ports: [80, 8080]
  tls_ports: 443
  dns: false
  block_page: false
  lists:
    - {name: urlhaus, format: urlhaus_csv, path: /var/lib/ward/feeds/urlhaus.csv,
       category: malware, risk: dangerous}
    - {name: office, format: custom, path: /etc/ward/allow.txt, allow: true}
  block: [bad.example, "http://x.example/dl/", 203.0.113.0/24]
  allow: good.bad.example
)");
  ASSERT_TRUE(c.has_value()) << c.error().message();
  EXPECT_EQ(c->mode, Mode::kPrevent);
  EXPECT_FALSE(c->fail_open);
  EXPECT_EQ(c->queue, 77);
  EXPECT_EQ(c->security_level, SecurityLevel::kHigh);
  EXPECT_EQ(c->http_ports, (std::vector<uint16_t>{80, 8080}));
  EXPECT_EQ(c->tls_ports, (std::vector<uint16_t>{443}));
  EXPECT_FALSE(c->dns);
  EXPECT_FALSE(c->block_page);
  ASSERT_EQ(c->lists.size(), 2u);
  EXPECT_EQ(c->lists[0].format, FeedFormat::kUrlhausCsv);
  EXPECT_EQ(c->lists[0].category, "malware");
  EXPECT_TRUE(c->lists[1].allow);
  EXPECT_EQ(c->block.size(), 3u);
  EXPECT_EQ(c->allow, (std::vector<std::string>{"good.bad.example"}));
}

TEST(EgressConfig, ReadsServices) {
  auto c = Parse(R"(
egress:
  services:
    - {id: web, unit: nginx.service, mode: learn, learn_for: 30m}
    - {id: fetch, exe: /usr/bin/curl, mode: prevent, allow: [repo.example, 10.0.0.0/8]}
)");
  ASSERT_TRUE(c.has_value()) << c.error().message();
  ASSERT_EQ(c->services.size(), 2u);
  EXPECT_EQ(c->services[0].unit, "nginx.service");
  EXPECT_EQ(c->services[0].mode, ServiceMode::kLearn);
  EXPECT_EQ(c->services[0].learn_for, std::chrono::minutes(30));
  EXPECT_EQ(c->services[1].exe, "/usr/bin/curl");
  EXPECT_EQ(c->services[1].mode, ServiceMode::kPrevent);
  EXPECT_EQ(c->services[1].allow.size(), 2u);
  auto both = Parse("egress:\n  services: [{id: x, unit: a.service, exe: /bin/a}]\n");
  ASSERT_FALSE(both.has_value());
  EXPECT_NE(both.error().message().find("exactly one of unit and exe"), std::string::npos);
  auto twice = Parse("egress:\n  services: [{id: x, exe: /bin/a}, {id: x, exe: /bin/b}]\n");
  ASSERT_FALSE(twice.has_value());
  auto bad = Parse("egress:\n  services: [{id: x, exe: /bin/a, allow: [\"no thing\"]}]\n");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("egress.services[0].allow[0]"), std::string::npos)
      << bad.error().message();
}

TEST(EgressConfig, ServiceEntriesMayCarryPortsWithClearErrors) {
  auto ok = Parse(R"(egress:
  services:
    - {id: db, exe: /usr/bin/app, mode: prevent,
       allow: ["api.example.com:443", "10.0.0.0/8:5432", "10.0.0.0/8:5000-5999",
               "[2001:db8::/32]:443", "2001:db8::/32", "https://repo.example:8443/x/"]}
)");
  ASSERT_TRUE(ok.has_value()) << ok.error().ToString();
  EXPECT_EQ(ok->services[0].allow.size(), 6u);
  const std::pair<std::string, std::string> bad[] = {
      {"\"api.example.com:0\"", "is not a port"},
      {"\"api.example.com:65536\"", "is not a port"},
      {"\"api.example.com:\"", "is not a port"},
      {"\"api.example.com:https\"", "is not a port"},
      {"\"10.0.0.0/8:6000-5000\"", "the port range 6000-5000 is empty"},
      {"\"[2001:db8::/32]443\"", "expected ':'"},
      {"\"not a name:443\"", "neither a domain name"},
  };
  for (const auto& [entry, message] : bad) {
    auto r =
        Parse(fmt::format("egress:\n  services: [{{id: x, exe: /bin/a, allow: [{}]}}]\n", entry));
    ASSERT_FALSE(r.has_value()) << entry;
    EXPECT_NE(r.error().message().find("egress.services[0].allow[0]"), std::string::npos)
        << r.error().message();
    EXPECT_NE(r.error().message().find(message), std::string::npos) << r.error().message();
  }
  // The policy's own lists take no ports: the firewall filters by port.
  auto global = Parse("egress:\n  allow: [\"api.example.com:443\"]\n");
  ASSERT_FALSE(global.has_value());
  EXPECT_NE(global.error().message().find("egress.allow[0]"), std::string::npos);
  EXPECT_NE(global.error().message().find("service's allow-list entries only"), std::string::npos);
}

TEST(EgressConfig, DefaultsAreDetectAndFailOpen) {
  auto c = Parse("egress: {}\n");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->mode, Mode::kDetect);
  EXPECT_TRUE(c->fail_open);
  EXPECT_EQ(c->security_level, SecurityLevel::kMedium);
}

TEST(EgressConfig, ErrorsNameTheKey) {
  auto bad_entry = Parse("egress:\n  block: [ok.example, \"not a domain\"]\n");
  ASSERT_FALSE(bad_entry.has_value());
  EXPECT_NE(bad_entry.error().message().find("egress.block[1]"), std::string::npos)
      << bad_entry.error().message();
  auto bad_format = Parse("egress:\n  lists: [{name: x, format: csv, path: /x}]\n");
  ASSERT_FALSE(bad_format.has_value());
  EXPECT_NE(bad_format.error().message().find("format"), std::string::npos);
  auto relative = Parse("egress:\n  lists: [{name: x, format: hosts, path: x}]\n");
  ASSERT_FALSE(relative.has_value());
  auto both = Parse("egress:\n  http_ports: [443]\n");
  ASSERT_FALSE(both.has_value());
  EXPECT_NE(both.error().message().find("443"), std::string::npos);
  auto unknown = Parse("egress:\n  modes: detect\n");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_NE(unknown.error().message().find("modes"), std::string::npos);
}

TEST(EgressConfig, AttributionIsAutoOrSocket) {
  auto defaults = Parse("egress: {}\n");
  ASSERT_TRUE(defaults.has_value());
  EXPECT_TRUE(defaults->ebpf_attribution) << "eBPF where the kernel allows it, by default";
  auto socket = Parse("egress:\n  attribution: socket\n");
  ASSERT_TRUE(socket.has_value()) << socket.error().ToString();
  EXPECT_FALSE(socket->ebpf_attribution);
  auto auto_ = Parse("egress:\n  attribution: auto\n");
  ASSERT_TRUE(auto_.has_value());
  EXPECT_TRUE(auto_->ebpf_attribution);
  auto bad = Parse("egress:\n  attribution: ebpf-only\n");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("egress.attribution"), std::string::npos)
      << bad.error().message();
  EXPECT_NE(bad.error().message().find("expected auto or socket"), std::string::npos);
}

}  // namespace
}  // namespace ward::agent::egress
