#include "agent/modules/ips/waf.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/modules/ips/modsecurity_waf.h"
#include "agent/modules/ips/waf_config.h"
#include "testing/temp_dir.h"

namespace ward::agent::ips {
namespace {

const Endpoints kEp{"192.0.2.10", 40000, "192.0.2.1", 80};

RequestHead Get(std::string uri) {
  RequestHead h;
  h.method = "GET";
  h.uri = std::move(uri);
  h.headers = {{"Host", "www.example.com"}, {"User-Agent", "test"}, {"Accept", "*/*"}};
  return h;
}

std::shared_ptr<const WafRules> Load(const IpsConfig& c) {
  auto r = WafRules::Load(c);
  EXPECT_TRUE(r.has_value()) << r.error().ToString();
  return r.has_value() ? *r : nullptr;
}

bool Has(const WafTransaction& t, int64_t id) {
  for (const auto& m : t.matches()) {
    if (m.id == id) return true;
  }
  return false;
}

// Runs a GET through phases 1 and 2; returns the transaction.
std::unique_ptr<WafTransaction> RunGet(const WafRules& rules, std::string uri) {
  auto t = rules.Begin(kEp);
  if (!t->RequestHeaders(Get(std::move(uri)))) t->RequestBody();
  t->Finish();
  return t;
}

TEST(Waf, DetectModeReportsSqlInjectionWithoutBlocking) {
  IpsConfig c;
  auto rules = Load(c);
  ASSERT_TRUE(rules);
  EXPECT_GT(rules->rule_count(), 500u);
  auto t = RunGet(*rules, "/?id=1%27%20OR%20%271%27=%271");
  EXPECT_FALSE(t->blocked());
  EXPECT_TRUE(Has(*t, 942100)) << t->matches().size();
  EXPECT_GE(t->AnomalyScore(), 5);
  auto benign = RunGet(*rules, "/index.html?page=2");
  EXPECT_TRUE(benign->matches().empty()) << benign->matches()[0].line;
}

TEST(Waf, PreventModeBlocksAtTheAnomalyThreshold) {
  IpsConfig c;
  c.mode = Mode::kPrevent;
  auto rules = Load(c);
  ASSERT_TRUE(rules);
  auto t = RunGet(*rules, "/?q=%3Cscript%3Ealert(1)%3C/script%3E");
  EXPECT_TRUE(t->blocked());
  EXPECT_EQ(t->block_status(), 403);
  EXPECT_TRUE(Has(*t, 949110));
  EXPECT_EQ(t->intervention().rule_id, 949110);
  EXPECT_FALSE(RunGet(*rules, "/a/b?c=d")->blocked());
}

TEST(Waf, DisabledRuleDoesNotMatch) {
  IpsConfig c;
  c.rules.push_back({942100, false, std::nullopt});
  auto rules = Load(c);
  ASSERT_TRUE(rules);
  auto t = RunGet(*rules, "/?id=1%27%20OR%20%271%27=%271");
  EXPECT_FALSE(Has(*t, 942100));
}

TEST(Waf, DetectOnlyRuleInPreventModeIsReportedButDoesNotBlock) {
  IpsConfig c;
  c.mode = Mode::kPrevent;
  c.rules.push_back({941100, true, Mode::kDetect});
  c.rules.push_back({941110, true, Mode::kDetect});
  c.rules.push_back({941160, true, Mode::kDetect});
  auto rules = Load(c);
  ASSERT_TRUE(rules);
  EXPECT_TRUE(GenerateWafConfig(c)->ward_scoring);
  // Only XSS rules (all detect-only) match: reported, not blocked.
  auto t = RunGet(*rules, "/?q=%3Cscript%3Ealert(1)%3C/script%3E");
  EXPECT_TRUE(Has(*t, 941100));
  EXPECT_FALSE(t->blocked());
  // SQL injection (rules in prevent mode) is still blocked by Ward's own scoring.
  auto s = RunGet(*rules, "/?id=1%27%20OR%20%271%27=%271");
  EXPECT_TRUE(s->blocked());
  EXPECT_EQ(s->intervention().status, 403);
  EXPECT_EQ(s->intervention().rule_id, 0) << "Ward's scoring decided, not a rule";
}

TEST(Waf, ExclusionRemovesTheTargetOnThatPathOnly) {
  IpsConfig c;
  c.exclusions.push_back({942100, "ARGS:comment", "/blog/post", ""});
  auto rules = Load(c);
  ASSERT_TRUE(rules);
  EXPECT_FALSE(Has(*RunGet(*rules, "/blog/post?comment=1%27%20OR%20%271%27=%271"), 942100));
  EXPECT_TRUE(Has(*RunGet(*rules, "/other?comment=1%27%20OR%20%271%27=%271"), 942100));
  EXPECT_TRUE(Has(*RunGet(*rules, "/blog/post?title=1%27%20OR%20%271%27=%271"), 942100));
}

// A path-prefix exclusion, through both engines: the target is removed from the rule for every
// request whose normalised path is under the prefix, and for no spelling of a path outside it.
TEST(Waf, PathPrefixExclusionCoversThePrefixOnlyInBothEngines) {
  const std::string sqli = "1%27%20OR%20%271%27=%271";
  for (WafEngineKind engine : {WafEngineKind::kLibModSecurity, WafEngineKind::kWard}) {
    SCOPED_TRACE(std::string(WafEngineName(engine)));
    IpsConfig c;
    c.engine = engine;
    c.exclusions.push_back({942100, "ARGS:q", "", "/api/"});
    auto rules = Load(c);
    ASSERT_TRUE(rules);
    for (const std::string path : {"/api/search", "/api/v2/search", "//api/search",
                                   "/static/../api/search", "/%61pi/search"}) {
      EXPECT_FALSE(Has(*RunGet(*rules, path + "?q=" + sqli), 942100)) << path;
    }
    // Another parameter on the same path is still inspected.
    EXPECT_TRUE(Has(*RunGet(*rules, "/api/search?other=" + sqli), 942100));
    for (const std::string path :
         {"/search", "/apix/search", "/API/search", "/api/../search", "/api/..%2fsearch",
          "/api/%2e%2e/search", "/api/%252e%252e/search", "/api/..;/search", "/api/..%5csearch",
          "/api/%uff0e%uff0e/search"}) {
      EXPECT_TRUE(Has(*RunGet(*rules, path + "?q=" + sqli), 942100)) << path;
    }
  }
}

TEST(Waf, CustomRulesLoadAndABadFileIsNamedWithLibmodsecuritysMessage) {
  ward::test::TempDir dir;
  auto good = dir.path() / "good.conf";
  std::ofstream(good) << "SecRule ARGS:ward \"@streq canary\" "
                         "\"id:10001,phase:2,deny,status:403,log,msg:'canary'\"\n";
  IpsConfig c;
  c.engine = WafEngineKind::kLibModSecurity;  // its message is what the error shows
  c.mode = Mode::kPrevent;
  c.crs.enabled = false;
  c.custom_rules = {(dir.path() / "*.conf").string()};
  auto rules = Load(c);
  ASSERT_TRUE(rules);
  auto t = RunGet(*rules, "/?ward=canary");
  EXPECT_TRUE(t->blocked());
  EXPECT_TRUE(Has(*t, 10001));

  auto bad = dir.path() / "bad.conf";
  std::ofstream(bad) << "SecRule ARGS \"@rx x\" \"id:10002,phase:2,nosuchaction\"\n";
  auto r = WafRules::Load(c);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("bad.conf"), std::string::npos) << r.error().ToString();
  EXPECT_NE(r.error().message().find("libmodsecurity"), std::string::npos);

