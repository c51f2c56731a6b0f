// The REST API (/api/v1) over real HTTPS: every endpoint, roles, validation errors naming the
// field, body limit, rate limits, audit, and the cross-tenant walk.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <set>
#include <string_view>
#include <vector>

#include "agent/modules/schemas.h"
#include "common/clock.h"
#include "manager/auth/secrets.h"
#include "tests/manager_harness.h"

namespace ward::test {
namespace {

TEST(ManagerApi, ServesItsOpenApiDocumentWithoutAKey) {
  ManagerHarness m;
  Reply r = m.Get("/api/v1/openapi.json", "");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["openapi"], "3.0.3");
  // Every REST route is described.
  for (const auto& [method, pattern] : m.api().Routes()) {
    if (!pattern.starts_with("/api/v1/")) continue;
    std::string p = pattern.substr(7);
    std::string lower = method;
    for (char& c : lower) c = static_cast<char>(std::tolower(c));
    EXPECT_TRUE(r.body["paths"].contains(p) && r.body["paths"][p].contains(lower))
        << method << " " << pattern;
  }
}

// Handshakes with a client limited to one protocol version: true when the server accepted it.
bool HandshakeWith(int port, int version) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_security_level(ctx, 0);  // let the client offer old versions at all
  SSL_CTX_set_min_proto_version(ctx, version);
  SSL_CTX_set_max_proto_version(ctx, version);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    ok = SSL_connect(ssl) == 1 && SSL_version(ssl) == version;
    SSL_free(ssl);
  }
  close(fd);
  SSL_CTX_free(ctx);
  return ok;
}

TEST(ManagerApi, SpeaksTls12AndNewerOnly) {
  ManagerHarness m;
  EXPECT_TRUE(HandshakeWith(m.port(), TLS1_3_VERSION));
  EXPECT_TRUE(HandshakeWith(m.port(), TLS1_2_VERSION));
  EXPECT_FALSE(HandshakeWith(m.port(), TLS1_1_VERSION));
  EXPECT_FALSE(HandshakeWith(m.port(), TLS1_VERSION));
  EXPECT_EQ(m.Get("/api/v1/settings", m.primary_key()).status, 200);  // still serving
}

TEST(ManagerApi, RefusesMissingInvalidAndAgentCredentialsWith401) {
  ManagerHarness m;
  EXPECT_EQ(m.Get("/api/v1/policies", "").status, 401);
  Reply r = m.Get("/api/v1/policies", "wak_not-a-real-key");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body["error"]["code"], "unauthenticated");
  auto [agent, credential] = m.NewAgent(m.primary_key(), "web-01");
  r = m.Get("/api/v1/agents", credential);
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body["error"]["message"].get<std::string>().find("agent credential"),
            std::string::npos);
  EXPECT_EQ(m.Get("/api/v1/agents", m.primary_key()).status, 200);
}

TEST(ManagerApi, TenantLifecycleByThePrimaryAdmin) {
  ManagerHarness m;
  Reply r = m.Post("/api/v1/tenants", m.primary_key(),
                   {{"name", "project-a"}, {"settings", {{"event_retention_days", 28}}}});
  ASSERT_EQ(r.status, 201) << r.raw;
  std::string id = r.body["id"];
  EXPECT_EQ(r.body["settings"]["event_retention_days"], 28);
  EXPECT_EQ(r.body["settings"]["heartbeat_interval_s"], 60);
  std::string key = r.body["admin_key"]["secret"];
  ASSERT_TRUE(key.starts_with("wak_"));
  // The new tenant's admin works in its own tenant, sees its own settings.
  r = m.Get("/api/v1/settings", key);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["event_retention_days"], 28);
  // List, get, change settings through the tenant object.
  r = m.Get("/api/v1/tenants", m.primary_key());
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["items"].size(), 2u);
  EXPECT_EQ(m.Get("/api/v1/tenants/" + id, m.primary_key()).body["name"], "project-a");
  r = m.Patch("/api/v1/tenants/" + id, m.primary_key(),
              {{"settings", {{"inactive_agent_cleanup_days", 0}}}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["settings"]["inactive_agent_cleanup_days"], 0);
  EXPECT_EQ(r.body["settings"]["event_retention_days"], 28);
  // The secret is never shown again.
  r = m.Get("/api/v1/apikeys", key);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.raw.find(key), std::string::npos);
  EXPECT_EQ(r.raw.find("secret"), std::string::npos);
  // Disable: its keys stop working. Enable again: they work.
  ASSERT_EQ(m.Patch("/api/v1/tenants/" + id, m.primary_key(), {{"disabled", true}}).status, 200);
  EXPECT_EQ(m.Get("/api/v1/settings", key).status, 401);
  ASSERT_EQ(m.Patch("/api/v1/tenants/" + id, m.primary_key(), {{"disabled", false}}).status, 200);
  EXPECT_EQ(m.Get("/api/v1/settings", key).status, 200);
  // The primary tenant can be neither disabled nor deleted.
  r = m.Patch("/api/v1/tenants/" + m.primary_tenant(), m.primary_key(), {{"disabled", true}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["field"], "disabled");
  EXPECT_EQ(m.Delete("/api/v1/tenants/" + m.primary_tenant(), m.primary_key()).status, 409);
  // Delete: gone, key gone.
  EXPECT_EQ(m.Delete("/api/v1/tenants/" + id, m.primary_key()).status, 204);
  EXPECT_EQ(m.Get("/api/v1/tenants/" + id, m.primary_key()).status, 404);
  EXPECT_EQ(m.Get("/api/v1/settings", key).status, 401);
}

TEST(ManagerApi, OnlyPrimaryAdminsManageTenants) {
  ManagerHarness m;
  auto [b_id, b_key] = m.NewTenant("b");
  auto [c_id, c_key] = m.NewTenant("c");
  EXPECT_EQ(m.Get("/api/v1/tenants", b_key).status, 403);
  EXPECT_EQ(m.Post("/api/v1/tenants", b_key, {{"name", "x"}}).status, 403);
  // A tenant id is not found for other tenants, not even their own.
  EXPECT_EQ(m.Get("/api/v1/tenants/" + c_id, b_key).status, 404);
  EXPECT_EQ(m.Get("/api/v1/tenants/" + b_id, b_key).status, 404);
  // Operators of the primary tenant are not admins.
  std::string op = m.NewKey(m.primary_key(), "operator");
  EXPECT_EQ(m.Get("/api/v1/tenants", op).status, 403);
}

