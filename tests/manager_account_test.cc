// The console account features of issue 14 over real HTTPS (helper c1): the TOTP second factor
// (enrolment, sign-in second step, replay refusal, throttle, audit, admin reset), the per-user
// time zone, tenants created with their first admin user (primary admins only), and the audit
// log's server-side filters. docs/console.md, docs/api.md.
#include <gtest/gtest.h>
#include <httplib.h>

#include "manager/auth/totp.h"
#include "tests/manager_harness.h"

namespace ward::test {
namespace {

struct Browser {
  std::string cookie;
  std::string csrf;
  httplib::Headers Headers() const { return {{"Cookie", cookie}, {"X-Ward-CSRF", csrf}}; }
};

Answer SignIn(ManagerHarness& m, const std::string& user, const std::string& password,
              const std::string& code = "", Browser* out = nullptr) {
  Json body = {{"username", user}, {"password", password}};
  if (!code.empty()) body["totp_code"] = code;
  Answer a = Send(m, "POST", "/api/v1/session", {}, body.dump());
  if (out && a.status == 200) {
    auto it = a.headers.find("Set-Cookie");
    out->cookie = it->second.substr(0, it->second.find(';'));
    out->csrf = a.body["csrf_token"];
  }
  return a;
}

std::string NewUser(ManagerHarness& m, const std::string& key, const std::string& name,
                    const std::string& role) {
  Reply r = m.Post("/api/v1/users", key,
                   {{"username", name}, {"role", role}, {"password", "correct horse battery"}});
  EXPECT_EQ(r.status, 201) << r.raw;
  return r.body.value("id", "");
}

// The code an authenticator app shows for `secret` at the harness's time (+ steps).
std::string CodeAt(ManagerHarness& m, const std::string& secret, int steps = 0) {
  auto key = manager::Base32Decode(secret);
  EXPECT_TRUE(key.has_value());
  return manager::Hotp(*key, static_cast<uint64_t>(manager::TotpStep(m.clock().Now()) + steps));
}

// Audit entries of the primary tenant about `username`'s sign-ins, by detail.event.
std::vector<std::string> SignInEvents(ManagerHarness& m, const std::string& actor) {
  Reply r = m.Get("/api/v1/audit?limit=1000&path=/api/v1/session&actor=" + actor, m.primary_key());
  std::vector<std::string> out;
  for (const auto& e : r.body["items"]) out.push_back(e["detail"].value("event", ""));
  return out;
}

manager::ApiOptions RoomyThrottle() {
  manager::ApiOptions o;
  o.sessions.signin_per_user_per_minute = 100;
  o.sessions.signin_per_address_per_minute = 100;
  return o;
}

TEST(ManagerAccount, TotpEnrolConfirmSignInRefuseReplayAndDisable) {
  ManagerHarness m(RoomyThrottle());
  const std::string id = NewUser(m, m.primary_key(), "dana", "operator");
  const std::string pw = "correct horse battery";
  Browser b;
  ASSERT_EQ(SignIn(m, "dana", pw, "", &b).status, 200);

  // API keys have no user to enrol: the endpoints need a session.
  EXPECT_EQ(m.Post("/api/v1/session/totp", m.primary_key(), Json::object()).status, 401);
  // Enrolment needs the CSRF header like every mutating session request.
  EXPECT_EQ(Send(m, "POST", "/api/v1/session/totp", {{"Cookie", b.cookie}}).status, 403);
  Answer enrol = Send(m, "POST", "/api/v1/session/totp", b.Headers());
  ASSERT_EQ(enrol.status, 201) << enrol.raw;
  const std::string secret = enrol.body["secret"];
  EXPECT_EQ(secret.size(), 32u);
  EXPECT_EQ(enrol.body["uri"], "otpauth://totp/Ward:dana?secret=" + secret +
                                   "&issuer=Ward&algorithm=SHA1&digits=6&period=30");
  // Not on before the first code; a wrong first code keeps it off.
  EXPECT_FALSE(Send(m, "GET", "/api/v1/session", b.Headers()).body["user"]["totp_enabled"]);
  std::string wrong = CodeAt(m, secret) == "000000" ? "111111" : "000000";
  Answer bad =
      Send(m, "POST", "/api/v1/session/totp/confirm", b.Headers(), Json{{"code", wrong}}.dump());
  EXPECT_EQ(bad.status, 400) << bad.raw;
  EXPECT_EQ(bad.body["error"]["field"], "code");
  const std::string first = CodeAt(m, secret);
  Answer on =
      Send(m, "POST", "/api/v1/session/totp/confirm", b.Headers(), Json{{"code", first}}.dump());
  ASSERT_EQ(on.status, 200) << on.raw;
  EXPECT_TRUE(on.body["user"]["totp_enabled"]);
  EXPECT_EQ(Send(m, "POST", "/api/v1/session/totp", b.Headers()).status, 409) << "already on";

  // The secret is never shown again: not in the session, not in the user list.
  EXPECT_EQ(Send(m, "GET", "/api/v1/session", b.Headers()).raw.find(secret), std::string::npos);
  Reply users = m.Get("/api/v1/users", m.primary_key());
  EXPECT_EQ(users.raw.find(secret), std::string::npos);
  EXPECT_NE(users.raw.find("\"totp_enabled\":true"), std::string::npos);

  // Sign-in: the password alone asks for the code; wrong and reused codes are refused.
  Answer ask = SignIn(m, "dana", pw);
  EXPECT_EQ(ask.status, 401);
  EXPECT_EQ(ask.body["error"]["code"], "totp_required");
  EXPECT_EQ(ask.headers.count("Set-Cookie"), 0u);
  EXPECT_EQ(SignIn(m, "dana", "wrong password 123", first).status, 401);
  Answer w = SignIn(m, "dana", pw, wrong);
  EXPECT_EQ(w.status, 401);
  EXPECT_EQ(w.body["error"]["code"], "totp_invalid");
  Answer reused = SignIn(m, "dana", pw, first);
  EXPECT_EQ(reused.status, 401) << "the confirmation code cannot sign in";
  EXPECT_EQ(reused.body["error"]["code"], "totp_invalid");
  m.clock().Advance(std::chrono::seconds(30));
  const std::string next = CodeAt(m, secret);
  Browser b2;
  ASSERT_EQ(SignIn(m, "dana", pw, next, &b2).status, 200);
  EXPECT_EQ(SignIn(m, "dana", pw, next).status, 401) << "a code works once";
  EXPECT_EQ(SignIn(m, "dana", pw, CodeAt(m, secret, -1)).status, 401) << "older than the last";

  auto events = SignInEvents(m, "user:" + id);
  // one wrong confirmation, one wrong sign-in code
  EXPECT_EQ(std::count(events.begin(), events.end(), "wrong TOTP code"), 2);
  EXPECT_EQ(std::count(events.begin(), events.end(), "TOTP code reused"), 3);
  EXPECT_EQ(std::count(events.begin(), events.end(), "TOTP enabled"), 1);

  // Turning it off needs a (fresh) code; then the password alone signs in again.
  m.clock().Advance(std::chrono::seconds(30));
  EXPECT_EQ(
      Send(m, "POST", "/api/v1/session/totp/disable", b2.Headers(), Json{{"code", wrong}}.dump())
          .status,
      400);
  Answer off = Send(m, "POST", "/api/v1/session/totp/disable", b2.Headers(),
                    Json{{"code", CodeAt(m, secret)}}.dump());
  ASSERT_EQ(off.status, 200) << off.raw;
  EXPECT_FALSE(off.body["user"]["totp_enabled"]);
  EXPECT_EQ(SignIn(m, "dana", pw).status, 200);
}

TEST(ManagerAccount, WrongCodesCountInTheSignInThrottle) {
  manager::ApiOptions o;
  o.sessions.signin_per_user_per_minute = 4;
  ManagerHarness m(o);
  NewUser(m, m.primary_key(), "erin", "auditor");
  const std::string pw = "correct horse battery";
  Browser b;
  ASSERT_EQ(SignIn(m, "erin", pw, "", &b).status, 200);  // 1
  Answer enrol = Send(m, "POST", "/api/v1/session/totp", b.Headers());
  ASSERT_EQ(enrol.status, 201);
  const std::string secret = enrol.body["secret"];
  ASSERT_EQ(Send(m, "POST", "/api/v1/session/totp/confirm", b.Headers(),
                 Json{{"code", CodeAt(m, secret)}}.dump())
                .status,
            200);                                       // 2
  const std::string wrong = CodeAt(m, secret, 5);       // a code of another time
  EXPECT_EQ(SignIn(m, "erin", pw, wrong).status, 401);  // 3
  EXPECT_EQ(SignIn(m, "erin", pw, wrong).status, 401);  // 4
  Answer limited = SignIn(m, "erin", pw, wrong);        // 5: over
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(SignIn(m, "erin", pw, CodeAt(m, secret, 1)).status, 429) << "even the right code";
}

TEST(ManagerAccount, AdminsTurnAUsersSecondFactorOffNeverOn) {
  ManagerHarness m(RoomyThrottle());
  const std::string id = NewUser(m, m.primary_key(), "fay", "operator");
  Browser b;
  ASSERT_EQ(SignIn(m, "fay", "correct horse battery", "", &b).status, 200);
  Answer enrol = Send(m, "POST", "/api/v1/session/totp", b.Headers());
  ASSERT_EQ(Send(m, "POST", "/api/v1/session/totp/confirm", b.Headers(),
                 Json{{"code", CodeAt(m, enrol.body["secret"])}}.dump())
                .status,
            200);
  EXPECT_EQ(m.Patch("/api/v1/users/" + id, m.primary_key(), {{"totp_enabled", true}}).status, 400);
  const std::string auditor = m.NewKey(m.primary_key(), "auditor");
  EXPECT_EQ(m.Patch("/api/v1/users/" + id, auditor, {{"totp_enabled", false}}).status, 403);
  auto [other_tenant, other_admin] = m.NewTenant("other");
  EXPECT_EQ(m.Patch("/api/v1/users/" + id, other_admin, {{"totp_enabled", false}}).status, 404);
  Reply r = m.Patch("/api/v1/users/" + id, m.primary_key(), {{"totp_enabled", false}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_FALSE(r.body["totp_enabled"]);
  EXPECT_EQ(SignIn(m, "fay", "correct horse battery").status, 200);
}

TEST(ManagerAccount, EachUserKeepsAValidatedTimeZone) {
  ManagerHarness m;
  NewUser(m, m.primary_key(), "gil", "auditor");
  Browser b;
  Answer in = SignIn(m, "gil", "correct horse battery", "", &b);
  ASSERT_EQ(in.status, 200);
  EXPECT_EQ(in.body["user"]["time_zone"], "") << "the browser's until chosen";
  EXPECT_EQ(Send(m, "PATCH", "/api/v1/session", {{"Cookie", b.cookie}},
                 Json{{"time_zone", "Asia/Tokyo"}}.dump())
                .status,
            403)
      << "CSRF";
  Answer set =
      Send(m, "PATCH", "/api/v1/session", b.Headers(), Json{{"time_zone", "Asia/Tokyo"}}.dump());
  ASSERT_EQ(set.status, 200) << set.raw;
  EXPECT_EQ(set.body["user"]["time_zone"], "Asia/Tokyo");
  EXPECT_EQ(set.body["user"]["language"], "en") << "language untouched";
  EXPECT_EQ(Send(m, "GET", "/api/v1/session", b.Headers()).body["user"]["time_zone"], "Asia/Tokyo");
  for (const char* bad : {"Mars/Olympus_Mons", "../etc/passwd", "Asia/Tokyo<script>", "asia"}) {
    Answer r = Send(m, "PATCH", "/api/v1/session", b.Headers(), Json{{"time_zone", bad}}.dump());
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(r.body["error"]["field"], "time_zone") << bad;
  }
  EXPECT_EQ(Send(m, "PATCH", "/api/v1/session", b.Headers(), "{}").status, 400);
  EXPECT_EQ(Send(m, "GET", "/api/v1/session", b.Headers()).body["user"]["time_zone"], "Asia/Tokyo");
  Answer both = Send(m, "PATCH", "/api/v1/session", b.Headers(),
                     Json{{"time_zone", "UTC"}, {"language", "ja"}}.dump());
  EXPECT_EQ(both.body["user"]["time_zone"], "UTC");
  EXPECT_EQ(both.body["user"]["language"], "ja");
  EXPECT_EQ(Send(m, "PATCH", "/api/v1/session", b.Headers(), Json{{"time_zone", ""}}.dump())
                .body["user"]["time_zone"],
            "");
}

TEST(ManagerAccount, PrimaryAdminsCreateTenantsWithTheirFirstAdminUser) {
  ManagerHarness m;
  Reply r = m.Post("/api/v1/tenants", m.primary_key(),
                   {{"name", "project-x"},
                    {"settings", {{"event_retention_days", 30}}},
                    {"admin_user", {{"username", "x-admin"}}}});
  ASSERT_EQ(r.status, 201) << r.raw;
  const std::string tenant = r.body["id"];
  EXPECT_EQ(r.body["admin_user"]["username"], "x-admin");
  EXPECT_EQ(r.body["admin_user"]["role"], "admin");
  const std::string password = r.body["admin_user"]["password"];
  EXPECT_GE(password.size(), 20u);

  Browser x;
  Answer in = SignIn(m, "x-admin", password, "", &x);
  ASSERT_EQ(in.status, 200) << in.raw;
  EXPECT_EQ(in.body["tenant"]["id"], tenant);
  EXPECT_FALSE(in.body["tenant"]["primary"]);
  // The new tenant's admin edits its own settings and never sees tenants.
  Answer s =
      Send(m, "PATCH", "/api/v1/settings", x.Headers(), Json{{"heartbeat_interval_s", 120}}.dump());
  ASSERT_EQ(s.status, 200) << s.raw;
  EXPECT_EQ(s.body["heartbeat_interval_s"], 120);
  EXPECT_EQ(s.body["event_retention_days"], 30);
  EXPECT_EQ(
      m.Get("/api/v1/tenants/" + tenant, m.primary_key()).body["settings"]["heartbeat_interval_s"],
      120);
  EXPECT_EQ(Send(m, "GET", "/api/v1/tenants", x.Headers()).status, 403);
  EXPECT_EQ(Send(m, "GET", "/api/v1/tenants/" + m.primary_tenant(), x.Headers()).status, 404);
  EXPECT_EQ(Send(m, "GET", "/api/v1/tenants/" + tenant, x.Headers()).status, 404);
  EXPECT_EQ(
      Send(m, "PATCH", "/api/v1/tenants/" + tenant, x.Headers(), Json{{"disabled", true}}.dump())
          .status,
      404);

  // A taken user name or a bad password creates nothing.
  const size_t before = m.Get("/api/v1/tenants", m.primary_key()).body["items"].size();
  Reply taken = m.Post("/api/v1/tenants", m.primary_key(),
                       {{"name", "project-y"}, {"admin_user", {{"username", "x-admin"}}}});
  EXPECT_EQ(taken.status, 409) << taken.raw;
  EXPECT_EQ(taken.body["error"]["field"], "admin_user.username");
  Reply short_pw = m.Post(
      "/api/v1/tenants", m.primary_key(),
      {{"name", "project-y"}, {"admin_user", {{"username", "y-admin"}, {"password", "short"}}}});
  EXPECT_EQ(short_pw.status, 400);
  EXPECT_EQ(short_pw.body["error"]["field"], "admin_user.password");
  Reply bad_name = m.Post("/api/v1/tenants", m.primary_key(),
                          {{"name", "project-y"}, {"admin_user", {{"username", "<b>"}}}});
  EXPECT_EQ(bad_name.status, 400);
  EXPECT_EQ(m.Get("/api/v1/tenants", m.primary_key()).body["items"].size(), before);

  // Disabling the tenant ends its users' access.
  ASSERT_EQ(m.Patch("/api/v1/tenants/" + tenant, m.primary_key(), {{"disabled", true}}).status,
            200);
  EXPECT_EQ(Send(m, "GET", "/api/v1/session", x.Headers()).status, 401);
  EXPECT_EQ(SignIn(m, "x-admin", password).status, 401);
}

TEST(ManagerAccount, AuditLogIsFilteredServerSideAndPagedNewestFirst) {
  ManagerHarness m;
  auto [tenant, admin] = m.NewTenant("audited");
  const std::string operator_key = m.NewKey(admin, "operator");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(m.Post("/api/v1/policies", admin,
                     {{"name", "p" + std::to_string(i)}, {"document", ValidPolicyDocument()}})
                  .status,
              201);
  }
  EXPECT_EQ(m.Post("/api/v1/apikeys", operator_key, {{"name", "x"}, {"role", "admin"}}).status,
            403);
  m.clock().Advance(std::chrono::minutes(5));
  const std::string mid = FormatTimestamp(m.clock().Now());
  EXPECT_EQ(m.Delete("/api/v1/policies/nonexistent", admin).status, 404);

  auto items = [&](const std::string& query) {
    Reply r = m.Get("/api/v1/audit?" + query, admin);
    EXPECT_EQ(r.status, 200) << query << " " << r.raw;
    return r.body["items"];
  };
  EXPECT_EQ(items("method=POST&path=/policies&status=2xx").size(), 3u);
  Json failed = items("status=failed");
  ASSERT_EQ(failed.size(), 2u);
  EXPECT_EQ(items("status=403").size(), 1u);
  EXPECT_EQ(items("status=403")[0]["path"], "/api/v1/apikeys");
  EXPECT_EQ(items("from=" + mid).size(), 1u);
  EXPECT_EQ(items("to=" + mid + "&method=delete").size(), 0u) << "method is case-insensitive";
  EXPECT_EQ(items("method=delete").size(), 1u);
  const std::string op_actor = items("status=403")[0]["actor"];
  EXPECT_EQ(items("actor=" + op_actor).size(), 1u);
  // Another tenant's admin filtering on the same actor sees nothing.
  EXPECT_EQ(m.Get("/api/v1/audit?actor=" + op_actor, m.primary_key()).body["items"].size(), 0u);

  // Newest first, two per page, with the filters kept across pages.
  std::vector<std::string> paths;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    Reply r = m.Get("/api/v1/audit?order=desc&limit=2&method=POST" +
                        (cursor.empty() ? "" : "&cursor=" + cursor),
                    admin);
    ASSERT_EQ(r.status, 200) << r.raw;
    for (const auto& e : r.body["items"]) paths.push_back(e["path"]);
    if (r.body["next_cursor"].is_null()) break;
    cursor = r.body["next_cursor"];
  }
  // the operator's key, the three policies and the refused key, newest first
  ASSERT_EQ(paths.size(), 5u);
  EXPECT_EQ(paths[0], "/api/v1/apikeys");
  EXPECT_EQ(paths[1], "/api/v1/policies");
  EXPECT_EQ(paths[4], "/api/v1/apikeys");

  for (const char* bad : {"status=6xx", "status=abc", "from=yesterday", "order=up",
                          "actor=", "cursor=zzz", "colour=red"}) {
    EXPECT_EQ(m.Get(std::string("/api/v1/audit?") + bad, admin).status, 400) << bad;
  }
  EXPECT_EQ(m.Get("/api/v1/audit?status=failed", operator_key).status, 403);
}

}  // namespace
}  // namespace ward::test
