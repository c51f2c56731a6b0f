// The REST API behind issue 14's remaining console features (session 6, helper c1) over real
// HTTPS: a policy assigned to an activation token (PATCH /activation-tokens/{id}: roles, audit,
// tenant isolation), alerts that name the user who triaged them, the tuning preview of a
// path-prefix exclusion, and TOTP secrets sealed at rest with the manager's key. docs/api.md.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include "manager/auth/totp.h"
#include "testing/shell.h"
#include "tests/manager_harness.h"

namespace ward::test {
namespace {

struct Browser {
  std::string cookie;
  std::string csrf;
  httplib::Headers Headers() const { return {{"Cookie", cookie}, {"X-Ward-CSRF", csrf}}; }
};

Browser SignIn(ManagerHarness& m, const std::string& user, const std::string& password) {
  Json body = {{"username", user}, {"password", password}};
  Answer a = Send(m, "POST", "/api/v1/session", {}, body.dump());
  EXPECT_EQ(a.status, 200) << a.raw;
  Browser b;
  auto it = a.headers.find("Set-Cookie");
  if (it == a.headers.end()) return b;
  b.cookie = it->second.substr(0, it->second.find(';'));
  b.csrf = a.body.value("csrf_token", "");
  return b;
}

// The newest audit entries of the caller's tenant for `path`, newest first.
std::vector<Json> AuditFor(ManagerHarness& m, const std::string& key, const std::string& path) {
  Reply r = m.Get("/api/v1/audit?limit=100&order=desc&path=" + path, key);
  EXPECT_EQ(r.status, 200) << r.raw;
  return {r.body["items"].begin(), r.body["items"].end()};
}

TEST(ManagerConsoleApi, ActivationTokenPolicyIsAssignedByWritersAuditedAndTenantScoped) {
  ManagerHarness m;
  auto [a_id, a_key] = m.NewTenant("tenant-a");
  auto [b_id, b_key] = m.NewTenant("tenant-b");
  std::string web = m.NewPolicy(a_key, "web");
  std::string db = m.NewPolicy(a_key, "db");
  std::string b_policy = m.NewPolicy(b_key, "b-policy");
  Reply r = m.Post("/api/v1/activation-tokens", a_key, {{"name", "asg"}, {"policy_id", web}});
  ASSERT_EQ(r.status, 201) << r.raw;
  std::string tok = r.body["id"];
  std::string secret = r.body["token"];
  const std::string path = "/api/v1/activation-tokens/" + tok;

  // An operator assigns another policy; the token answers with it and the audit log has both.
  std::string op = m.NewKey(a_key, "operator");
  r = m.Patch(path, op, {{"policy_id", db}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["policy_id"], db);
  EXPECT_EQ(r.body.count("token"), 0u) << "the secret is never shown again";
  EXPECT_EQ(m.Get(path, a_key).body["policy_id"], db);
  std::vector<Json> audit = AuditFor(m, a_key, path);
  ASSERT_FALSE(audit.empty());
  EXPECT_EQ(audit[0]["method"], "PATCH");
  EXPECT_EQ(audit[0]["status"], 200);
  EXPECT_EQ(audit[0]["detail"]["object_id"], tok);
  EXPECT_EQ(audit[0]["detail"]["policy_id"], db);
  EXPECT_EQ(audit[0]["detail"]["previous_policy_id"], web);

  // An agent activated with the token now runs the new policy.
  r = m.Post("/agent/v1/activate", "",
             {{"token", secret},
              {"hostname", "asg-host"},
              {"machine_id", "m-2"},
              {"agent_version", "0.1.0"},
              {"os", "Debian GNU/Linux 12"}});
  ASSERT_EQ(r.status, 201) << r.raw;
  std::string activated = r.body["agent_id"];
  EXPECT_EQ(m.Get("/api/v1/agents/" + activated, a_key).body["policy_id"], db);

  // null clears it.
  r = m.Patch(path, a_key, {{"policy_id", nullptr}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_TRUE(r.body["policy_id"].is_null());

  // An auditor changes nothing.
  std::string aud = m.NewKey(a_key, "auditor");
  EXPECT_EQ(m.Patch(path, aud, {{"policy_id", web}}).status, 403);
  EXPECT_TRUE(m.Get(path, a_key).body["policy_id"].is_null());

  // Validation: the field is required, typed, and no other field is accepted.
  r = m.Patch(path, a_key, Json::object());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["field"], "policy_id");
  EXPECT_EQ(m.Patch(path, a_key, {{"policy_id", 7}}).status, 400);
  EXPECT_EQ(m.Patch(path, a_key, {{"policy_id", web}, {"max_uses", 3}}).status, 400);

  // Tenant isolation: B's policy is unknown to A's token, and B cannot touch A's token.
  r = m.Patch(path, a_key, {{"policy_id", b_policy}});
  EXPECT_EQ(r.status, 404) << r.raw;
  EXPECT_EQ(r.body["error"]["field"], "policy_id");
  r = m.Patch(path, b_key, {{"policy_id", b_policy}});
  EXPECT_EQ(r.status, 404) << r.raw;
  EXPECT_EQ(m.Patch("/api/v1/activation-tokens/tok-none", a_key, {{"policy_id", web}}).status, 404);
  EXPECT_TRUE(m.Get(path, a_key).body["policy_id"].is_null());
  (void)a_id;
  (void)b_id;
}

TEST(ManagerConsoleApi, AlertsNameTheUserWhoTriagedThemAndTheIdOnceDeleted) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  auto [agent, cred] = m.NewAgent(k, "web-1");
  (void)agent;
  ASSERT_EQ(m.Do("POST", "/agent/v1/events", cred,
                 EventLine("0193-al-1", FormatTimestamp(m.clock().Now()), "integrity",
                           "baseline_tampered", 4),
                 "application/x-ndjson", "gzip")
                .status,
            200);
  Reply r = m.Get("/api/v1/alerts", k);
  ASSERT_EQ(r.body["items"].size(), 1u) << r.raw;
  std::string alert = r.body["items"][0]["id"];

  r = m.Post("/api/v1/users", k,
             {{"username", "ayaka"}, {"role", "operator"}, {"password", "correct horse battery"}});
  ASSERT_EQ(r.status, 201) << r.raw;
  std::string uid = r.body["id"];
  Browser b = SignIn(m, "ayaka", "correct horse battery");
  Answer a = Send(m, "PATCH", "/api/v1/alerts/" + alert, b.Headers(),
                  Json{{"state", "acknowledged"}, {"reason", "on it"}}.dump());
  ASSERT_EQ(a.status, 200) << a.raw;
  EXPECT_EQ(a.body["acknowledged"]["by"], "user:" + uid);
  EXPECT_EQ(a.body["acknowledged"]["by_name"], "ayaka");

  // An API key is named too, in the list and in bulk answers.
  r = m.Post("/api/v1/apikeys", k, {{"name", "night shift bot"}, {"role", "operator"}});
  ASSERT_EQ(r.status, 201) << r.raw;
  std::string bot = r.body["secret"];
  r = m.Patch("/api/v1/alerts", bot, {{"ids", {alert}}, {"state", "resolved"}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["items"][0]["resolved"]["by_name"], "night shift bot");
  r = m.Get("/api/v1/alerts?state=resolved", k);
  ASSERT_EQ(r.body["items"].size(), 1u);
  EXPECT_EQ(r.body["items"][0]["acknowledged"]["by_name"], "ayaka");
  EXPECT_EQ(r.body["items"][0]["resolved"]["by_name"], "night shift bot");

  // A deleted user is shown by id: by stays, by_name is null.
  ASSERT_EQ(m.Delete("/api/v1/users/" + uid, k).status, 204);
  r = m.Get("/api/v1/alerts/" + alert, k);
  EXPECT_EQ(r.body["acknowledged"]["by"], "user:" + uid);
  EXPECT_TRUE(r.body["acknowledged"]["by_name"].is_null()) << r.raw;

  // Another tenant's user of the same name is not this tenant's: names come from the caller's
  // tenant only (and its alerts are not visible anyway).
  auto [other_id, other_key] = m.NewTenant("other");
  (void)other_id;
  EXPECT_EQ(m.Get("/api/v1/alerts/" + alert, other_key).status, 404);
}

// An IPS event matching 942100 on ARGS:q for the request target `url`, as the agent sends it.
std::string IpsLine(const std::string& id, const std::string& at, const std::string& url) {
  Json e = {
      {"@timestamp", at},
      {"event",
       {{"id", id}, {"kind", "alert"}, {"module", "ips"}, {"action", "detected"}, {"severity", 2}}},
      {"rule", {{"id", {"942100"}}}},
      {"ips", {{"matches", {{{"id", "942100"}, {"variable", "ARGS:q"}}}}}},
      {"source", {{"ip", "10.0.0.1"}}},
      {"url", {{"original", url}, {"path", url.substr(0, url.find('?'))}}}};
  return e.dump() + "\n";
}

// The tuning preview of a path-prefix exclusion counts what the agent would exclude: the same
// normalisation (agent/modules/ips/path_prefix.h), so spellings of other paths that start with
// the prefix's bytes are not counted, and a prefix that is not normalised is refused.
TEST(ManagerConsoleApi, TuningPreviewOfAPathPrefixMatchesAsTheAgentDoes) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  std::string pol = m.NewPolicy(k, "web");
  auto [agent, cred] = m.NewAgent(k, "web-1", pol);
  (void)agent;
  const std::string at = FormatTimestamp(m.clock().Now() - std::chrono::minutes(5));
  const std::vector<std::string> inside = {"/api/search?q=1", "/api/v2/x?q=1", "//api/x?q=1",
                                           "/static/../api/x?q=1", "/%61pi/x?q=1"};
  const std::vector<std::string> outside = {
      "/apix?q=1",         "/API/x?q=1",          "/api/../admin?q=1",  "/api/..%2fadmin?q=1",
      "/api/%2e%2e/admin", "/api/%252e%252e/adm", "/api/..;/admin?q=1", "/api\\..\\admin?q=1",
      "/api/%00/../x?q=1", "/search?q=/api/x"};
  std::string body;
  int n = 0;
  for (const auto& u : inside) body += IpsLine("p-in-" + std::to_string(n++), at, u);
  for (const auto& u : outside) body += IpsLine("p-out-" + std::to_string(n++), at, u);
  ASSERT_EQ(m.Do("POST", "/agent/v1/events", cred, body, "application/x-ndjson", "gzip").status,
            200);
  Reply r = m.Get("/api/v1/ips/tuning?policy=" + pol +
                      "&exclude_rule=942100&exclude_target=ARGS:q&exclude_path=/api/",
                  k);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["events"], static_cast<int>(inside.size() + outside.size()));
  EXPECT_EQ(r.body["preview"]["path_prefix"], "/api/");
  EXPECT_EQ(r.body["preview"]["matched"], static_cast<int>(inside.size()));
  EXPECT_EQ(r.body["preview"]["suppressed"], static_cast<int>(inside.size()));
  // "/api" (no slash) also covers the paths under it, and still none outside.
  r = m.Get("/api/v1/ips/tuning?policy=" + pol + "&exclude_rule=942100&exclude_path=/api", k);
  EXPECT_EQ(r.body["preview"]["matched"], static_cast<int>(inside.size())) << r.raw;
  // Prefixes the agent's policy parser would refuse are refused here too.
  for (const char* bad : {"api/", "/api/../admin", "/api%2f", "//api", "/a;b"}) {
    r = m.Get("/api/v1/ips/tuning?policy=" + pol +
                  "&exclude_rule=942100&exclude_path=" + httplib::detail::encode_query_param(bad),
              k);
    EXPECT_EQ(r.status, 400) << bad << ": " << r.raw;
    EXPECT_EQ(r.body["error"]["field"], "exclude_path") << bad;
  }
}

// The manager validates a policy's path-prefix exclusions with the agent's own parser: the error
// names the key; a valid one is stored as written.
TEST(ManagerConsoleApi, PolicyPathPrefixExclusionsAreValidatedByTheAgentsParser) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  Json doc = {
      {"ips",
       {{"mode", "detect"},
        {"exclusions", {{{"id", 942100}, {"target", "ARGS:q"}, {"path_prefix", "/api/"}}}}}}};
  Reply r = m.Post("/api/v1/policies", k, {{"name", "api"}, {"document", doc}});
  ASSERT_EQ(r.status, 201) << r.raw;
  EXPECT_EQ(r.body["document"]["ips"]["exclusions"][0]["path_prefix"], "/api/");
  std::string id = r.body["id"];
  for (const char* bad : {"/api/../admin", "api/", "/api%2f", "/api//x"}) {
    doc["ips"]["exclusions"][0]["path_prefix"] = bad;
    r = m.Patch("/api/v1/policies/" + id, k, {{"document", doc}});
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_NE(r.raw.find("ips.exclusions[0].path_prefix"), std::string::npos) << r.raw;
  }
  EXPECT_EQ(m.Get("/api/v1/policies/" + id, k).body["version"], 1) << "nothing was saved";
}

std::string CodeAt(ManagerHarness& m, const std::string& secret) {
  auto key = manager::Base32Decode(secret);
  EXPECT_TRUE(key.has_value());
  return manager::Hotp(*key, static_cast<uint64_t>(manager::TotpStep(m.clock().Now())));
}

// The TOTP secret is stored sealed (manager/auth/secret_box.h): the database never holds the
// base32 secret the user was shown, and sign-in with the app's code still works. A secret an
// older manager stored in clear still works once and is sealed by that sign-in.
TEST(ManagerConsoleApi, TotpSecretIsSealedAtRestAndClearOnesAreSealedOnUse) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  Reply u =
      m.Post("/api/v1/users", k,
             {{"username", "kenji"}, {"role", "operator"}, {"password", "correct horse battery"}});
  ASSERT_EQ(u.status, 201) << u.raw;
  const std::string uid = u.body["id"];
  Browser b = SignIn(m, "kenji", "correct horse battery");
  Answer e = Send(m, "POST", "/api/v1/session/totp", b.Headers(), "");
  ASSERT_EQ(e.status, 201) << e.raw;
  const std::string secret = e.body["secret"];
  auto stored = m.store().GetUser(m.primary_tenant(), uid);
  ASSERT_TRUE(stored.has_value());
  EXPECT_TRUE(stored->totp_secret.starts_with("sb1:")) << stored->totp_secret;
  EXPECT_EQ(stored->totp_secret.find(secret), std::string::npos);
  Answer c = Send(m, "POST", "/api/v1/session/totp/confirm", b.Headers(),
                  Json{{"code", CodeAt(m, secret)}}.dump());
  ASSERT_EQ(c.status, 200) << c.raw;
  EXPECT_TRUE(m.store().GetUser(m.primary_tenant(), uid)->totp_secret.starts_with("sb1:"));
  m.clock().Advance(std::chrono::seconds(30));
  Answer s = Send(m, "POST", "/api/v1/session", {},
                  Json{{"username", "kenji"},
                       {"password", "correct horse battery"},
                       {"totp_code", CodeAt(m, secret)}}
                      .dump());
  EXPECT_EQ(s.status, 200) << s.raw;