  c.custom_rules = {(dir.path() / "missing.conf").string()};
  auto m = WafRules::Load(c);
  ASSERT_FALSE(m.has_value());
  EXPECT_NE(m.error().message().find("ips.custom_rules"), std::string::npos);
}

TEST(Waf, Debian922110FalsePositiveOnCharsetUtf8PartsIsFixed) {
  IpsConfig c;
  auto rules = Load(c);
  ASSERT_TRUE(rules);
  auto t = rules->Begin(kEp);
  RequestHead h;
  h.method = "POST";
  h.uri = "/upload";
  std::string body =
      "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n"
      "Content-Type: application/json; charset=utf-8\r\n\r\n{\"x\":1}\r\n--b--\r\n";
  h.headers = {{"Host", "example.com"},
               {"User-Agent", "test"},
               {"Accept", "*/*"},
               {"Content-Type", "multipart/form-data; boundary=b"},
               {"Content-Length", std::to_string(body.size())}};
  t->RequestHeaders(h);
  t->AppendRequestBody(body);
  t->RequestBody();
  EXPECT_FALSE(Has(*t, 922110));
}

TEST(Waf, GeneratedConfigSetsParanoiaAndThresholds) {
  IpsConfig c;
  c.crs.paranoia_level = 3;
  c.crs.inbound_anomaly_threshold = 12;
  c.rules.push_back({920350, false, std::nullopt});
  auto text = GenerateWafConfig(c);
  ASSERT_TRUE(text.has_value());
  EXPECT_NE(text->before.find("SecRuleEngine DetectionOnly"), std::string::npos);
  EXPECT_NE(text->before.find("setvar:tx.paranoia_level=3"), std::string::npos);
  EXPECT_NE(text->before.find("setvar:tx.inbound_anomaly_score_threshold=12"), std::string::npos);
  EXPECT_NE(text->after.find("SecRuleRemoveById 920350"), std::string::npos);
}

// Rules that count requests per client IP in the IP collection and block the third.
IpsConfig CountingConfig(const ward::test::TempDir& dir) {
  std::ofstream(dir.path() / "count.conf")
      << "SecAction \"id:1000,phase:1,nolog,pass,initcol:ip=%{remote_addr}\"\n"
         "SecRule IP:hits \"@ge 2\" \"id:1001,phase:1,deny,status:403,log,msg:'third'\"\n"
         "SecAction \"id:1002,phase:1,nolog,pass,setvar:ip.hits=+1\"\n";
  IpsConfig c;
  c.engine = WafEngineKind::kLibModSecurity;  // its thread states (engine objects)
  c.mode = Mode::kPrevent;
  c.crs.enabled = false;
  c.custom_rules = {(dir.path() / "count.conf").string()};
  return c;
}

TEST(Waf, EachThreadContextHasItsOwnPersistentCollections) {
  ward::test::TempDir dir;
  auto rules = Load(CountingConfig(dir));
  ASSERT_TRUE(rules);
  auto third_blocked = [&] {
    auto state = WafEngineFor(WafEngineKind::kLibModSecurity).NewThreadState();
    bool first = RunGet(*rules, "/a")->blocked();
    bool second = RunGet(*rules, "/b")->blocked();
    bool third = RunGet(*rules, "/c")->blocked();
    return !first && !second && third;
  };
  // Two engine threads, one after the other: each counts from zero in its own IP collection.
  bool a = false, b = false;
  std::thread(([&] { a = third_blocked(); })).join();
  std::thread(([&] { b = third_blocked(); })).join();
  EXPECT_TRUE(a);
  EXPECT_TRUE(b);
  // Without a context, the rule set's shared collections (one thread).
  EXPECT_FALSE(RunGet(*rules, "/a")->blocked());
  EXPECT_FALSE(RunGet(*rules, "/b")->blocked());
  EXPECT_TRUE(RunGet(*rules, "/c")->blocked());
}

TEST(Waf, ThreadsWithTheirContextsShareOneRuleSetConcurrently) {
  ward::test::TempDir dir;
  IpsConfig c = CountingConfig(dir);
  c.crs.enabled = true;  // the CRS too: the whole rule set, read by both threads at once
  auto rules = Load(c);
  ASSERT_TRUE(rules);
  std::atomic<int> blocked{0}, sqli{0};
  auto work = [&] {
    auto state = WafEngineFor(WafEngineKind::kLibModSecurity).NewThreadState();
    for (int i = 0; i < 40; ++i) {
      auto t = RunGet(*rules, i % 2 ? "/?id=1%27%20OR%20%271%27=%271" : "/index.html?page=2");
      if (t->blocked()) ++blocked;
      if (Has(*t, 942100)) ++sqli;
    }
  };
  std::thread t1(work), t2(work);
  t1.join();
  t2.join();
  // Each thread counts in its own collection: its first request passes, the second (an SQL
  // injection) is blocked by the CRS, the 38 after by the counter.
  EXPECT_EQ(blocked.load(), 2 * 39);
  EXPECT_GT(sqli.load(), 0);
}

TEST(Waf, ParsesLogLines) {
  RuleMatch m = ParseLogLine(
      "ModSecurity: Warning. Matched \"Operator `Rx' ...\" against variable `ARGS:id' (Value: "
      "`1') [file \"x.conf\"] [line \"1\"] [id \"942100\"] [rev \"\"] [msg \"SQL Injection\"] "
      "[data \"Matched Data: \\\"q\\\" found\"] [severity \"2\"] [ver \"OWASP_CRS/3.3.4\"]");
  EXPECT_EQ(m.id, 942100);
  EXPECT_EQ(m.message, "SQL Injection");
  EXPECT_EQ(m.data, "Matched Data: \"q\" found");
  EXPECT_EQ(m.severity, 2);
  EXPECT_EQ(m.variable, "ARGS:id");
  EXPECT_EQ(CrsScore(m), 5);
}

TEST(Waf, InterventionNamesTheDisruptiveRuleAndItsStatus) {
  ward::test::TempDir dir;
  std::ofstream(dir.path() / "teapot.conf")
      << "SecRule ARGS:ward \"@streq canary\" "
         "\"id:10001,phase:1,deny,status:418,log,msg:'canary'\"\n";
  IpsConfig c;
  c.mode = Mode::kPrevent;
  c.crs.enabled = false;
  c.custom_rules = {(dir.path() / "teapot.conf").string()};
  auto rules = Load(c);
  ASSERT_TRUE(rules);
  auto t = rules->Begin(kEp);
  EXPECT_FALSE(t->intervention().disruptive);
  EXPECT_TRUE(t->RequestHeaders(Get("/?ward=canary")));
  const Intervention& in = t->intervention();
  EXPECT_TRUE(in.disruptive);
  EXPECT_EQ(in.status, 418);
  EXPECT_EQ(in.rule_id, 10001);
  EXPECT_TRUE(t->request_seen());
  EXPECT_EQ(t->request().uri, "/?ward=canary");
  t->Finish();
  // Detect mode: the same rule matches, nothing disrupts.
  c.mode = Mode::kDetect;
  auto detect = Load(c);
  ASSERT_TRUE(detect);
  auto d = RunGet(*detect, "/?ward=canary");
  EXPECT_TRUE(Has(*d, 10001));
  EXPECT_FALSE(d->intervention().disruptive);
  EXPECT_EQ(d->intervention().status, 0);
}

TEST(Waf, ResponsePhasesReportTheOutboundAnomalyScore) {
  IpsConfig c;
  auto rules = Load(c);
  ASSERT_TRUE(rules);
  auto t = rules->Begin(kEp);
  ASSERT_FALSE(t->RequestHeaders(Get("/item?id=2")));
  ASSERT_FALSE(t->RequestBody());
  ResponseHead head;
  head.status = 200;
  head.headers = {{"Content-Type", "text/html"}};
  t->Response(head,
              "<html><body>You have an error in your SQL syntax; check the manual that "
              "corresponds to your MySQL server version for the right syntax to use near "
              "'' at line 1</body></html>");
  t->Finish();
  EXPECT_EQ(t->anomaly_scores().inbound, 0) << t->matches()[0].line;
  EXPECT_GE(t->anomaly_scores().outbound, 4);
  bool outbound_rule = false;
  for (const auto& m : t->matches()) outbound_rule |= m.id / 1000 == 951;
  EXPECT_TRUE(outbound_rule) << t->matches().size();
}

TEST(Waf, TheLibmodsecurityEngineIsTheOneNamedByThePolicy) {
  const WafEngine& e = WafEngineFor(WafEngineKind::kLibModSecurity);
  EXPECT_EQ(e.kind(), WafEngineKind::kLibModSecurity);
  EXPECT_NE(dynamic_cast<const ModSecurityEngine*>(&e), nullptr);
  IpsConfig c;
  c.engine = WafEngineKind::kLibModSecurity;
  auto direct = e.Load(c, nullptr);
  ASSERT_TRUE(direct.has_value()) << direct.error().ToString();
  auto through_policy = WafRules::Load(c);
  ASSERT_TRUE(through_policy.has_value()) << through_policy.error().ToString();
  EXPECT_EQ((*direct)->rule_count(), (*through_policy)->rule_count());
}

TEST(Waf, RequestBodyIsTakenUpToTheLimit) {
  uint64_t taken = 0;
  EXPECT_EQ(WithinBodyLimit("abcd", 6, &taken), "abcd");
  EXPECT_EQ(WithinBodyLimit("efgh", 6, &taken), "ef");
  EXPECT_EQ(taken, 6u);
  EXPECT_EQ(WithinBodyLimit("ijkl", 6, &taken), std::nullopt);
  EXPECT_EQ(WithinBodyLimit("", 6, &taken), std::nullopt);
  uint64_t none = 0;
  EXPECT_EQ(WithinBodyLimit("", 6, &none), "");
}

TEST(Waf, DecideInterventionOnlyInPreventMode) {
  IpsConfig config;
  const Intervention engine{true, 406, 942100};
  RuleMatch critical;
  critical.id = 942100;
  critical.severity = 2;  // CrsScore 5
  const std::vector<RuleMatch> matches = {critical};
  config.mode = Mode::kDetect;
  EXPECT_FALSE(DecideIntervention(config, true, engine, matches).disruptive);
  config.mode = Mode::kPrevent;
  const Intervention by_engine = DecideIntervention(config, true, engine, matches);
  EXPECT_TRUE(by_engine.disruptive);
  EXPECT_EQ(by_engine.status, 406);
  EXPECT_EQ(by_engine.rule_id, 942100);
  config.crs.inbound_anomaly_threshold = 5;
  EXPECT_FALSE(DecideIntervention(config, false, Intervention{}, matches).disruptive);
  const Intervention by_score = DecideIntervention(config, true, Intervention{}, matches);
  EXPECT_TRUE(by_score.disruptive);
  EXPECT_EQ(by_score.status, 403);
  EXPECT_EQ(by_score.rule_id, 0);
  config.crs.inbound_anomaly_threshold = 6;
  EXPECT_FALSE(DecideIntervention(config, true, Intervention{}, matches).disruptive);
}

// Issue #18: "managed:crs" and "managed:rules" load the files of the update bundles the agent
// holds (<state>/updates/<kind>/current, as agent/updates installs them): a CRS bundle without
// the SQL injection rules detects no SQL injection although Debian's CRS would, the rules bundle's
// canary rule fires, and a new version behind `current` is what the next load uses.
TEST(Waf, ManagedCrsAndRulesComeFromTheInstalledUpdateBundles) {
  namespace fs = std::filesystem;
  ward::test::TempDir state;
  const fs::path crs = state.path() / "updates" / "crs";
  const fs::path rules = state.path() / "updates" / "rules";
  fs::create_directories(crs / "v1");
  fs::create_directories(rules / "v1");
  size_t copied = 0;
  for (const auto& e : fs::directory_iterator("/usr/share/modsecurity-crs/rules")) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("REQUEST-942-")) continue;  // no SQL injection rules in this bundle
    if (e.path().extension() != ".conf" && e.path().extension() != ".data") continue;
    fs::copy_file(e.path(), crs / "v1" / name);
    ++copied;
  }
  ASSERT_GT(copied, 20u);
  std::ofstream(rules / "v1" / "canary.conf") << "SecRule ARGS:ward \"@streq canary\" "
                                                 "\"id:10001,phase:2,pass,log,msg:'canary'\"\n";
  std::ofstream(rules / "v1" / "notes.yaml") << "not: a rule file\n";  // not *.conf: not loaded
  fs::create_directory_symlink("v1", crs / "current");
  fs::create_directory_symlink("v1", rules / "current");

  for (WafEngineKind engine : {WafEngineKind::kWard, WafEngineKind::kLibModSecurity}) {
    SCOPED_TRACE(std::string(WafEngineName(engine)));
    IpsConfig c;
    c.engine = engine;
    c.crs.rules_dir = "managed:crs";
    c.custom_rules = {"managed:rules"};
    auto resolved = ResolveManaged(c, state.path());
    ASSERT_TRUE(resolved) << resolved.error().ToString();
    auto loaded = Load(*resolved);
    ASSERT_TRUE(loaded);
    EXPECT_GT(loaded->rule_count(), 300u);
    auto sqli = RunGet(*loaded, "/?id=1%27%20OR%20%271%27=%271&ward=canary");
    EXPECT_FALSE(Has(*sqli, 942100)) << "the bundle has no 942 rules";
    EXPECT_TRUE(Has(*sqli, 10001));
    auto xss = RunGet(*loaded, "/?q=%3Cscript%3Ealert(1)%3C/script%3E");
    EXPECT_TRUE(Has(*xss, 941100)) << "the bundle's XSS rules are loaded";
  }

  // Version 2 of the CRS bundle (now with 942) becomes `current`: the next load detects SQLi.
  fs::create_directories(crs / "v2");
  for (const auto& e : fs::directory_iterator(crs / "v1")) {
    fs::copy_file(e.path(), crs / "v2" / e.path().filename());
  }
  for (const auto& e : fs::directory_iterator("/usr/share/modsecurity-crs/rules")) {
    if (e.path().filename().string().starts_with("REQUEST-942-")) {
      fs::copy_file(e.path(), crs / "v2" / e.path().filename());
    }
  }
  fs::create_directory_symlink("v2", crs / "current.new");
  fs::rename(crs / "current.new", crs / "current");
  IpsConfig c;
  c.crs.rules_dir = "managed:crs";
  auto resolved = ResolveManaged(c, state.path());
  ASSERT_TRUE(resolved) << resolved.error().ToString();
  auto v2 = Load(*resolved);
  ASSERT_TRUE(v2);
  EXPECT_TRUE(Has(*RunGet(*v2, "/?id=1%27%20OR%20%271%27=%271"), 942100));

  // A CRS bundle with no rule file in it: the load fails naming the key and the path (the
  // policy in force stays, as for any failed Configure).
  fs::create_directories(crs / "v3");
  std::ofstream(crs / "v3" / "README.data") << "no rules\n";
  fs::create_directory_symlink("v3", crs / "current.new");
  fs::rename(crs / "current.new", crs / "current");
  auto resolved3 = ResolveManaged(c, state.path());
  ASSERT_TRUE(resolved3);
  auto empty_bundle = WafRules::Load(*resolved3);
  ASSERT_FALSE(empty_bundle.has_value());
  EXPECT_NE(empty_bundle.error().message().find("ips.crs.rules"), std::string::npos)
      << empty_bundle.error().ToString();
  EXPECT_NE(empty_bundle.error().message().find("no .conf rule file"), std::string::npos);
}

}  // namespace
}  // namespace ward::agent::ips
