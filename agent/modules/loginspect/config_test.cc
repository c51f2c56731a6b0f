#include "agent/modules/loginspect/config.h"

#include <gtest/gtest.h>

namespace ward::agent::loginspect {
namespace {

Result<LoginspectConfig> Parse(const std::string& yaml) {
  auto node = ConfigNode::FromYaml(yaml, "policy.yaml");
  if (!node) return node.error();
  const ConfigNode* s = node->Find("loginspect");
  return ParseLoginspectConfig(s ? *s : *node);
}

TEST(LoginspectConfig, ReadsFilesJournaldAndBounds) {
  auto c = Parse(R"(loginspect:
  rules: [/etc/ward/rules]
  rule_exclude: [0215-policy_rules.xml]
  files:
    - /var/log/auth.log
    - {path: "/var/log/app/*.log", format: multiline, multiline_start: '^\d{4}-', max_line: 4k}
  journald: {units: [ssh.service], identifiers: [sudo]}
  poll_interval: 250ms
  max_backlog: 10M
)");
  ASSERT_TRUE(c.has_value()) << c.error().message();
  EXPECT_TRUE(c->enabled);
  EXPECT_TRUE(c->default_ruleset);
  ASSERT_EQ(c->files.size(), 2u);
  EXPECT_EQ(c->files[0].format, LogFormat::kSyslog);
  EXPECT_EQ(c->files[0].max_line, 64u * 1024);
  EXPECT_EQ(c->files[1].format, LogFormat::kMultiline);
  EXPECT_EQ(c->files[1].multiline_start, "^\\d{4}-");
  EXPECT_EQ(c->files[1].max_line, 4096u);
  EXPECT_TRUE(c->journald.enabled);
  EXPECT_EQ(c->journald.units, std::vector<std::string>{"ssh.service"});
  EXPECT_EQ(c->poll_interval, std::chrono::milliseconds(250));
  EXPECT_EQ(c->max_backlog, 10u * 1024 * 1024);
  EXPECT_EQ(c->rule_excludes, std::vector<std::string>{"0215-policy_rules.xml"});
}

TEST(LoginspectConfig, ErrorsNameTheKeyAndLine) {
  auto bad_format = Parse("loginspect:\n  files:\n    - {path: /var/log/x, format: xml}\n");
  ASSERT_FALSE(bad_format.has_value());
  EXPECT_NE(bad_format.error().message().find("policy.yaml:3"), std::string::npos)
      << bad_format.error().message();
  EXPECT_NE(bad_format.error().message().find("loginspect.files[0].format"), std::string::npos);

  auto no_start = Parse("loginspect:\n  files:\n    - {path: /var/log/x, format: multiline}\n");
  ASSERT_FALSE(no_start.has_value());
  EXPECT_NE(no_start.error().message().find("multiline_start"), std::string::npos);

  auto bad_re =
      Parse("loginspect:\n  files:\n    - {path: /x, format: multiline, multiline_start: '(a'}\n");
  ASSERT_FALSE(bad_re.has_value());
  EXPECT_NE(bad_re.error().message().find("PCRE2"), std::string::npos);

  EXPECT_FALSE(Parse("loginspect:\n  files: [relative.log]\n").has_value());
  EXPECT_FALSE(Parse("loginspect:\n  files: ['/var/*/x.log']\n").has_value());
  EXPECT_FALSE(Parse("loginspect:\n  unknown: 1\n").has_value());
  EXPECT_FALSE(Parse("loginspect:\n  max_backlog: 10k\n").has_value());
  EXPECT_FALSE(Parse("loginspect:\n  files: [/x, /x]\n").has_value());

  auto relative_geoip = Parse("loginspect:\n  geoip_db: GeoLite2-City.mmdb\n");
  ASSERT_FALSE(relative_geoip.has_value());
  EXPECT_NE(relative_geoip.error().message().find("geoip_db"), std::string::npos)
      << relative_geoip.error().message();
  auto geoip = Parse("loginspect:\n  geoip_db: /var/lib/GeoIP/GeoLite2-City.mmdb\n");
  ASSERT_TRUE(geoip.has_value()) << geoip.error().ToString();
  EXPECT_EQ(geoip->geoip_db, "/var/lib/GeoIP/GeoLite2-City.mmdb");
}

TEST(LoginspectConfig, CompatIsWazuhOrOssec) {
  auto def = Parse("loginspect:\n  enabled: true\n");
  ASSERT_TRUE(def.has_value()) << def.error().ToString();
  EXPECT_EQ(def->compat, "wazuh");
  auto ossec = Parse("loginspect:\n  compat: ossec\n");
  ASSERT_TRUE(ossec.has_value()) << ossec.error().ToString();
  EXPECT_EQ(ossec->compat, "ossec");
  auto bad = Parse("loginspect:\n  compat: snort\n");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("compat"), std::string::npos) << bad.error().message();
}

}  // namespace
}  // namespace ward::agent::loginspect