TEST(ManagerApi, ApiKeysAreShownOnceRevocableAndExpire) {
  ManagerHarness m;
  Reply r = m.Post("/api/v1/apikeys", m.primary_key(),
                   {{"name", "ci"},
                    {"role", "operator"},
                    {"expires_at", FormatTimestamp(m.clock().Now() + std::chrono::hours(1))}});
  ASSERT_EQ(r.status, 201) << r.raw;
  std::string id = r.body["id"], secret = r.body["secret"];
  EXPECT_EQ(r.body["role"], "operator");
  EXPECT_EQ(m.Get("/api/v1/policies", secret).status, 200);
  r = m.Get("/api/v1/apikeys/" + id, m.primary_key());
  ASSERT_EQ(r.status, 200);
  EXPECT_FALSE(r.body.contains("secret"));
  // Expiry.
  m.clock().Advance(std::chrono::hours(2));
  r = m.Get("/api/v1/policies", secret);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body["error"]["message"], "API key expired");
  // Revocation.
  std::string other = m.NewKey(m.primary_key(), "auditor");
  Reply list = m.Get("/api/v1/apikeys", m.primary_key());
  std::string other_id;
  for (const auto& k : list.body["items"]) {
    if (k["role"] == "auditor") other_id = k["id"];
  }
  ASSERT_FALSE(other_id.empty());
  EXPECT_EQ(m.Delete("/api/v1/apikeys/" + other_id, m.primary_key()).status, 204);
  EXPECT_EQ(m.Get("/api/v1/policies", other).status, 401);
  EXPECT_TRUE(m.Get("/api/v1/apikeys/" + other_id, m.primary_key()).body["revoked"]);
  // Bad input names the field.
  r = m.Post("/api/v1/apikeys", m.primary_key(), {{"name", "x"}, {"role", "root"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["field"], "role");
  r = m.Post("/api/v1/apikeys", m.primary_key(),
             {{"name", "x"}, {"role", "admin"}, {"expires_at", "2001-01-01T00:00:00Z"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["field"], "expires_at");
}

TEST(ManagerApi, RolesDecideWhatAKeyMayDo) {
  ManagerHarness m;
  std::string op = m.NewKey(m.primary_key(), "operator");
  std::string aud = m.NewKey(m.primary_key(), "auditor");
  Json policy = {{"name", "p"}, {"document", ValidPolicyDocument()}};
  // Operator: everything but keys and tenant settings; no audit log.
  Reply r = m.Post("/api/v1/policies", op, policy);
  EXPECT_EQ(r.status, 201);
  std::string pid = r.body["id"];
  EXPECT_EQ(m.Post("/api/v1/activation-tokens", op, Json::object()).status, 201);
  r = m.Post("/api/v1/apikeys", op, {{"name", "x"}, {"role", "admin"}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body["error"]["code"], "forbidden");
  EXPECT_EQ(m.Get("/api/v1/apikeys", op).status, 403);
  EXPECT_EQ(m.Patch("/api/v1/settings", op, {{"event_retention_days", 10}}).status, 403);
  EXPECT_EQ(m.Get("/api/v1/settings", op).status, 200);
  EXPECT_EQ(m.Get("/api/v1/audit", op).status, 403);
  // Auditor: reads everything, changes nothing.
  EXPECT_EQ(m.Post("/api/v1/policies", aud, policy).status, 403);
  EXPECT_EQ(m.Patch("/api/v1/policies/" + pid, aud, {{"name", "q"}}).status, 403);
  EXPECT_EQ(m.Delete("/api/v1/policies/" + pid, aud).status, 403);
  EXPECT_EQ(m.Post("/api/v1/activation-tokens", aud, Json::object()).status, 403);
  EXPECT_EQ(m.Get("/api/v1/policies/" + pid, aud).status, 200);
  EXPECT_EQ(m.Get("/api/v1/audit", aud).status, 200);
  EXPECT_EQ(m.Get("/api/v1/apikeys", aud).status, 200);
  EXPECT_EQ(m.Get("/api/v1/events", aud).status, 200);
  // Admin: settings.
  r = m.Patch("/api/v1/settings", m.primary_key(),
              {{"event_retention_days", 30}, {"heartbeat_interval_s", 30}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["event_retention_days"], 30);
  EXPECT_EQ(m.Get("/api/v1/settings", aud).body["heartbeat_interval_s"], 30);
}

TEST(ManagerApi, PoliciesAreValidatedByTheAgentsParserAndVersioned) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  Reply r = m.Post(
      "/api/v1/policies", k,
      {{"name", "bad"},
       {"document", {{"integrity", {{"paths", {{{"path", "/x"}, {"recursive", "maybe"}}}}}}}}});
  ASSERT_EQ(r.status, 400) << r.raw;
  EXPECT_EQ(r.body["error"]["code"], "invalid_policy");
  EXPECT_EQ(r.body["error"]["field"], "document.integrity.paths[0].recursive") << r.raw;
  r = m.Post("/api/v1/policies", k, {{"name", "bad"}, {"document", {{"firewal", Json::object()}}}});
  ASSERT_EQ(r.status, 400);
  EXPECT_NE(r.body["error"]["message"].get<std::string>().find("firewal"), std::string::npos);
  EXPECT_EQ(m.Get("/api/v1/policies", k).body["items"].size(), 0u);  // nothing stored

  std::string id = m.NewPolicy(k, "web");
  r = m.Patch("/api/v1/policies/" + id, k,
              {{"document", {{"integrity", {{"paths", {"/srv"}}, {"schedule", "30m"}}}}}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["version"], 2);
  EXPECT_EQ(r.body["name"], "web");
  r = m.Do("PUT", "/api/v1/policies/" + id, k,
           Json{{"name", "web2"}, {"document", ValidPolicyDocument()}}.dump());
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["version"], 3);
  // A bad update leaves the stored policy as it was.
  r = m.Patch("/api/v1/policies/" + id, k, {{"document", {{"integrity", {{"paths", 5}}}}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(m.Get("/api/v1/policies/" + id, k).body["version"], 3);
  // In use by an agent: 409; unassigned: deleted.
  auto [agent, cred] = m.NewAgent(k, "web-01", id);
  EXPECT_EQ(m.Get("/api/v1/agents/" + agent, k).body["policy_id"], id);
  EXPECT_EQ(m.Delete("/api/v1/policies/" + id, k).status, 409);
  ASSERT_EQ(m.Patch("/api/v1/agents/" + agent, k, {{"policy_id", nullptr}}).status, 200);
  Reply toks = m.Get("/api/v1/activation-tokens", k);
  for (const auto& t : toks.body["items"]) {
    ASSERT_EQ(m.Delete("/api/v1/activation-tokens/" + t["id"].get<std::string>(), k).status, 204);
  }
  // Revoked tokens still reference the policy: the store refuses while any token names it.
  Reply del = m.Delete("/api/v1/policies/" + id, k);
  EXPECT_TRUE(del.status == 204 || del.status == 409) << del.raw;
}

TEST(ManagerApi, MalformedBodiesAndParametersAnswer400NamingTheField) {
  manager::ApiOptions opt;
  opt.body_limit = 64 * 1024;
  ManagerHarness m(opt);
  const std::string k = m.primary_key();
  Reply r = m.Do("POST", "/api/v1/policies", k, "{\"name\": \"x\", ");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["code"], "invalid_json");
  EXPECT_EQ(r.body["error"]["field"], "body");
  r = m.Post("/api/v1/policies", k, {{"name", 5}, {"document", Json::object()}});
  EXPECT_EQ(r.body["error"]["field"], "name");
  EXPECT_EQ(r.body["error"]["code"], "invalid_field");
  r = m.Post("/api/v1/policies", k, {{"name", "x"}, {"document", Json::object()}, {"colour", 1}});
  EXPECT_EQ(r.body["error"]["field"], "colour");
  EXPECT_EQ(r.body["error"]["code"], "unknown_field");
  r = m.Post("/api/v1/policies", k, {{"name", "x"}});
  EXPECT_EQ(r.body["error"]["field"], "document");
  EXPECT_EQ(r.body["error"]["code"], "missing_field");
  r = m.Post("/api/v1/policies", k,
             {{"name", std::string("a\0b", 3)}, {"document", ValidPolicyDocument()}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["field"], "name");
  r = m.Get("/api/v1/events?module=%FF%FE", k);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["field"], "module");
  r = m.Patch("/api/v1/settings", k, {{"event_retention_days", 0}});
  EXPECT_EQ(r.body["error"]["field"], "event_retention_days");
  r = m.Post("/api/v1/tenants", k, {{"name", "x"}, {"settings", {{"heartbeat_interval_s", "1m"}}}});
  EXPECT_EQ(r.body["error"]["field"], "settings.heartbeat_interval_s");
  // Oversized, plain and gzip (the limit counts decompressed bytes).
  std::string big =
      Json{{"name", std::string(100 * 1024, 'a')}, {"document", Json::object()}}.dump();
  r = m.Do("POST", "/api/v1/policies", k, big);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["code"], "body_too_large");
  r = m.Do("POST", "/api/v1/policies", k, big, "application/json", "gzip");
  EXPECT_EQ(r.status, 400) << r.raw;
  EXPECT_EQ(r.body["error"]["code"], "body_too_large");
  r = m.Do("POST", "/api/v1/policies", k, "{}", "application/json", "br");
  EXPECT_EQ(r.status, 400);
  // Query parameters and pagination.
  r = m.Get("/api/v1/events?limit=0", k);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["field"], "limit");
  r = m.Get("/api/v1/events?cursor=abc", k);
  EXPECT_EQ(r.body["error"]["field"], "cursor");
  EXPECT_EQ(r.body["error"]["code"], "invalid_pagination");
  r = m.Get("/api/v1/audit?limit=5000", k);
  EXPECT_EQ(r.body["error"]["field"], "limit");
  r = m.Get("/api/v1/events?form=2026-01-01T00:00:00Z", k);
  EXPECT_EQ(r.body["error"]["field"], "form");
  r = m.Get("/api/v1/events?from=yesterday", k);
  EXPECT_EQ(r.body["error"]["field"], "from");
  r = m.Get("/api/v1/agents?status=asleep", k);
  EXPECT_EQ(r.body["error"]["field"], "status");
  // Unknown paths and methods.
  EXPECT_EQ(m.Get("/api/v1/nothing", k).status, 404);
  r = m.Do("POST", "/api/v1/events", k, "{}");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.allow, "GET");
  // Nothing above was stored.
  EXPECT_EQ(m.Get("/api/v1/policies", k).body["items"].size(), 0u);
  EXPECT_EQ(m.Get("/api/v1/tenants", k).body["items"].size(), 1u);
  // The server still answers.
  EXPECT_EQ(m.Get("/api/v1/settings", k).status, 200);
}

TEST(ManagerApi, RateLimitsPerKeyAndPerTenantAnswer429WithRetryAfter) {
  manager::ApiOptions opt;
  opt.key_rate_per_minute = 5;
  opt.tenant_rate_per_minute = 8;
  ManagerHarness m(opt);
  // The harness's clock does not move: no refill during the test.
  std::string a = m.primary_key();
  for (int i = 0; i < 5; ++i) ASSERT_EQ(m.Get("/api/v1/settings", a).status, 200) << i;
  Reply r = m.Get("/api/v1/settings", a);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.body["error"]["code"], "rate_limited");
  EXPECT_FALSE(r.retry_after.empty());
  EXPECT_GE(std::stoi(r.retry_after), 1);
  // Another key of the same tenant: its own 5, but the tenant's 8 run out first.
  std::string b;
  {
    // Create the key directly: the API would count against the exhausted limits.
    manager::ApiKey k;
    k.id = "key-b";
    k.tenant_id = m.primary_tenant();
    k.name = "b";
    k.role = manager::Role::kAdmin;
    b = "wak_second_key_for_rate_test";
    k.secret_hash = manager::HashSecret(b);
    k.created_at = m.clock().Now();
    ASSERT_TRUE(m.store().CreateApiKey(k).ok());
  }
  int ok = 0;
  for (int i = 0; i < 5; ++i) ok += m.Get("/api/v1/settings", b).status == 200;
  EXPECT_EQ(ok, 3);  // 8 per tenant - 5 used by a (its 6th call was refused before the tenant)
  m.clock().Advance(std::chrono::seconds(60));
  EXPECT_EQ(m.Get("/api/v1/settings", a).status, 200);
}

TEST(ManagerApi, AuditRecordsEveryMutatingCallWithItsResult) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  std::string pid = m.NewPolicy(k, "audited");
  EXPECT_EQ(m.Post("/api/v1/policies", k, {{"name", 1}}).status, 400);
  std::string op = m.NewKey(k, "operator");
  EXPECT_EQ(m.Patch("/api/v1/settings", op, {{"event_retention_days", 5}}).status, 403);
  EXPECT_EQ(m.Delete("/api/v1/policies/" + pid, k).status, 204);
  Reply r = m.Get("/api/v1/audit?limit=2", k);
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_EQ(r.body["items"].size(), 2u);
  std::vector<Json> all(r.body["items"].begin(), r.body["items"].end());
  std::string cursor = r.body["next_cursor"];
  while (!cursor.empty()) {
    r = m.Get("/api/v1/audit?limit=2&cursor=" + cursor, k);
    ASSERT_EQ(r.status, 200);
    for (const auto& e : r.body["items"]) all.push_back(e);
    cursor = r.body["next_cursor"].is_string() ? r.body["next_cursor"].get<std::string>() : "";
  }
  // create policy 201, bad create 400, create key 201, forbidden settings 403, delete 204.
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[0]["method"], "POST");
  EXPECT_EQ(all[0]["path"], "/api/v1/policies");
  EXPECT_EQ(all[0]["status"], 201);
  EXPECT_EQ(all[0]["detail"]["object_id"], pid);
  EXPECT_TRUE(all[0]["actor"].get<std::string>().starts_with("apikey:"));
  EXPECT_EQ(all[1]["status"], 400);
  EXPECT_EQ(all[1]["detail"]["error"]["field"], "name");
  EXPECT_EQ(all[2]["path"], "/api/v1/apikeys");
  EXPECT_EQ(all[3]["status"], 403);
  EXPECT_EQ(all[3]["method"], "PATCH");
  EXPECT_NE(all[3]["actor"], all[0]["actor"]);
  EXPECT_EQ(all[4]["method"], "DELETE");
  EXPECT_EQ(all[4]["status"], 204);
  // No secret in the audit log.
  for (const auto& e : all) EXPECT_EQ(e.dump().find("wak_"), std::string::npos) << e.dump();
}