  // A clear secret (as stored before sealing existed) signs in, and is sealed afterwards.
  auto user = m.store().GetUser(m.primary_tenant(), uid);
  ASSERT_TRUE(user.has_value());
  user->totp_secret = secret;
  ASSERT_TRUE(m.store().UpdateUser(*user).ok());
  m.clock().Advance(std::chrono::seconds(30));
  s = Send(m, "POST", "/api/v1/session", {},
           Json{{"username", "kenji"},
                {"password", "correct horse battery"},
                {"totp_code", CodeAt(m, secret)}}
               .dump());
  EXPECT_EQ(s.status, 200) << s.raw;
  std::string after = m.store().GetUser(m.primary_tenant(), uid)->totp_secret;
  EXPECT_TRUE(after.starts_with("sb1:")) << after;
  // A sealed value another key cannot open is refused (never taken as the secret itself).
  user = m.store().GetUser(m.primary_tenant(), uid);
  user->totp_secret =
      "sb1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  ASSERT_TRUE(m.store().UpdateUser(*user).ok());
  m.clock().Advance(std::chrono::seconds(30));
  s = Send(m, "POST", "/api/v1/session", {},
           Json{{"username", "kenji"},
                {"password", "correct horse battery"},
                {"totp_code", CodeAt(m, secret)}}
               .dump());
  EXPECT_EQ(s.status, 401) << s.raw;
}

// `ward-manager init --state-dir` creates the key file (32 bytes, 0600); serve reads the same
// key, so a secret sealed through one process opens in the next.
TEST(ManagerConsoleApi, InitCreatesTheManagersSecretKeyOwnerOnly) {
  TempDir dir;
  const std::string bin = ShellQuote(WARD_MANAGER_BINARY);
  const std::string db = ShellQuote("sqlite:" + dir.path().string() + "/ward.db");
  const std::string state = dir.path().string() + "/state";
  auto r = RunShell(bin + " init --db " + db + " --json --state-dir " + ShellQuote(state) +
                    " 2>/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  struct stat st {};
  ASSERT_EQ(::stat((state + "/manager.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  // A key file others can read is refused by name.
  ASSERT_EQ(::chmod((state + "/manager.key").c_str(), 0644), 0);
  const std::string db2 = ShellQuote("sqlite:" + dir.path().string() + "/ward2.db");
  r = RunShell(bin + " init --db " + db2 + " --state-dir " + ShellQuote(state) + " 2>&1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("manager.key"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace ward::test
