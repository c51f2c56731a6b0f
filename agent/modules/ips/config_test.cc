#include "agent/modules/ips/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "testing/temp_dir.h"

namespace ward::agent::ips {
namespace {

Result<IpsConfig> Parse(std::string_view yaml) {
  auto doc = ConfigNode::FromYaml(yaml, "policy.yaml");
  if (!doc) return doc.error();
  return ParseIpsConfig(*doc->Find("ips"));
}

TEST(IpsConfig, ParsesTheDocumentedExample) {
  auto c = Parse(R"(ips:
  mode: prevent
  ports: [80, 8080]
  capture: nfqueue
  fail: closed
  crs: { paranoia_level: 2, inbound_anomaly_threshold: 10, outbound_anomaly_threshold: 8 }
  rules: [ { id: 942100, mode: detect }, { id: 920350, enabled: false } ]
  exclusions: [ { id: 942430, target: "ARGS:comment", path: /blog/post } ]
  custom_rules: [/etc/ward/rules/*.conf]
)");
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->mode, Mode::kPrevent);
  EXPECT_EQ(c->ports, (std::vector<uint16_t>{80, 8080}));
  EXPECT_EQ(c->fail, FailMode::kClosed);
  EXPECT_EQ(c->crs.paranoia_level, 2);
  EXPECT_EQ(c->crs.inbound_anomaly_threshold, 10);
  ASSERT_EQ(c->rules.size(), 2u);
  EXPECT_EQ(c->RuleMode(942100), Mode::kDetect);
  EXPECT_EQ(c->RuleMode(941100), Mode::kPrevent);
  EXPECT_FALSE(c->rules[1].enabled);
  ASSERT_EQ(c->exclusions.size(), 1u);
  EXPECT_EQ(c->exclusions[0].target, "ARGS:comment");
  EXPECT_EQ(c->exclusions[0].path, "/blog/post");
}

TEST(IpsConfig, ExclusionPathPrefixIsReadAndMustBeCanonical) {
  auto c = Parse(R"(ips:
  exclusions:
    - { id: 942100, target: "ARGS:q", path_prefix: /api/ }
    - { id: 941100, target: "ARGS:body", path_prefix: /blog }
)");
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  ASSERT_EQ(c->exclusions.size(), 2u);
  EXPECT_EQ(c->exclusions[0].path_prefix, "/api/");
  EXPECT_TRUE(c->exclusions[0].path.empty());
  EXPECT_EQ(c->exclusions[1].path_prefix, "/blog");
  auto bad = Parse("ips: { exclusions: [ { id: 1, target: ARGS:a, path_prefix: /a/./b } ] }");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("normalised"), std::string::npos) << bad.error().ToString();
}

TEST(IpsConfig, ErrorsNameTheKey) {
  struct Case {
    const char* yaml;
    const char* key;
  } cases[] = {
      {"ips: { mode: block }", "ips.mode"},
      {"ips: { engine: seclang }", "ips.engine"},
      {"ips: { engine: [libmodsecurity] }", "ips.engine"},
      {"ips: { ports: [80, 70000] }", "ips.ports[1]"},
      {"ips: { capture: tap }", "ips.capture"},
      {"ips: { fail: maybe }", "ips.fail"},
      {"ips: { crs: { paranoia_level: 5 } }", "ips.crs.paranoia_level"},
      {"ips: { rules: [ { id: 942100, mode: loud } ] }", "ips.rules[0].mode"},
      {"ips: { rules: [ { mode: detect } ] }", "ips.rules[0]"},
      {"ips: { exclusions: [ { id: 1, target: \"ARGS:a\\\" ,deny\" } ] }",
       "ips.exclusions[0].target"},
      {"ips: { exclusions: [ { id: 1, target: ARGS:a, path: nope } ] }", "ips.exclusions[0].path"},
      {"ips: { exclusions: [ { id: 1, target: ARGS:a, path_prefix: api/ } ] }",
       "ips.exclusions[0].path_prefix"},
      {"ips: { exclusions: [ { id: 1, target: ARGS:a, path_prefix: /api/../admin } ] }",
       "ips.exclusions[0].path_prefix"},
      {"ips: { exclusions: [ { id: 1, target: ARGS:a, path_prefix: \"/api%2f\" } ] }",
       "ips.exclusions[0].path_prefix"},
      {"ips: { exclusions: [ { id: 1, target: ARGS:a, path_prefix: //api } ] }",
       "ips.exclusions[0].path_prefix"},
      {"ips: { exclusions: [ { id: 1, target: ARGS:a, path: /a, path_prefix: /a } ] }",
       "ips.exclusions[0].path_prefix"},
      {"ips: { custom_rules: [relative.conf] }", "ips.custom_rules[0]"},
      {"ips: { modes: detect }", "modes"},
      {"ips: { mode: prevent, capture: pcap }", "ips.mode"},
      {"ips: { threads: 3 }", "ips.threads"},
      {"ips: { threads: 32 }", "ips.threads"},
      {"ips: { threads: -1 }", "ips.threads"},
      {"ips: { capture: pcap, threads: 2 }", "ips.threads"},
      {"ips: { queue: 65534, threads: 4 }", "ips.queue"},
      {"ips: { block_status: 200 }", "ips.block_status"},
      {"ips: { block_status: 600 }", "ips.block_status"},
      {"ips: { block_status: forbidden }", "ips.block_status"},
  };
  for (const auto& c : cases) {
    auto r = Parse(c.yaml);
    ASSERT_FALSE(r.has_value()) << c.yaml;
    EXPECT_NE(r.error().message().find(c.key), std::string::npos)
        << c.yaml << " -> " << r.error().ToString();
  }
}

TEST(IpsConfig, EngineThreadsArePowersOfTwoOrOnePerCpu) {
  for (int n : {1, 2, 4, 16}) {
    auto c = Parse("ips: { threads: " + std::to_string(n) + " }");
    ASSERT_TRUE(c.has_value()) << c.error().ToString();
    EXPECT_EQ(c->EngineThreads(), n);
  }
  auto automatic = Parse("ips: { mode: prevent }");
  ASSERT_TRUE(automatic.has_value());
  EXPECT_EQ(automatic->threads, 0);
  int t = automatic->EngineThreads();
  EXPECT_GE(t, 1);
  EXPECT_LE(t, 8);
  EXPECT_EQ(t & (t - 1), 0) << t;
  EXPECT_LE(t, std::max<long>(::sysconf(_SC_NPROCESSORS_ONLN), 1));
  auto pcap = Parse("ips: { capture: pcap }");
  ASSERT_TRUE(pcap.has_value());
  EXPECT_EQ(pcap->EngineThreads(), 1);
}

// Ward's own engine is the default since the equality suite is green (issue #15).
TEST(IpsConfig, EngineIsWardByDefaultAndByName) {
  auto absent = Parse("ips: { mode: detect }");
  ASSERT_TRUE(absent.has_value()) << absent.error().ToString();
  EXPECT_EQ(absent->engine, WafEngineKind::kWard);
  auto named = Parse("ips: { engine: libmodsecurity }");
  ASSERT_TRUE(named.has_value()) << named.error().ToString();
  EXPECT_EQ(named->engine, WafEngineKind::kLibModSecurity);
  EXPECT_EQ(WafEngineName(named->engine), "libmodsecurity");
  auto ward = Parse("ips: { engine: ward }");
  ASSERT_TRUE(ward.has_value()) << ward.error().ToString();
  EXPECT_EQ(ward->engine, WafEngineKind::kWard);
  EXPECT_EQ(WafEngineName(ward->engine), "ward");
  EXPECT_FALSE(Parse("ips: { engine: mod_security2 }").has_value());
}

TEST(IpsConfig, BlockStatusIs403ByDefaultZeroMeansReset) {
  auto absent = Parse("ips: { mode: prevent }");
  ASSERT_TRUE(absent.has_value()) << absent.error().ToString();
  EXPECT_EQ(absent->block_status, 403);
  for (int v : {0, 400, 451, 599}) {
    auto c = Parse("ips: { block_status: " + std::to_string(v) + " }");
    ASSERT_TRUE(c.has_value()) << c.error().ToString();
    EXPECT_EQ(c->block_status, v);
  }
}

TEST(IpsConfig, DuplicateRuleOverrideIsAnError) {
  auto r = Parse("ips: { rules: [ { id: 1, enabled: false }, { id: 1, mode: detect } ] }");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("listed twice"), std::string::npos);
}

// Issue #18: the CRS and custom rule files may come from the manager's update bundles. One test
// per resolution path: managed:crs, managed:rules, either one not installed, no reference.
TEST(IpsConfig, ManagedCrsResolvesToTheInstalledCrsBundle) {
  ward::test::TempDir state;
  std::filesystem::create_directories(state.path() / "updates/crs/v3");
  std::filesystem::create_directory_symlink("v3", state.path() / "updates/crs/current");
  auto c = Parse("ips: { crs: { rules: managed:crs }, custom_rules: [/etc/ward/x.conf] }");
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->crs.rules_dir, "managed:crs");
  auto r = ResolveManaged(*c, state.path());
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->crs.rules_dir, (state.path() / "updates/crs/current").string());
  EXPECT_EQ(r->custom_rules, std::vector<std::string>{"/etc/ward/x.conf"});
}

TEST(IpsConfig, ManagedRulesResolvesToTheConfFilesOfTheInstalledRulesBundle) {
  ward::test::TempDir state;
  std::filesystem::create_directories(state.path() / "updates/rules/v1");
  std::filesystem::create_directory_symlink("v1", state.path() / "updates/rules/current");
  auto c = Parse("ips: { custom_rules: [managed:rules, /etc/ward/x.conf] }");
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  auto r = ResolveManaged(*c, state.path());
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->custom_rules,
            (std::vector<std::string>{(state.path() / "updates/rules/current/*.conf").string(),
                                      "/etc/ward/x.conf"}));
  EXPECT_EQ(r->crs.rules_dir, "") << "Debian's CRS stays the default";
}

TEST(IpsConfig, AManagedBundleNotInstalledIsAnErrorNamingTheReference) {
  ward::test::TempDir state;
  // "rules" installed, "crs" not: the CRS reference fails, naming key, reference and path.
  std::filesystem::create_directories(state.path() / "updates/rules/v1");
  std::filesystem::create_directory_symlink("v1", state.path() / "updates/rules/current");
  auto crs = ResolveManaged(*Parse("ips: { crs: { rules: managed:crs } }"), state.path());
  ASSERT_FALSE(crs.has_value());
  EXPECT_EQ(crs.error().code(), StatusCode::kNotFound);
  for (const char* part :
       {"ips.crs.rules", "managed:crs", "not installed", "updates/crs/current"}) {
    EXPECT_NE(crs.error().message().find(part), std::string::npos) << crs.error().message();
  }
  // A glob over a missing directory must not silently load no rule: an error too.
  ward::test::TempDir empty;
  auto rules = ResolveManaged(*Parse("ips: { custom_rules: [managed:rules] }"), empty.path());
  ASSERT_FALSE(rules.has_value());
  for (const char* part : {"ips.custom_rules", "managed:rules", "not installed"}) {
    EXPECT_NE(rules.error().message().find(part), std::string::npos) << rules.error().message();
  }
  // A dangling `current` (version directory gone) is not installed either.
  std::filesystem::remove_all(state.path() / "updates/rules/v1");
  EXPECT_FALSE(
      ResolveManaged(*Parse("ips: { custom_rules: [managed:rules] }"), state.path()).has_value());
}

TEST(IpsConfig, PathsOfOnesOwnNeedNoBundleAndOtherKindsAreRefused) {
  ward::test::TempDir empty;
  auto own = ResolveManaged(*Parse("ips: { crs: { rules: /srv/crs } }"), empty.path());
  ASSERT_TRUE(own.has_value());
  EXPECT_EQ(own->crs.rules_dir, "/srv/crs");
  auto none = ResolveManaged(*Parse("ips: {}"), empty.path());
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->crs.rules_dir, "");
  // Refused at parse time, naming the key: another kind, a relative directory.
  for (const char* bad : {"ips: { crs: { rules: managed:clamav } }", "ips: { crs: { rules: crs } }",
                          "ips: { custom_rules: [managed:crs] }"}) {
    auto e = Parse(bad);
    ASSERT_FALSE(e.has_value()) << bad;
    EXPECT_NE(e.error().message().find(
                  std::string(bad).find("custom") != std::string::npos ? "custom_rules" : "rules"),
              std::string::npos)
        << e.error().message();
  }
}

}  // namespace
}  // namespace ward::agent::ips