TEST(ManagerApi, AgentsListFilterAssignDeleteAndCommands) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  std::string pid = m.NewPolicy(k, "web");
  auto [a1, c1] = m.NewAgent(k, "web-01", pid);
  auto [a2, c2] = m.NewAgent(k, "db-01");
  Reply r = m.Get("/api/v1/agents", k);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["items"].size(), 2u);
  r = m.Get("/api/v1/agents?hostname=db-01", k);
  ASSERT_EQ(r.body["items"].size(), 1u);
  EXPECT_EQ(r.body["items"][0]["id"], a2);
  EXPECT_EQ(r.body["items"][0]["status"], "online");
  r = m.Get("/api/v1/agents?policy=" + pid, k);
  ASSERT_EQ(r.body["items"].size(), 1u);
  EXPECT_EQ(r.body["items"][0]["id"], a1);
  EXPECT_EQ(m.Get("/api/v1/agents?status=offline", k).body["items"].size(), 0u);
  ASSERT_EQ(m.Patch("/api/v1/agents/" + a2, k, {{"policy_id", pid}}).status, 200);
  EXPECT_EQ(m.Get("/api/v1/agents?policy=" + pid, k).body["items"].size(), 2u);
  r = m.Patch("/api/v1/agents/" + a2, k, {{"policy_id", "no-such-policy"}});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body["error"]["field"], "policy_id");
  // Commands.
  r = m.Post("/api/v1/agents/" + a1 + "/commands", k,
             {{"name", "antimalware.scan"}, {"args", {{"paths", {"/srv"}}}}});
  ASSERT_EQ(r.status, 201) << r.raw;
  EXPECT_EQ(r.body["state"], "queued");
  r = m.Post("/api/v1/agents/" + a1 + "/commands", k,
             {{"name", "antimalware.scan"}, {"args", {{"paths", {"relative"}}}}});
  EXPECT_EQ(r.body["error"]["field"], "args.paths[0]");
  r = m.Post("/api/v1/agents/" + a1 + "/commands", k, {{"name", "rm -rf"}});
  EXPECT_EQ(r.body["error"]["field"], "name");
  r = m.Get("/api/v1/agents/" + a1 + "/commands", k);
  EXPECT_EQ(r.body["items"].size(), 1u);
  // Delete: the credential stops working.
  EXPECT_EQ(m.Delete("/api/v1/agents/" + a2, k).status, 204);
  EXPECT_EQ(m.Get("/api/v1/agents/" + a2, k).status, 404);
  r = m.Post("/agent/v1/heartbeat", c2, {{"machine_id", "machine-1"}});
  EXPECT_EQ(r.status, 401);
}

