// The web console's server side over real HTTPS: the embedded files at /, users
// (/api/v1/users), sign-in, sessions, CSRF, throttling and expiry (/api/v1/session), and
// `ward-manager init` creating the first admin user. docs/console.md.
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <regex>

#include "manager/api/manager_api.h"
#include "testing/shell.h"
#include "testing/temp_dir.h"
#include "tests/manager_harness.h"

namespace ward::test {
namespace {

// A signed-in browser: the cookie from Set-Cookie and the CSRF token from the answer.
struct Browser {
  std::string cookie;
  std::string csrf;
  Json session;
};

Answer SignIn(ManagerHarness& m, const std::string& user, const std::string& password,
              Browser* out = nullptr) {
  Answer a = Send(m, "POST", "/api/v1/session", {},
                  Json{{"username", user}, {"password", password}}.dump());
  if (out && a.status == 200) {
    std::string set = a.Header("Set-Cookie");
    out->cookie = set.substr(0, set.find(';'));
    out->csrf = a.body["csrf_token"];
    out->session = a.body;
  }
  return a;
}

httplib::Headers With(const Browser& b, bool csrf = false) {
  httplib::Headers h{{"Cookie", b.cookie}};
  if (csrf) h.emplace("X-Ward-CSRF", b.csrf);
  return h;
}

std::string NewUser(ManagerHarness& m, const std::string& key, const std::string& name,
                    const std::string& role, const std::string& password) {
  Reply r =
      m.Post("/api/v1/users", key, {{"username", name}, {"role", role}, {"password", password}});
  EXPECT_EQ(r.status, 201) << r.raw;
  return r.body.value("id", "");
}

TEST(ManagerConsole, ServesTheEmbeddedConsoleWithItsPolicyAndValidators) {
  ManagerHarness m;
  Answer index = Send(m, "GET", "/", {});
  ASSERT_EQ(index.status, 200);
  EXPECT_EQ(index.Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(index.Header("Content-Security-Policy").find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(index.Header("X-Frame-Options"), "DENY");
  EXPECT_EQ(index.Header("Cache-Control"), "no-cache");
  // A client-side route is the same app.
  Answer events = Send(m, "GET", "/events?module=ips", {});
  EXPECT_EQ(events.status, 200);
  EXPECT_EQ(events.raw, index.raw);
  // Revalidation.
  Answer again = Send(m, "GET", "/", {{"If-None-Match", index.Header("ETag")}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.raw.empty());
  // The script it loads.
  std::smatch js;
  ASSERT_TRUE(std::regex_search(index.raw, js, std::regex(R"re(src="(/assets/[^"]+\.js)")re")));
  Answer script = Send(m, "GET", js[1].str(), {});
  EXPECT_EQ(script.status, 200);
  EXPECT_EQ(script.Header("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(script.Header("Cache-Control"), "public, max-age=31536000, immutable");
  EXPECT_GT(script.raw.size(), 1000u);
  // The API keeps its JSON answers.
  Answer api = Send(m, "GET", "/api/v1/nothing", {});
  EXPECT_EQ(api.status, 401);
  EXPECT_EQ(Send(m, "GET", "/assets/missing.js", {}).status, 404);
}

TEST(ManagerConsole, AdminsManageUsersAuditorsReadOthersCannot) {
  ManagerHarness m;
  const std::string admin = m.primary_key();
  Reply made = m.Post("/api/v1/users", admin, {{"username", "carol"}, {"role", "operator"}});
  ASSERT_EQ(made.status, 201) << made.raw;
  EXPECT_EQ(made.body["username"], "carol");
  EXPECT_EQ(made.body["role"], "operator");
  EXPECT_EQ(made.body["language"], "en");
  ASSERT_TRUE(made.body["password"].is_string());
  const std::string password = made.body["password"];
  EXPECT_EQ(password.size(), 20u);
  EXPECT_FALSE(made.body.contains("password_hash"));
  const std::string id = made.body["id"];
  // The generated password works.
  EXPECT_EQ(SignIn(m, "carol", password).status, 200);

  Reply list = m.Get("/api/v1/users", m.NewKey(admin, "auditor"));
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["items"].size(), 1u);
  EXPECT_FALSE(list.body["items"][0].contains("password_hash"));
  EXPECT_FALSE(list.body["items"][0].contains("password"));
  const std::string op = m.NewKey(admin, "operator");
  EXPECT_EQ(m.Get("/api/v1/users", op).status, 403);
  EXPECT_EQ(m.Post("/api/v1/users", op, {{"username", "x"}, {"role", "admin"}}).status, 403);

  // Validation names the field.
  Reply dup = m.Post("/api/v1/users", admin, {{"username", "carol"}, {"role", "auditor"}});
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(dup.body["error"]["field"], "username");
  Reply shortpw = m.Post("/api/v1/users", admin,
                         {{"username", "dave"}, {"role", "auditor"}, {"password", "short"}});
  EXPECT_EQ(shortpw.status, 400);
  EXPECT_EQ(shortpw.body["error"]["field"], "password");
  Reply badname = m.Post("/api/v1/users", admin, {{"username", "<b>"}, {"role", "auditor"}});
  EXPECT_EQ(badname.body["error"]["field"], "username");
  Reply badrole = m.Post("/api/v1/users", admin, {{"username", "erin"}, {"role", "root"}});
  EXPECT_EQ(badrole.body["error"]["field"], "role");
  Reply badlang = m.Post("/api/v1/users", admin,
                         {{"username", "erin"}, {"role", "auditor"}, {"language", "fr"}});
  EXPECT_EQ(badlang.body["error"]["field"], "language");

  // PATCH changes the role and the password.
  Reply patched = m.Patch("/api/v1/users/" + id, admin,
                          {{"role", "auditor"}, {"password", "a brand new password"}});
  ASSERT_EQ(patched.status, 200) << patched.raw;
  EXPECT_EQ(patched.body["role"], "auditor");
  EXPECT_EQ(SignIn(m, "carol", password).status, 401);
  EXPECT_EQ(SignIn(m, "carol", "a brand new password").status, 200);

  // Another tenant sees nothing of them; user names are global.
  auto [tenant_b, key_b] = m.NewTenant("b");
  EXPECT_EQ(m.Get("/api/v1/users/" + id, key_b).status, 404);
  EXPECT_EQ(m.Delete("/api/v1/users/" + id, key_b).status, 404);
  EXPECT_EQ(m.Get("/api/v1/users", key_b).body["items"].size(), 0u);
  EXPECT_EQ(m.Post("/api/v1/users", key_b, {{"username", "carol"}, {"role", "admin"}}).status, 409);

  // Delete ends the user's sessions.
  Browser b;
  ASSERT_EQ(SignIn(m, "carol", "a brand new password", &b).status, 200);
  EXPECT_EQ(Send(m, "GET", "/api/v1/session", With(b)).status, 200);
  EXPECT_EQ(m.Delete("/api/v1/users/" + id, admin).status, 204);
  EXPECT_EQ(Send(m, "GET", "/api/v1/session", With(b)).status, 401);
  EXPECT_EQ(m.Get("/api/v1/users/" + id, admin).status, 404);
  // Every change is audited.
  Reply audit = m.Get("/api/v1/audit?limit=1000", admin);
  int user_entries = 0;
  for (const auto& e : audit.body["items"]) {
    if (e["path"].get<std::string>().starts_with("/api/v1/users")) ++user_entries;
  }
  EXPECT_GE(user_entries, 8);
}

TEST(ManagerConsole, SessionCookieWorksLikeAKeyWithCsrfAndEndsOnSignOut) {
  ManagerHarness m;
  const std::string admin = m.primary_key();
  const std::string uid = NewUser(m, admin, "olivia", "operator", "operator password");
  Browser b;
  Answer in = SignIn(m, "olivia", "operator password", &b);
  ASSERT_EQ(in.status, 200) << in.raw;
  const std::string set = in.Header("Set-Cookie");
  EXPECT_TRUE(set.starts_with("__Host-ward_session=wss_")) << set;
  for (const char* attr : {"; Path=/", "; Secure", "; HttpOnly", "; SameSite=Strict"}) {
    EXPECT_NE(set.find(attr), std::string::npos) << attr;
  }
  EXPECT_EQ(in.body["user"]["username"], "olivia");
  EXPECT_EQ(in.body["user"]["role"], "operator");
  EXPECT_EQ(in.body["tenant"]["id"], m.primary_tenant());
  EXPECT_EQ(in.body["csrf_token"].get<std::string>().size(), 64u);
  // Only the hash of the secret is stored.
  const std::string secret = b.cookie.substr(b.cookie.find('=') + 1);
  EXPECT_TRUE(m.store().FindSessionByHash(secret).error().code() == StatusCode::kNotFound);

  Answer me = Send(m, "GET", "/api/v1/session", With(b));
  ASSERT_EQ(me.status, 200);
  EXPECT_EQ(me.body["csrf_token"], b.csrf);
  EXPECT_EQ(Send(m, "GET", "/api/v1/agents", With(b)).status, 200);
  // Mutations need the CSRF header.
  const std::string policy = Json{{"name", "p"}, {"document", ValidPolicyDocument()}}.dump();
  Answer no_csrf = Send(m, "POST", "/api/v1/policies", With(b), policy);
  EXPECT_EQ(no_csrf.status, 403);
  EXPECT_EQ(no_csrf.body["error"]["code"], "csrf");
  httplib::Headers wrong{{"Cookie", b.cookie}, {"X-Ward-CSRF", std::string(64, '0')}};
  EXPECT_EQ(Send(m, "POST", "/api/v1/policies", wrong, policy).status, 403);
  Answer ok = Send(m, "POST", "/api/v1/policies", With(b, true), policy);
  ASSERT_EQ(ok.status, 201) << ok.raw;
  // The operator role applies: no users, no keys.
  EXPECT_EQ(Send(m, "GET", "/api/v1/apikeys", With(b)).status, 403);
  // The audit names the user.
  Reply audit = m.Get("/api/v1/audit?limit=1000", admin);
  bool found = false;
  for (const auto& e : audit.body["items"]) {
    if (e["path"] == "/api/v1/policies" && e["status"] == 201) {
      EXPECT_EQ(e["actor"], "user:" + uid);
      found = true;
    }
  }
  EXPECT_TRUE(found);
  // The user's language.
  Answer lang = Send(m, "PATCH", "/api/v1/session", With(b, true), R"({"language":"ja"})");
  ASSERT_EQ(lang.status, 200) << lang.raw;
  EXPECT_EQ(lang.body["user"]["language"], "ja");
  EXPECT_EQ(m.Get("/api/v1/users/" + uid, admin).body["language"], "ja");
  // An API key wins over a cookie; a bad key is not rescued by a good cookie.
  httplib::Headers both{{"Cookie", b.cookie}, {"Authorization", "Bearer wak_nope"}};
  EXPECT_EQ(Send(m, "GET", "/api/v1/agents", both).status, 401);
  // Sign-out deletes the session: the same cookie no longer works anywhere.
  EXPECT_EQ(Send(m, "DELETE", "/api/v1/session", With(b)).status, 403) << "CSRF on sign-out";
  Answer out = Send(m, "DELETE", "/api/v1/session", With(b, true));
  EXPECT_EQ(out.status, 204);
  EXPECT_NE(out.Header("Set-Cookie").find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(Send(m, "GET", "/api/v1/session", With(b)).status, 401);
  EXPECT_EQ(Send(m, "GET", "/api/v1/agents", With(b)).status, 401);
}

TEST(ManagerConsole, SignInRefusesWrongPasswordsUnknownNamesAndForms) {
  ManagerHarness m;
  NewUser(m, m.primary_key(), "olivia", "operator", "operator password");
  Answer wrong = SignIn(m, "olivia", "not it at all");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_TRUE(wrong.Header("Set-Cookie").empty());
  Answer unknown = SignIn(m, "nobody", "not it at all");
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(unknown.body["error"]["message"], wrong.body["error"]["message"]);
  // A cross-site form cannot sign in (not JSON).
  Answer form = Send(m, "POST", "/api/v1/session", {}, "username=olivia&password=operator+password",
                     "application/x-www-form-urlencoded");
  EXPECT_EQ(form.status, 400);
  Answer extra = Send(m, "POST", "/api/v1/session", {},
                      R"({"username":"olivia","password":"operator password","tenant":"x"})");
  EXPECT_EQ(extra.status, 400);
  EXPECT_EQ(extra.body["error"]["field"], "tenant");
  EXPECT_EQ(Send(m, "GET", "/api/v1/session", {}).status, 401);
  // The wrong password is in the tenant's audit log.
  Reply audit = m.Get("/api/v1/audit?limit=1000", m.primary_key());
  bool found = false;
  for (const auto& e : audit.body["items"]) {
    if (e["path"] == "/api/v1/session" && e["status"] == 401 &&
        e["detail"]["event"] == "wrong password" && e["detail"]["username"] == "olivia") {
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST(ManagerConsole, SignInIsThrottledPerUserAndPerAddressWithAudit) {
  manager::ApiOptions o;
  o.sessions.signin_per_user_per_minute = 3;
  o.sessions.signin_per_address_per_minute = 6;
  ManagerHarness m(o);
  NewUser(m, m.primary_key(), "olivia", "operator", "operator password");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(SignIn(m, "olivia", "wrong password").status, 401);
  Answer limited = SignIn(m, "olivia", "operator password");
  EXPECT_EQ(limited.status, 429) << "the right password is refused while throttled";
  EXPECT_GE(std::stoi(limited.Header("Retry-After")), 1);
  // Other names from the same address: the address bucket (6) runs out too.
  EXPECT_EQ(SignIn(m, "x1", "p").status, 401);
  EXPECT_EQ(SignIn(m, "x2", "p").status, 401);
  EXPECT_EQ(SignIn(m, "x3", "p").status, 429);
  // Time refills the buckets.
  m.clock().Advance(std::chrono::minutes(2));
  EXPECT_EQ(SignIn(m, "olivia", "operator password").status, 200);
  Reply audit = m.Get("/api/v1/audit?limit=1000", m.primary_key());
  int throttled = 0;
  for (const auto& e : audit.body["items"]) {
    if (e["status"] == 429 && e["detail"]["event"] == "sign-in throttled") ++throttled;
  }
  EXPECT_EQ(throttled, 1);
}

TEST(ManagerConsole, SessionsExpireWhenIdleAndAtTheirAbsoluteEnd) {
  manager::ApiOptions o;
  o.sessions.idle = std::chrono::minutes(30);
  o.sessions.absolute = std::chrono::hours(2);
  ManagerHarness m(o);
  NewUser(m, m.primary_key(), "olivia", "operator", "operator password");
  Browser idle;
  ASSERT_EQ(SignIn(m, "olivia", "operator password", &idle).status, 200);
  m.clock().Advance(std::chrono::minutes(29));
  EXPECT_EQ(Send(m, "GET", "/api/v1/agents", With(idle)).status, 200) << "use restarts idle";
  m.clock().Advance(std::chrono::minutes(29));
  EXPECT_EQ(Send(m, "GET", "/api/v1/agents", With(idle)).status, 200);
  m.clock().Advance(std::chrono::minutes(31));
  EXPECT_EQ(Send(m, "GET", "/api/v1/agents", With(idle)).status, 401);

  Browser busy;
  ASSERT_EQ(SignIn(m, "olivia", "operator password", &busy).status, 200);
  for (int i = 0; i < 5; ++i) {
    m.clock().Advance(std::chrono::minutes(20));
    EXPECT_EQ(Send(m, "GET", "/api/v1/agents", With(busy)).status, 200) << i;
  }
  m.clock().Advance(std::chrono::minutes(20));  // 2 h after sign-in, never idle
  Answer end = Send(m, "GET", "/api/v1/agents", With(busy));
  EXPECT_EQ(end.status, 401);
  EXPECT_NE(end.body["error"]["message"].get<std::string>().find("expired"), std::string::npos);
}

TEST(ManagerConsole, InfoGivesTheCertificateFingerprintForTheInstallCommand) {
  manager::ApiOptions o;
  o.tls_fingerprint = std::string(64, 'a');
  ManagerHarness m(o);
  Reply r = m.Get("/api/v1/info", m.NewKey(m.primary_key(), "auditor"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["tls_fingerprint"], std::string(64, 'a'));
}

TEST(ManagerConsole, InitCreatesTheFirstAdminUser) {
  TempDir dir;
  const std::string bin = ShellQuote(WARD_MANAGER_BINARY);
  const std::string db = ShellQuote("sqlite:" + dir.path().string() + "/ward.db");
  {
    std::ofstream(dir.path().string() + "/short") << "short\n";
    auto r = RunShell(bin + " init --db " + db + " --admin-password-file " +
                      ShellQuote(dir.path().string() + "/short"));
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.output.find("12..1024"), std::string::npos) << r.output;
  }
  // Nothing was left behind by the refusal: init works now.
  std::ofstream(dir.path().string() + "/pw") << "a long enough password\n";
  auto r = RunShell(bin + " init --db " + db + " --json --admin-password-file " +
                    ShellQuote(dir.path().string() + "/pw") + " 2>/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  Json out = Json::parse(r.output);
  EXPECT_EQ(out["admin_user"], "admin");
  EXPECT_FALSE(out.contains("admin_password")) << "not printed when given";
  auto store = manager::Store::Open("sqlite:" + dir.path().string() + "/ward.db");
  ASSERT_TRUE(store.has_value());
  auto admin = (*store)->FindUserByName("admin");
  ASSERT_TRUE(admin.has_value());
  EXPECT_EQ(admin->role, manager::Role::kAdmin);
  EXPECT_EQ(admin->tenant_id, out["tenant_id"]);
  EXPECT_TRUE(admin->password_hash.starts_with("$argon2id$"));

  TempDir dir2;
  auto gen = RunShell(bin + " init --db " + ShellQuote("sqlite:" + dir2.path().string() + "/w.db") +
                      " --admin-user root@example");
  ASSERT_EQ(gen.exit_code, 0) << gen.output;
  std::smatch pw;
  ASSERT_TRUE(std::regex_search(
      gen.output, pw,
      std::regex(
          R"(console admin user: root@example  password \(shown once, store it now\): (\S{20}))")))
      << gen.output;
}

// A tab left open after its session ended keeps its cookie; its 401s are not failed
// authentications for the server's per-address throttle (30 a minute by default), so an office
// behind one address is not throttled by idle tabs; a wrong API key still counts
// (docs/console.md, "Expired sessions and the throttle").
TEST(ManagerConsole, EndedSessionCookiesDoNotCountTowardTheFailedAuthenticationThrottle) {
  ManagerHarness m;
  NewUser(m, m.primary_key(), "olivia", "operator", "operator password");
  Browser expired;
  ASSERT_EQ(SignIn(m, "olivia", "operator password", &expired).status, 200);
  m.clock().Advance(std::chrono::minutes(31));  // past the 30-minute idle expiry
  Browser signed_out;
  ASSERT_EQ(SignIn(m, "olivia", "operator password", &signed_out).status, 200);
  ASSERT_EQ(Send(m, "DELETE", "/api/v1/session", With(signed_out, true)).status, 204);
  // Twice the burst of 30 from each: every one a 401, never a 429.
  for (int i = 0; i < 60; ++i) {
    Answer a = Send(m, "GET", "/api/v1/events?after_seq=0", With(expired));
    ASSERT_EQ(a.status, 401) << i << " " << a.raw;
    Answer b = Send(m, "GET", "/api/v1/agents", With(signed_out));
    ASSERT_EQ(b.status, 401) << i << " " << b.raw;
  }
  EXPECT_EQ(m.Get("/api/v1/agents", m.primary_key()).status, 200) << "address not throttled";
  // A wrong API key is a guess: the first 30 are answered 401 (the whole burst is still there),
  // and the address is throttled soon after (the bucket refills at 0.5 a second).
  for (int i = 0; i < 30; ++i) {
    ASSERT_EQ(m.Get("/api/v1/agents", "wak_not-a-key").status, 401) << i;
  }
  int tries = 0;
  while (m.Get("/api/v1/agents", "wak_not-a-key").status == 401 && tries < 200) ++tries;
  EXPECT_LT(tries, 200) << "wrong keys are throttled";
  EXPECT_EQ(Send(m, "GET", "/api/v1/agents", With(expired)).status, 429)
      << "the throttled address is refused whatever it presents";
}

}  // namespace
}  // namespace ward::test