Status AcceptAnySection(const agent::PolicySection&, const ConfigNode&) { return Status::Ok(); }
bool AlwaysEnabled(const agent::PolicySection&) { return true; }

// A module the manager was not built with declares the key fields of its events (a test-only
// schema): its events become searchable by them through the API, with no manager change. The
// same field in another module's event is not indexed: each module's own declaration counts.
TEST(ManagerApi, EventsAreSearchableByTheFieldsANewModuleDeclares) {
  static constexpr std::string_view kFields[] = {"dns.question.name", "rule.ruleset"};
  std::vector<agent::ModuleSchema> schemas(agent::ModuleSchemas().begin(),
                                           agent::ModuleSchemas().end());
  schemas.push_back({"dnsguard", &AcceptAnySection, &AlwaysEnabled, {}, kFields});
  manager::ApiOptions options;
  options.event_schemas = schemas;
  ManagerHarness m(options);
  const std::string k = m.primary_key();
  auto [agent, cred] = m.NewAgent(k, "web-01");
  const std::string ts =
      FormatTimestamp(std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000)));
  std::string batch =
      R"({"@timestamp":")" + ts +
      R"(","event":{"id":"0193-d-1","module":"dnsguard","action":"blocked","severity":3},)"
      R"("dns":{"question":{"name":"evil.example.org","type":"A"}},"rule":{"ruleset":"bad-domains"}})"
      "\n" +
      R"({"@timestamp":")" + ts +
      R"(","event":{"id":"0193-d-2","module":"integrity","action":"modified","severity":2},)"
      R"("dns":{"question":{"name":"evil.example.net"}},"file":{"path":"/etc/hosts"}})"
      "\n";
  Reply r = m.Do("POST", "/agent/v1/events", cred, batch, "application/x-ndjson", "gzip");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["accepted"], 2);

  r = m.Get("/api/v1/events?q=evil.example", k);
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_EQ(r.body["items"].size(), 1u) << r.raw;
  EXPECT_EQ(r.body["items"][0]["event"]["id"], "0193-d-1");
  r = m.Get("/api/v1/events?q=bad-domains", k);
  ASSERT_EQ(r.body["items"].size(), 1u) << r.raw;
  EXPECT_EQ(r.body["items"][0]["event"]["id"], "0193-d-1");
  r = m.Get("/api/v1/events?q=/etc/hosts", k);
  ASSERT_EQ(r.body["items"].size(), 1u) << r.raw;
  EXPECT_EQ(r.body["items"][0]["event"]["id"], "0193-d-2");
}

TEST(ManagerApi, EventsQueryFiltersPaginatesAndCounts) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  auto [agent, cred] = m.NewAgent(k, "web-01");
  auto [agent2, cred2] = m.NewAgent(k, "web-02", "", "machine-2");
  auto base = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
  std::string batch;
  for (int i = 0; i < 30; ++i) {
    batch += EventLine("0193-e-" + std::to_string(100 + i),
                       FormatTimestamp(base + std::chrono::minutes(i * 5)),
                       i % 3 == 0 ? "antimalware" : "integrity", i % 2 ? "modified" : "created",
                       i % 5, i % 10 == 0 ? "/var/www/shell.php" : "/var/www/page.html");
  }
  Reply r = m.Do("POST", "/agent/v1/events", cred, batch, "application/x-ndjson", "gzip");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["accepted"], 30);
  r = m.Do("POST", "/agent/v1/events", cred2, EventLine("0193-f-1", FormatTimestamp(base)),
           "application/x-ndjson", "gzip");
  ASSERT_EQ(r.status, 200);

  // Everything, in time order, in pages of 7 through the cursor.
  std::vector<std::string> ids;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    std::string q = "/api/v1/events?limit=7&agent=" + agent;
    if (!cursor.empty()) q += "&cursor=" + cursor;
    r = m.Get(q, k);
    ASSERT_EQ(r.status, 200) << r.raw;
    for (const auto& e : r.body["items"]) ids.push_back(e["event"]["id"]);
    if (r.body["next_cursor"].is_null()) break;
    cursor = r.body["next_cursor"];
  }
  ASSERT_EQ(ids.size(), 30u);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(ids[i], "0193-e-" + std::to_string(100 + i));
  // Filters.
  r = m.Get("/api/v1/events?module=antimalware&agent=" + agent, k);
  EXPECT_EQ(r.body["items"].size(), 10u);
  r = m.Get("/api/v1/events?min_severity=high&agent=" + agent, k);
  EXPECT_EQ(r.body["items"].size(), 12u);  // severity 3 or 4: i % 5 in {3, 4}
  r = m.Get("/api/v1/events?action=created&agent=" + agent, k);
  EXPECT_EQ(r.body["items"].size(), 15u);
  r = m.Get("/api/v1/events?q=shell.php", k);
  EXPECT_EQ(r.body["items"].size(), 3u);
  r = m.Get("/api/v1/events?from=" + FormatTimestamp(base + std::chrono::minutes(50)) +
                "&to=" + FormatTimestamp(base + std::chrono::minutes(100)) + "&agent=" + agent,
            k);
  EXPECT_EQ(r.body["items"].size(), 10u);  // i = 10..19
  r = m.Get("/api/v1/events?order=desc&limit=1&agent=" + agent, k);
  EXPECT_EQ(r.body["items"][0]["event"]["id"], "0193-e-129");
  EXPECT_EQ(r.body["items"][0]["agent"]["name"], "web-01");
  // Counts per hour bucket.
  r = m.Get("/api/v1/events/counts?bucket=1h&agent=" + agent + "&from=" + FormatTimestamp(base) +
                "&to=" + FormatTimestamp(base + std::chrono::hours(3)),
            k);
  ASSERT_EQ(r.status, 200) << r.raw;
  int64_t total = 0;
  for (const auto& c : r.body["items"]) total += c["count"].get<int64_t>();
  EXPECT_EQ(total, 30);
  EXPECT_EQ(r.body["bucket_s"], 3600);
  r = m.Get("/api/v1/events/counts?bucket=1s", k);
  EXPECT_EQ(r.body["error"]["field"], "bucket");
}

// The cross-tenant walk: with tenant A's keys (an admin of a non-primary tenant, and the primary
// tenant's admin), every route that names an object, with every method, on tenant B's objects,
// answers 404 and changes nothing.
TEST(ManagerApi, CrossTenantWalkAnswers404OnEveryEndpointAndMethod) {
  ManagerHarness m;
  auto [a_id, a_key] = m.NewTenant("tenant-a");
  auto [b_id, b_key] = m.NewTenant("tenant-b");
  // Tenant B's objects.
  std::string b_policy = m.NewPolicy(b_key, "b-policy");
  Reply r = m.Post("/api/v1/apikeys", b_key, {{"name", "b-op"}, {"role", "operator"}});
  std::string b_apikey = r.body["id"];
  std::string b_op_secret = r.body["secret"];
  r = m.Post("/api/v1/activation-tokens", b_key, {{"policy_id", b_policy}});
  std::string b_token = r.body["id"];
  auto [b_agent, b_cred] = m.NewAgent(b_key, "b-host", b_policy);
  r = m.Post("/api/v1/users", b_key, {{"username", "b-user"}, {"role", "operator"}});
  ASSERT_EQ(r.status, 201);
  std::string b_user = r.body["id"];
  r = m.Post("/api/v1/agents/" + b_agent + "/commands", b_key, {{"name", "integrity.check"}});
  ASSERT_EQ(r.status, 201);
  ASSERT_EQ(
      m.Do("POST", "/agent/v1/events", b_cred,
           EventLine("0193-b-1", FormatTimestamp(m.clock().Now())), "application/x-ndjson", "gzip")
          .status,
      200);
  // A severe event: B has an alert.
  ASSERT_EQ(m.Do("POST", "/agent/v1/events", b_cred,
                 EventLine("0193-b-2", FormatTimestamp(m.clock().Now()), "integrity",
                           "baseline_tampered", 4),
                 "application/x-ndjson", "gzip")
                .status,
            200);
  r = m.Get("/api/v1/alerts", b_key);
  ASSERT_EQ(r.body["items"].size(), 1u) << r.raw;
  std::string b_alert = r.body["items"][0]["id"];
  // A SIEM forwarder of B (issue 19).
  r = m.Post("/api/v1/siem-forwarders", b_key,
             {{"name", "b-soc"},
              {"transport", "tcp"},
              {"host", "127.0.0.1"},
              {"port", 6514},
              {"format", "cef"}});
  ASSERT_EQ(r.status, 201) << r.raw;
  std::string b_forwarder = r.body["id"];
  // B's report and report schedule (issue 19).
  r = m.Post("/api/v1/reports", b_key, {{"kind", "summary"}, {"format", "csv"}});
  ASSERT_EQ(r.status, 201) << r.raw;
  std::string b_report = r.body["id"];
  r = m.Post("/api/v1/report-schedules", b_key,
             {{"name", "b-weekly"}, {"frequency", "weekly"}, {"kind", "summary"}});
  ASSERT_EQ(r.status, 201) << r.raw;
  std::string b_schedule = r.body["id"];
  // B's alert channel and rule (issue 19).
  r = m.Post("/api/v1/alert-channels", b_key,
             {{"name", "b-hook"},
              {"kind", "webhook"},
              {"config", {{"url", "https://127.0.0.1:9/hook"}, {"secret", "b-secret"}}}});
  ASSERT_EQ(r.status, 201) << r.raw;
  std::string b_channel = r.body["id"];
  EXPECT_FALSE(r.body["config"].contains("secret"));
  EXPECT_EQ(r.body["config"]["secret_set"], true);
  r = m.Post("/api/v1/alert-rules", b_key,
             {{"name", "b-rule"},
              {"filter", {{"modules", {"ips"}}, {"hostnames", {"b-*"}}}},
              {"channels", {b_channel}}});
  ASSERT_EQ(r.status, 201) << r.raw;
  std::string b_rule = r.body["id"];
  // B's agent group (issue #18).
  r = m.Post("/api/v1/agent-groups", b_key, {{"name", "b-webs"}, {"policy_id", b_policy}});
  ASSERT_EQ(r.status, 201) << r.raw;
  std::string b_group = r.body["id"];
  // B's agent upgrade rollouts (issue #18, s9-upgrade).
  ASSERT_EQ(m.Do("PUT", "/api/v1/agent-groups/" + b_group + "/upgrade", b_key,
                 Json{{"version", "0.2.0"}}.dump())
                .status,
            200);
  ASSERT_EQ(m.Do("PUT", "/api/v1/policies/" + b_policy + "/upgrade", b_key,
                 Json{{"version", "0.2.0"}}.dump())
                .status,
            200);
  // B's egress feed (issue #17, s9-feeds).
  r = m.Do("POST", "/api/v1/feeds?name=b-feed&format=domains", b_key, "b.example\n", "text/plain");
  ASSERT_EQ(r.status, 201) << r.raw;
  std::string b_feed = r.body["id"];
  // Tenant A's own policy, to try B's ids in A's references.
  std::string a_policy = m.NewPolicy(a_key, "a-policy");
  auto [a_agent, a_cred] = m.NewAgent(a_key, "a-host");

  std::map<std::string, std::string> b_objects = {
      {"/api/v1/tenants/{id}", b_id},
      {"/api/v1/apikeys/{id}", b_apikey},
      {"/api/v1/activation-tokens/{id}", b_token},
      {"/api/v1/agents/{id}", b_agent},
      {"/api/v1/agents/{id}/commands", b_agent},
      {"/api/v1/policies/{id}", b_policy},
      {"/api/v1/users/{id}", b_user},
      {"/api/v1/policies/{id}/versions", b_policy},
      {"/api/v1/policies/{id}/versions/{version}", b_policy},
      {"/api/v1/alerts/{id}", b_alert},
      {"/api/v1/agents/{id}/blocked-addresses", b_agent},
      {"/api/v1/reports/{id}", b_report},
      {"/api/v1/reports/{id}/download", b_report},
      {"/api/v1/report-schedules/{id}", b_schedule},
      {"/api/v1/agents/{id}/blocked-addresses/{address}", b_agent},
      {"/api/v1/siem-forwarders/{id}", b_forwarder},
      {"/api/v1/siem-forwarders/{id}/backlog", b_forwarder},
      {"/api/v1/alerts/{id}/deliveries", b_alert},
      {"/api/v1/alert-rules/{id}", b_rule},
      {"/api/v1/alert-channels/{id}", b_channel},
      {"/api/v1/alert-channels/{id}/notify", b_channel},
      {"/api/v1/policies/{id}/egress-proposals", b_policy},
      {"/api/v1/agent-groups/{id}", b_group},
      {"/api/v1/agent-groups/{id}/upgrade", b_group},
      {"/api/v1/policies/{id}/upgrade", b_policy},
      {"/api/v1/feeds/{id}", b_feed},
      {"/api/v1/feeds/{id}/content", b_feed},
  };
  // Bodies that would be valid for A's own objects, so only tenancy decides.
  std::map<std::string, Json> bodies = {
      {"/api/v1/tenants/{id}", {{"name", "stolen"}}},
      {"/api/v1/agents/{id}", {{"policy_id", nullptr}}},
      {"/api/v1/activation-tokens/{id}", {{"policy_id", nullptr}}},
      {"/api/v1/agents/{id}/commands", {{"name", "integrity.check"}}},
      {"/api/v1/policies/{id}", {{"name", "stolen"}, {"document", ValidPolicyDocument()}}},
      {"/api/v1/users/{id}", {{"role", "admin"}}},
      {"/api/v1/alerts/{id}", {{"state", "acknowledged"}}},
      {"/api/v1/siem-forwarders/{id}", {{"enabled", false}}},
      {"/api/v1/report-schedules/{id}", {{"enabled", false}}},
      {"/api/v1/alert-rules/{id}", {{"name", "stolen"}}},
      {"/api/v1/alert-channels/{id}",
       {{"name", "stolen"}, {"config", {{"url", "https://127.0.0.1:9/x"}}}}},
      {"/api/v1/alert-channels/{id}/notify", {{"alert_id", b_alert}}},
      {"/api/v1/agent-groups/{id}", {{"name", "stolen"}}},
      {"/api/v1/agent-groups/{id}/upgrade", {{"version", "0.2.0"}}},
      {"/api/v1/policies/{id}/upgrade", {{"version", "0.2.0"}}},
  };
  int walked = 0;
  std::set<std::string> patterns_seen;
  for (const std::string& key : {a_key, m.primary_key()}) {
    for (const auto& [method, pattern] : m.api().Routes()) {
      if (pattern.find("{id}") == std::string::npos) continue;
      patterns_seen.insert(pattern);
      ASSERT_TRUE(b_objects.count(pattern)) << "the walk does not know " << pattern;
      std::string path = pattern;
      path.replace(path.find("{id}"), 4, b_objects[pattern]);
      if (size_t v = path.find("{version}"); v != std::string::npos) path.replace(v, 9, "1");
      std::string body = bodies.count(pattern) ? bodies[pattern].dump() : "";
      if (method == "GET" || method == "DELETE") body = "";
      // The primary admin may manage tenant objects by design; everything else is B's.
      bool primary_on_tenant = key == m.primary_key() && pattern == "/api/v1/tenants/{id}";
      if (primary_on_tenant) continue;
      Reply w = m.Do(method, path, key, body);
      EXPECT_EQ(w.status, 404) << method << " " << path << " with "
                               << (key == a_key ? "tenant A" : "primary") << ": " << w.raw;
      ++walked;
    }
  }
  EXPECT_EQ(patterns_seen.size(), b_objects.size());
  EXPECT_GE(walked, 24);
  // References in bodies and filters: B's ids are unknown to A.
  r = m.Post("/api/v1/activation-tokens", a_key, {{"policy_id", b_policy}});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body["error"]["field"], "policy_id");
  r = m.Patch("/api/v1/agents/" + a_agent, a_key, {{"policy_id", b_policy}});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(m.Get("/api/v1/agents?policy=" + b_policy, a_key).body["items"].size(), 0u);
  // Agent groups: B's group is unknown in A's references and lists; B's group is untouched.
  r = m.Patch("/api/v1/agents/" + a_agent, a_key, {{"group_id", b_group}});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body["error"]["field"], "group_id");
  r = m.Post("/api/v1/agent-groups", a_key, {{"name", "a-webs"}, {"policy_id", b_policy}});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body["error"]["field"], "policy_id");
  r = m.Do(
      "PUT", "/api/v1/activation-rules", a_key,
      Json{{"rules", {{{"name", "x"}, {"match", {{"os", "*"}}}, {"group_id", b_group}}}}}.dump());
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body["error"]["field"], "rules[0].group_id");
  EXPECT_EQ(m.Get("/api/v1/agent-groups", a_key).body["items"].size(), 0u);
  EXPECT_EQ(m.Get("/api/v1/agent-upgrades", a_key).body["items"].size(), 0u);
  EXPECT_EQ(m.Get("/api/v1/agent-upgrades", b_key).body["items"].size(), 2u);
  EXPECT_EQ(m.Get("/api/v1/agent-groups/" + b_group + "/upgrade", b_key).body["version"], "0.2.0");
  EXPECT_EQ(m.Get("/api/v1/agents?group=" + b_group, a_key).body["items"].size(), 0u);
  EXPECT_EQ(m.Get("/api/v1/agent-groups/" + b_group, b_key).body["name"], "b-webs");
  EXPECT_EQ(m.Get("/api/v1/feeds", a_key).body["items"].size(), 0u);
  EXPECT_EQ(m.Get("/api/v1/feeds/" + b_feed + "/content", b_key).raw, "b.example\n");
  EXPECT_EQ(m.Get("/api/v1/events?agent=" + b_agent, a_key).body["items"].size(), 0u);
  EXPECT_EQ(m.Get("/api/v1/events", a_key).body["items"].size(), 0u);
  EXPECT_EQ(m.Get("/api/v1/alerts", a_key).body["items"].size(), 0u);
  EXPECT_EQ(m.Get("/api/v1/siem-forwarders", a_key).body["items"].size(), 0u);
  r = m.Patch("/api/v1/alerts", a_key, {{"ids", {b_alert}}, {"state", "resolved"}});
  EXPECT_EQ(r.status, 404) << r.raw;
  // Alert rules and channels (issue 19): A lists only its own; B's channel in A's rule is unknown.
  EXPECT_EQ(m.Get("/api/v1/alert-channels", a_key).body["items"].size(), 0u);
  Reply a_rules = m.Get("/api/v1/alert-rules", a_key);
  for (const auto& rule : a_rules.body["items"]) {
    EXPECT_TRUE(rule["builtin"].get<bool>()) << rule.dump();
  }
  r = m.Post("/api/v1/alert-rules", a_key, {{"name", "a-rule"}, {"channels", {b_channel}}});
  EXPECT_EQ(r.status, 400) << r.raw;
  EXPECT_EQ(r.body["error"]["field"], "channels[0]");
  EXPECT_EQ(m.Get("/api/v1/alert-rules/" + b_rule, b_key).body["name"], "b-rule");
  EXPECT_EQ(m.Get("/api/v1/alert-channels/" + b_channel, b_key).body["name"], "b-hook");
  // B's objects are untouched.
  EXPECT_EQ(m.Get("/api/v1/policies/" + b_policy, b_key).body["name"], "b-policy");
  EXPECT_EQ(m.Get("/api/v1/policies/" + b_policy, b_key).body["version"], 1);
  EXPECT_EQ(m.Get("/api/v1/settings", b_op_secret).status, 200);
  EXPECT_FALSE(m.Get("/api/v1/activation-tokens/" + b_token, b_key).body["revoked"]);
  EXPECT_EQ(m.Get("/api/v1/agents/" + b_agent, b_key).body["policy_id"], b_policy);
  EXPECT_EQ(m.Get("/api/v1/agents/" + b_agent + "/commands", b_key).body["items"].size(), 1u);
  EXPECT_EQ(m.Get("/api/v1/tenants/" + b_id, m.primary_key()).body["name"], "tenant-b");
  EXPECT_EQ(m.Get("/api/v1/events", b_key).body["items"].size(), 2u);
  EXPECT_EQ(m.Get("/api/v1/alerts/" + b_alert, b_key).body["state"], "open");
  EXPECT_EQ(m.Get("/api/v1/users/" + b_user, b_key).body["role"], "operator");
  EXPECT_EQ(m.Get("/api/v1/users", a_key).body["items"].size(), 0u);
  // And B's agent credential cannot reach A's data either.
  EXPECT_EQ(m.Get("/api/v1/events", b_cred).status, 401);
  (void)a_policy;
  (void)a_id;
  (void)a_cred;
}

// Issue 19: a tenant's own rule raises an alert of its own beside the built-in one, at ingestion,
// and queues a notification to its channel in the same transaction; a disabled default raises
// nothing; errors name the field.
TEST(ManagerApi, AlertRulesRaiseTheirOwnAlertsAndQueueNotificationsAtIngestion) {
  ManagerHarness m;
  auto [t, key] = m.NewTenant("shop");
  Reply r = m.Post("/api/v1/alert-channels", key,
                   {{"name", "soc"},
                    {"kind", "webhook"},
                    {"config", {{"url", "https://127.0.0.1:9/hook"}, {"format", "slack"}}}});
  ASSERT_EQ(r.status, 201) << r.raw;
  std::string channel = r.body["id"];
  r = m.Post("/api/v1/alert-rules", key,
             {{"name", "web logins"},
              {"filter", {{"modules", {"ips"}}, {"hostnames", {"web-*"}}}},
              {"window_s", 600},
              {"channels", {channel}}});
  ASSERT_EQ(r.status, 201) << r.raw;
  std::string rule = r.body["id"];
  EXPECT_EQ(r.body["builtin"], false);
  EXPECT_EQ(r.body["filter"]["hostnames"][0], "web-*");
  r = m.Post("/api/v1/alert-rules", key, {{"name", "bad"}, {"filter", {{"modules", {1}}}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["field"], "filter.modules[0]");
  // The default for healed tampering: off.
  r = m.Do("PUT", "/api/v1/alert-rules/builtin.tampering_healed", key,
           Json{{"enabled", false}}.dump());
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["enabled"], false);
  EXPECT_EQ(r.body["filter"]["actions"][0], "restored");
  r = m.Do("PUT", "/api/v1/alert-rules/builtin.ips_block", key,
           Json{{"filter", Json::object()}}.dump());
  EXPECT_EQ(r.status, 400);

  auto [web, web_cred] = m.NewAgent(key, "web-01", "", "m-web");
  auto [db, db_cred] = m.NewAgent(key, "db-01", "", "m-db");
  const std::string now = FormatTimestamp(m.clock().Now());
  auto send = [&](const std::string& cred, const std::string& id, const std::string& module,
                  const std::string& action, int severity, const std::string& path) {
    Reply r =
        m.Do("POST", "/agent/v1/events", cred, EventLine(id, now, module, action, severity, path),
             "application/x-ndjson", "gzip");
    EXPECT_EQ(r.body["accepted"].get<int>() + r.body["duplicates"].get<int>(), 1) << r.raw;
    return r.status;
  };
  ASSERT_EQ(send(web_cred, "e-1", "ips", "blocked", 3, "/login.php"), 200);
  ASSERT_EQ(send(db_cred, "e-2", "ips", "blocked", 3, "/login.php"), 200);         // not web-*
  ASSERT_EQ(send(web_cred, "e-3", "autoheal", "restored", 2, "/var/www/a"), 200);  // default off
  std::map<std::string, int> by_source;
  std::string rule_alert;
  Reply alerts = m.Get("/api/v1/alerts", key);
  for (const auto& a : alerts.body["items"]) {
    const std::string source = a["source"].get<std::string>();
    by_source[source] += 1;
    if (source == rule) rule_alert = a["id"].get<std::string>();
  }
  EXPECT_EQ(by_source["builtin"], 2) << m.Get("/api/v1/alerts", key).raw;  // both IPS blocks
  EXPECT_EQ(by_source[rule], 1);                                           // only web-01's
  EXPECT_EQ(by_source.size(), 2u);
  ASSERT_FALSE(rule_alert.empty());
  r = m.Get("/api/v1/alerts/" + rule_alert + "/deliveries", key);
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_EQ(r.body["items"].size(), 1u);
  EXPECT_EQ(r.body["items"][0]["channel_id"], channel);
  EXPECT_EQ(r.body["items"][0]["state"], "pending");
  EXPECT_EQ(r.body["items"][0]["rule_id"], rule);
  // Resent: nothing counts twice, nothing is queued twice.
  ASSERT_EQ(send(web_cred, "e-1", "ips", "blocked", 3, "/login.php"), 200);
  EXPECT_EQ(m.Get("/api/v1/alerts/" + rule_alert, key).body["count"], 1);
  EXPECT_EQ(m.Get("/api/v1/alerts/" + rule_alert + "/deliveries", key).body["items"].size(), 1u);
  // Deleting the override brings the default back.
  EXPECT_EQ(m.Delete("/api/v1/alert-rules/builtin.tampering_healed", key).status, 204);
  EXPECT_EQ(m.Get("/api/v1/alert-rules/builtin.tampering_healed", key).body["enabled"], true);
  EXPECT_EQ(m.Delete("/api/v1/alert-rules/" + rule, key).status, 204);
  EXPECT_EQ(m.Get("/api/v1/alert-rules/" + rule, key).status, 404);
}

}  // namespace
}  // namespace ward::test
