#include "manager/api/openapi.h"

#include <string>

#include "agent/modules/schemas.h"

namespace ward::manager {
namespace {

using json = nlohmann::json;

json Ref(const std::string& name) { return {{"$ref", "#/components/schemas/" + name}}; }

json JsonContent(json schema) { return {{"application/json", {{"schema", std::move(schema)}}}}; }

json Resp(const std::string& description, json schema = nullptr) {
  json r = {{"description", description}};
  if (!schema.is_null()) r["content"] = JsonContent(std::move(schema));
  return r;
}

json Errors(std::initializer_list<int> codes) {
  json out = json::object();
  for (int c : codes) {
    std::string d = c == 400   ? "invalid request (the error names the field)"
                    : c == 401 ? "missing, invalid, revoked or expired API key"
                    : c == 403 ? "the key's role may not do this"
                    : c == 404 ? "no such object in the caller's tenant"
                    : c == 409 ? "conflict (in use, name taken)"
                    : c == 429 ? "rate limited (see Retry-After)"
                               : "error";
    out[std::to_string(c)] = Resp(d, Ref("Error"));
  }
  return out;
}

json Op(const std::string& summary, const std::string& roles, json responses, json body = nullptr,
        json params = json::array()) {
  json op = {{"summary", summary},
             {"description", "Roles: " + roles + "."},
             {"responses", std::move(responses)}};
  if (!body.is_null()) {
    op["requestBody"] = {{"required", true}, {"content", JsonContent(std::move(body))}};
  }
  if (!params.empty()) op["parameters"] = std::move(params);
  return op;
}

json Merge(json a, const json& b) {
  for (auto it = b.begin(); it != b.end(); ++it) a[it.key()] = it.value();
  return a;
}

json QueryParamSpec(const std::string& name, const std::string& description,
                    json schema = {{"type", "string"}}) {
  return {{"name", name}, {"in", "query"}, {"description", description}, {"schema", schema}};
}

json IdParam() {
  return {{"name", "id"}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}};
}

json List(const std::string& item) {
  return {{"type", "object"},
          {"properties", {{"items", {{"type", "array"}, {"items", Ref(item)}}}}}};
}

json Page(json item) {
  return {{"type", "object"},
          {"properties",
           {{"items", {{"type", "array"}, {"items", std::move(item)}}},
            {"next_cursor",
             {{"type", "string"},
              {"nullable", true},
              {"description", "pass as `cursor` for the next page; null at the end"}}}}}};
}

json Str() { return {{"type", "string"}}; }
json Int() { return {{"type", "integer"}}; }
json Bool() { return {{"type", "boolean"}}; }
json Time() { return {{"type", "string"}, {"format", "date-time"}}; }
json NullableStr() { return {{"type", "string"}, {"nullable", true}}; }
json NullableTime() { return {{"type", "string"}, {"format", "date-time"}, {"nullable", true}}; }

json Obj(json props, json required = json::array()) {
  json o = {{"type", "object"}, {"properties", std::move(props)}, {"additionalProperties", false}};
  if (!required.empty()) o["required"] = std::move(required);
  return o;
}

// The commands a manager may queue, from the table the agent dispatches with
// (agent/modules/schemas.h): the name enum, and each command's summary and argument schema.
json CommandCreate() {
  json names = json::array();
  std::string args_doc;
  for (const agent::CommandSpec* c : agent::AllCommands()) {
    names.push_back(std::string(c->name));
    args_doc += std::string(c->name) + ": " + std::string(c->summary) +
                "; args: " + json::parse(c->args_schema, nullptr, false).dump() + "\n";
  }
  return Obj({{"name", {{"type", "string"}, {"enum", names}}},
              {"args", {{"type", "object"}, {"description", args_doc}}}},
             {"name"});
}

json Build() {
  json schemas = {
      {"Error", Obj({{"error", Obj({{"code", Str()}, {"message", Str()}, {"field", Str()}},
                                   {"code", "message"})}},
                    {"error"})},
      {"Settings",
       Obj({{"event_retention_days",
             {{"type", "integer"}, {"minimum", 1}, {"maximum", 3650}, {"default", 91}}},
            {"heartbeat_interval_s",
             {{"type", "integer"}, {"minimum", 10}, {"maximum", 86400}, {"default", 60}}},
            {"inactive_agent_cleanup_days",
             {{"type", "integer"},
              {"minimum", 0},
              {"maximum", 3650},
              {"default", 30},
              {"description", "0 = never"}}}})},
      {"Tenant", Obj({{"id", Str()},
                      {"name", Str()},
                      {"primary", Bool()},
                      {"disabled", Bool()},
                      {"settings", Ref("Settings")},
                      {"created_at", Time()}})},
      {"TenantCreate",
       Obj({{"name", Str()},
            {"settings", Ref("Settings")},
            {"admin_user",
             Obj({{"username", Str()},
                  {"password", {{"type", "string"}, {"minLength", 12}, {"maxLength", 1024}}}},
                 {"username"})}},
           {"name"})},
      {"TenantUpdate", Obj({{"name", Str()}, {"disabled", Bool()}, {"settings", Ref("Settings")}})},
      {"ApiKey",
       Obj({{"id", Str()},
            {"name", Str()},
            {"role", {{"type", "string"}, {"enum", {"admin", "operator", "auditor"}}}},
            {"expires_at", NullableTime()},
            {"revoked", Bool()},
            {"created_at", Time()},
            {"secret", {{"type", "string"}, {"description", "only in the create response"}}}})},
      {"ApiKeyCreate",
       Obj({{"name", Str()},
            {"role", {{"type", "string"}, {"enum", {"admin", "operator", "auditor"}}}},
            {"expires_at", NullableTime()}},
           {"name", "role"})},
      {"User",
       Obj({{"id", Str()},
            {"username", Str()},
            {"role", {{"type", "string"}, {"enum", {"admin", "operator", "auditor"}}}},
            {"language", {{"type", "string"}, {"enum", {"en", "ja"}}}},
            {"time_zone", {{"type", "string"}, {"description", "IANA name; \"\" = the browser's"}}},
            {"totp_enabled", Bool()},
            {"created_at", Time()},
            {"password",
             {{"type", "string"},
              {"description", "only in the create response, when the password was generated"}}}})},
      {"UserCreate",
       Obj({{"username", Str()},
            {"role", {{"type", "string"}, {"enum", {"admin", "operator", "auditor"}}}},
            {"language", {{"type", "string"}, {"enum", {"en", "ja"}}}},
            {"password", {{"type", "string"}, {"minLength", 12}, {"maxLength", 1024}}}},
           {"username", "role"})},
      {"UserUpdate",
       Obj({{"role", {{"type", "string"}, {"enum", {"admin", "operator", "auditor"}}}},
            {"totp_enabled",
             {{"type", "boolean"},
              {"enum", {false}},
              {"description", "false turns the user's TOTP second factor off"}}},
            {"language", {{"type", "string"}, {"enum", {"en", "ja"}}}},
            {"password", {{"type", "string"}, {"minLength", 12}, {"maxLength", 1024}}}})},
      {"SignIn", Obj({{"username", Str()},
                      {"password", Str()},
                      {"totp_code",
                       {{"type", "string"},
                        {"description",
                         "the authenticator's 6-digit code, for users with TOTP on (without it: "
                         "401 totp_required)"}}}},
                     {"username", "password"})},
      {"TotpCode", Obj({{"code", Str()}}, {"code"})},
      {"TotpEnrolment", Obj({{"secret", Str()},
                             {"uri", Str()},
                             {"digits", Int()},
                             {"period", Int()},
                             {"algorithm", Str()}})},
      {"Session", Obj({{"user", Ref("User")},
                       {"tenant", Obj({{"id", Str()}, {"name", Str()}, {"primary", Bool()}})},
                       {"csrf_token",
                        {{"type", "string"},
                         {"description",
                          "send as X-Ward-CSRF on every mutating request made with the cookie"}}},
                       {"idle_expires_at", Time()},
                       {"expires_at", Time()}})},
      {"Info", Obj({{"version", Str()}, {"tls_fingerprint", Str()}})},
      {"ActivationToken",
       Obj({{"id", Str()},
            {"name", Str()},
            {"policy_id", NullableStr()},
            {"expires_at", NullableTime()},
            {"max_uses", {{"type", "integer"}, {"nullable", true}}},
            {"uses", Int()},
            {"revoked", Bool()},
            {"created_at", Time()},
            {"token", {{"type", "string"}, {"description", "only in the create response"}}}})},
      {"ActivationTokenCreate",
       Obj({{"name", Str()},
            {"policy_id", NullableStr()},
            {"expires_at", NullableTime()},
            {"max_uses", {{"type", "integer"}, {"minimum", 1}, {"nullable", true}}}})},
      {"Agent",
       Obj({{"id", Str()},
            {"hostname", Str()},
            {"machine_id", Str()},
            {"version", Str()},
            {"policy_id", NullableStr()},
            {"applied_policy_version", Int()},
            {"status", {{"type", "string"}, {"enum", {"online", "offline"}}}},
            {"last_seen", NullableTime()},
            {"report",
             {{"type", "object"},
              {"description",
               "the last heartbeat's status object; modules[].health = {state: ok|degraded|failed, "
               "reasons: [string], counters: {...}} per running module (docs/agent-protocol.md)"}}},
            {"created_at", Time()}})},
      {"AgentUpdate", Obj({{"policy_id", NullableStr()}}, {"policy_id"})},
      {"ActivationTokenUpdate", Obj({{"policy_id", NullableStr()}}, {"policy_id"})},
      {"Command",
       Obj({{"id", Str()},
            {"agent_id", Str()},
            {"name", Str()},
            {"args", {{"type", "object"}}},
            {"state",
             {{"type", "string"}, {"enum", {"queued", "delivered", "completed", "failed"}}}},
            {"result", {{"nullable", true}}},
            {"created_at", Time()}})},
      {"CommandCreate", CommandCreate()},
      {"Policy", Obj({{"id", Str()},
                      {"name", Str()},
                      {"version", Int()},
                      {"document",
                       {{"type", "object"}, {"description", "the agent policy (docs/policy.md)"}}},
                      {"created_at", Time()},
                      {"updated_at", Time()}})},
      {"PolicyCreate",
       Obj({{"name", Str()},
            {"document", {{"type", "object"}}},
            {"document_text",
             {{"type", "string"},
              {"description",
               "instead of document: the document as YAML or JSON text (at most 1 MiB); errors "
               "carry line and column"}}},
            {"document_format", {{"type", "string"}, {"enum", {"yaml", "json"}}}}},
           {"name"})},
      {"PolicyUpdate",
       Obj({{"name", Str()},
            {"document", {{"type", "object"}}},
            {"document_text", Str()},
            {"document_format", {{"type", "string"}, {"enum", {"yaml", "json"}}}}})},
      {"Event", {{"type", "object"}, {"description", "an ECS event as stored (docs/events.md)"}}},
      {"EventCount",
       Obj({{"bucket", Time()}, {"module", Str()}, {"severity", Int()}, {"count", Int()}})},
      {"AuditEntry", Obj({{"id", Str()},
                          {"actor", Str()},
                          {"method", Str()},
                          {"path", Str()},
                          {"status", Int()},
                          {"detail", {{"type", "object"}}},
                          {"at", Time()}})},
  };
  json event_filters =
      json::array({QueryParamSpec("from", "inclusive start (RFC 3339)", Time()),
                   QueryParamSpec("to", "exclusive end (RFC 3339)", Time()),
                   QueryParamSpec("agent", "agent id"), QueryParamSpec("module", "event.module"),
                   QueryParamSpec("min_severity", "0..4 or info, low, medium, high, critical"),
                   QueryParamSpec("action", "event.action"),
                   QueryParamSpec("q", "substring of file.path/url.original or rule id/name")});
  json events_params = event_filters;
  events_params.push_back(QueryParamSpec("order", "asc (default) or desc",
                                         {{"type", "string"}, {"enum", {"asc", "desc"}}}));
  events_params.push_back(QueryParamSpec("limit", "1..1000, default 100",
                                         {{"type", "integer"}, {"minimum", 1}, {"maximum", 1000}}));
  events_params.push_back(QueryParamSpec("cursor", "next_cursor of the previous page"));
  json export_params = event_filters;
  export_params.push_back(QueryParamSpec("format", "csv (default) or ndjson",
                                         {{"type", "string"}, {"enum", {"csv", "ndjson"}}}));
  export_params.push_back(QueryParamSpec("order", "asc (default) or desc",
                                         {{"type", "string"}, {"enum", {"asc", "desc"}}}));
  json top_params = event_filters;
  top_params.push_back(QueryParamSpec(
      "field", "what to rank: rule, agent, path, module or action",
      {{"type", "string"}, {"enum", {"rule", "agent", "path", "module", "action"}}}));
  top_params.push_back(QueryParamSpec("limit", "1..1000, default 10",
                                      {{"type", "integer"}, {"minimum", 1}, {"maximum", 1000}}));
  json counts_params = event_filters;
  counts_params.push_back(QueryParamSpec("bucket", "bucket width, 1m..366d, default 1h"));

  const json read = Errors({401, 404, 429});
  const json write = Errors({400, 401, 403, 404, 409, 429});
  json paths = {
      {"/tenants",
       {{"get", Op("List tenants", "primary-tenant admin",
                   Merge({{"200", Resp("tenants", List("Tenant"))}}, Errors({401, 403, 429})))},
        {"post", Op("Create a tenant; the response carries its first admin key (shown once)",
                    "primary-tenant admin", Merge({{"201", Resp("created", Ref("Tenant"))}}, write),
                    Ref("TenantCreate"))}}},
      {"/tenants/{id}",
       {{"parameters", json::array({IdParam()})},
        {"get", Op("Get a tenant", "primary-tenant admin",
                   Merge({{"200", Resp("tenant", Ref("Tenant"))}}, read))},
        {"patch", Op("Rename, disable/enable, change settings", "primary-tenant admin",
                     Merge({{"200", Resp("updated", Ref("Tenant"))}}, write), Ref("TenantUpdate"))},
        {"delete", Op("Delete a tenant and everything it owns", "primary-tenant admin",
                      Merge({{"204", Resp("deleted")}}, write))}}},
      {"/settings",
       {{"get", Op("The caller's tenant settings", "any",
                   Merge({{"200", Resp("settings", Ref("Settings"))}}, read))},
        {"patch",
         Op("Change the caller's tenant settings", "admin",
            Merge({{"200", Resp("settings", Ref("Settings"))}}, write), Ref("Settings"))}}},
      {"/apikeys",
       {{"get", Op("List API keys (never their secrets)", "admin, auditor",
                   Merge({{"200", Resp("keys", List("ApiKey"))}}, read))},
        {"post",
         Op("Create an API key; `secret` is shown once", "admin",
            Merge({{"201", Resp("created", Ref("ApiKey"))}}, write), Ref("ApiKeyCreate"))}}},
      {"/apikeys/{id}",
       {{"parameters", json::array({IdParam()})},
        {"get", Op("Get an API key", "admin, auditor",
                   Merge({{"200", Resp("key", Ref("ApiKey"))}}, read))},
        {"delete", Op("Revoke an API key", "admin", Merge({{"204", Resp("revoked")}}, write))}}},
      {"/users",
       {{"get", Op("List console users (never their passwords)", "admin, auditor",
                   Merge({{"200", Resp("users", List("User"))}}, read))},
        {"post", Op("Create a console user; a generated `password` is shown once", "admin",
                    Merge({{"201", Resp("created", Ref("User"))}}, write), Ref("UserCreate"))}}},
      {"/users/{id}",
       {{"parameters", json::array({IdParam()})},
        {"get", Op("Get a console user", "admin, auditor",
                   Merge({{"200", Resp("user", Ref("User"))}}, read))},
        {"patch", Op("Change a user's role, language or password", "admin",
                     Merge({{"200", Resp("user", Ref("User"))}}, write), Ref("UserUpdate"))},
        {"delete", Op("Delete a console user and end their sessions", "admin",
                      Merge({{"204", Resp("deleted")}}, write))}}},
      {"/session",
       {{"post",
         Op("Sign in (no credential; Content-Type: application/json): sets the "
            "__Host-ward_session cookie; 429 when throttled",
            "any user", Merge({{"200", Resp("signed in", Ref("Session"))}}, write), Ref("SignIn"))},
        {"get", Op("The signed-in user, tenant, CSRF token and expiries (cookie)", "any user",
                   Merge({{"200", Resp("session", Ref("Session"))}}, read))},
        {"patch",
         Op("Set the signed-in user's language and/or time zone (cookie + X-Ward-CSRF)", "any user",
            Merge({{"200", Resp("session", Ref("Session"))}}, write),
            Obj({{"language", {{"type", "string"}, {"enum", {"en", "ja"}}}},
                 {"time_zone",
                  {{"type", "string"}, {"description", "IANA name (Asia/Tokyo, UTC) or \"\""}}}}))},
        {"delete", Op("Sign out: the session ends on the server (cookie + X-Ward-CSRF)", "any user",
                      Merge({{"204", Resp("signed out")}}, write))}}},
      {"/session/totp",
       {{"post",
         Op("Start TOTP enrolment: a new secret and otpauth:// URI, shown once (cookie + "
            "X-Ward-CSRF)",
            "any user", Merge({{"201", Resp("enrolment", Ref("TotpEnrolment"))}}, write))}}},
      {"/session/totp/confirm",
       {{"post", Op("Turn TOTP on with the first valid code", "any user",
                    Merge({{"200", Resp("session", Ref("Session"))}}, write), Ref("TotpCode"))}}},
      {"/session/totp/disable",
       {{"post", Op("Turn TOTP off with a valid code", "any user",
                    Merge({{"200", Resp("session", Ref("Session"))}}, write), Ref("TotpCode"))}}},
      {"/info",
       {{"get", Op("The manager's version and TLS certificate fingerprint (for install commands)",
                   "any", Merge({{"200", Resp("info", Ref("Info"))}}, read))}}},
      {"/activation-tokens",
       {{"get", Op("List activation tokens", "any",
                   Merge({{"200", Resp("tokens", List("ActivationToken"))}}, read))},
        {"post", Op("Create an activation token; `token` is shown once", "admin, operator",
                    Merge({{"201", Resp("created", Ref("ActivationToken"))}}, write),
                    Ref("ActivationTokenCreate"))}}},
      {"/activation-tokens/{id}",
       {{"parameters", json::array({IdParam()})},
        {"get", Op("Get an activation token", "any",
                   Merge({{"200", Resp("token", Ref("ActivationToken"))}}, read))},
        {"patch",
         Op("Assign (or with null, clear) the policy of agents activated with the token from now "
            "on (audit-logged)",
            "admin, operator", Merge({{"200", Resp("updated", Ref("ActivationToken"))}}, write),
            Ref("ActivationTokenUpdate"))},
        {"delete", Op("Revoke an activation token", "admin, operator",
                      Merge({{"204", Resp("revoked")}}, write))}}},
      {"/agents",
       {{"get",
         Op("List agents", "any", Merge({{"200", Resp("agents", List("Agent"))}}, read), nullptr,
            json::array({QueryParamSpec("status", "online or offline",
                                        {{"type", "string"}, {"enum", {"online", "offline"}}}),
                         QueryParamSpec("hostname", "exact host name"),
                         QueryParamSpec("policy", "policy id")}))}}},
      {"/agents/{id}",
       {{"parameters", json::array({IdParam()})},
        {"get", Op("Get an agent", "any", Merge({{"200", Resp("agent", Ref("Agent"))}}, read))},
        {"patch", Op("Assign (or with null, unassign) a policy", "admin, operator",
                     Merge({{"200", Resp("updated", Ref("Agent"))}}, write), Ref("AgentUpdate"))},
        {"delete", Op("Delete an agent (its credential stops working)", "admin, operator",
                      Merge({{"204", Resp("deleted")}}, write))}}},
      {"/agents/{id}/commands",
       {{"parameters", json::array({IdParam()})},
        {"get", Op("Commands queued for an agent", "any",
                   Merge({{"200", Resp("commands", List("Command"))}}, read))},
        {"post",
         Op("Queue a command; delivered with the agent's next heartbeat", "admin, operator",
            Merge({{"201", Resp("queued", Ref("Command"))}}, write), Ref("CommandCreate"))}}},
      {"/policies",
       {{"get",
         Op("List policies", "any", Merge({{"200", Resp("policies", List("Policy"))}}, read))},
        {"post",
         Op("Create a policy (validated with the agent's own parser)", "admin, operator",
            Merge({{"201", Resp("created", Ref("Policy"))}}, write), Ref("PolicyCreate"))}}},
      {"/policies/{id}",
       {{"parameters", json::array({IdParam()})},
        {"get", Op("Get a policy", "any", Merge({{"200", Resp("policy", Ref("Policy"))}}, read))},
        {"patch", Op("Update name and/or document: a new version", "admin, operator",
                     Merge({{"200", Resp("updated", Ref("Policy"))}}, write), Ref("PolicyUpdate"))},
        {"put", Op("Replace name and document: a new version", "admin, operator",
                   Merge({{"200", Resp("updated", Ref("Policy"))}}, write), Ref("PolicyCreate"))},
        {"delete", Op("Delete a policy (409 while agents or tokens use it)", "admin, operator",
                      Merge({{"204", Resp("deleted")}}, write))}}},
      {"/events",
       {{"get",
         Op("Query events, sorted by time, with cursor pagination", "any",
            Merge({{"200", Resp("a page of events", Page(Ref("Event")))}}, Errors({400, 401, 429})),
            nullptr, events_params)}}},
      {"/events/counts",
       {{"get",
         Op("Event counts per module and severity per time bucket", "any",
            Merge(
                {{"200", Resp("counts",
                              {{"type", "object"},
                               {"properties",
                                {{"from", Time()},
                                 {"to", Time()},
                                 {"bucket_s", Int()},
                                 {"items", {{"type", "array"}, {"items", Ref("EventCount")}}}}}})}},
                Errors({400, 401, 429})),
            nullptr, counts_params)}}},
      {"/events/export",
       {{"get",
         {{"summary", "Every event of the filter as CSV or NDJSON, streamed (no row cap)"},
          {"description",
           "Roles: any. Chunked transfer; CSV per RFC 4180 with fields starting with = + - @ "
           "prefixed by ' (formula injection); a truncated transfer means the export failed."},
          {"parameters", export_params},
          {"responses",
           Merge({{"200",
                   {{"description", "the events, oldest first (order=desc: newest first)"},
                    {"content",
                     {{"text/csv", {{"schema", {{"type", "string"}}}}},
                      {"application/x-ndjson", {{"schema", {{"type", "string"}}}}}}}}}},
                 Errors({400, 401, 429}))}}}}},
      {"/events/top",
       {{"get",
         Op("The most frequent values of a field over every event of the filter", "any",
            Merge({{"200",
                    Resp("values, most frequent first",
                         {{"type", "object"},
                          {"properties",
                           {{"field", {{"type", "string"}}},
                            {"from", Time()},
                            {"to", Time()},
                            {"items",
                             {{"type", "array"},
                              {"items",
                               {{"type", "object"},
                                {"properties",
                                 {{"value", {{"type", "string"}}}, {"count", Int()}}}}}}}}}})}},
                  Errors({400, 401, 429})),
            nullptr, top_params)}}},
      {"/events/summary",
       {{"get",
         Op("Totals over the filter: events, heals (autoheal restored), quarantines "
            "(antimalware quarantine)",
            "any",
            Merge({{"200", Resp("totals", {{"type", "object"},
                                           {"properties",
                                            {{"from", Time()},
                                             {"to", Time()},
                                             {"total", Int()},
                                             {"heals", Int()},
                                             {"quarantines", Int()}}}})}},
                  Errors({400, 401, 429})),
            nullptr, event_filters)}}},
      {"/audit",
       {{"get",
         Op("The audit log: every mutating call, oldest first (order=desc: newest first)",
            "admin, auditor",
            Merge({{"200", Resp("entries", Page(Ref("AuditEntry")))}},
                  Errors({400, 401, 403, 429})),
            nullptr,
            json::array(
                {QueryParamSpec("actor", "exact actor (user:<id>, apikey:<id>, system)"),
                 QueryParamSpec("method", "HTTP method (case-insensitive)"),
                 QueryParamSpec("path", "case-sensitive substring of the path"),
                 QueryParamSpec("status", "a code (403), a class (4xx) or failed (400..599)"),
                 QueryParamSpec("from", "RFC 3339, inclusive"),
                 QueryParamSpec("to", "RFC 3339, exclusive"),
                 QueryParamSpec("order", "asc (default) or desc"),
                 QueryParamSpec("limit", "1..1000, default 100", {{"type", "integer"}}),
                 QueryParamSpec("cursor", "next_cursor of the previous page")}))}}},
  };
  // ---- c3: policy versions and alerts ----
  schemas["PolicyVersion"] = Obj({{"policy_id", Str()},
                                  {"version", Int()},
                                  {"name", Str()},
                                  {"document", {{"type", "object"}}},
                                  {"saved_at", Time()}});
  json alert_state = {
      {"type", "object"},
      {"nullable", true},
      {"properties",
       {{"by", NullableStr()},
        {"by_name",
         Merge(NullableStr(),
               {{"description",
                 "the user's (or API key's) name now; null when it was deleted (see `by`)"}})},
        {"at", Time()},
        {"reason", NullableStr()}}}};
  schemas["Alert"] =
      Obj({{"id", Str()},
           {"source", Str()},
           {"rule_key", Str()},
           {"agent_id", Str()},
           {"module", Str()},
           {"title", Str()},
           {"severity", Int()},
           {"state", {{"type", "string"}, {"enum", {"open", "acknowledged", "resolved"}}}},
           {"count", Int()},
           {"first_seen", Time()},
           {"last_seen", Time()},
           {"first_event_id", Str()},
           {"last_event_id", Str()},
           {"acknowledged", alert_state},
           {"resolved", alert_state},
           {"updated_at", Time()}});
  json alert_change = {
      {"state", {{"type", "string"}, {"enum", {"open", "acknowledged", "resolved"}}}},
      {"reason", NullableStr()}};
  schemas["AlertUpdate"] = Obj(alert_change, {"state"});
  json bulk = alert_change;
  bulk["ids"] = {{"type", "array"}, {"items", Str()}, {"maxItems", 1000}};
  schemas["AlertBulkUpdate"] = Obj(bulk, {"ids", "state"});
  json version_param = {
      {"name", "version"}, {"in", "path"}, {"required", true}, {"schema", {{"type", "integer"}}}};
  paths["/policies/{id}/versions"] = {
      {"parameters", json::array({IdParam()})},
      {"get", Op("Every saved version of a policy, oldest first (without documents)", "any",
                 Merge({{"200", Resp("versions", List("PolicyVersion"))}}, read))}};
  paths["/policies/{id}/versions/{version}"] = {
      {"parameters", json::array({IdParam(), version_param})},
      {"get", Op("One saved version of a policy, with its document", "any",
                 Merge({{"200", Resp("version", Ref("PolicyVersion"))}}, read))}};
  paths["/alerts"] = {
      {"get",
       Op("Alerts, newest last_seen first, with cursor pagination", "any",
          Merge({{"200", Resp("a page of alerts", Page(Ref("Alert")))}}, Errors({400, 401, 429})),
          nullptr,
          json::array({QueryParamSpec("state", "open, acknowledged or resolved"),
                       QueryParamSpec("agent", "agent id"), QueryParamSpec("module", "module"),
                       QueryParamSpec("min_severity", "0..4 or info, low, medium, high, critical"),
                       QueryParamSpec("limit", "1..1000, default 100", {{"type", "integer"}}),
                       QueryParamSpec("cursor", "next_cursor of the previous page")}))},
      {"patch",
       Op("Change the state of many alerts at once: all or none", "admin, operator",
          Merge({{"200", Resp("changed", List("Alert"))}}, write), Ref("AlertBulkUpdate"))}};
  paths["/alerts/{id}"] = {
      {"parameters", json::array({IdParam()})},
      {"get", Op("Get an alert", "any", Merge({{"200", Resp("alert", Ref("Alert"))}}, read))},
      {"patch",
       Op("Acknowledge, resolve or reopen an alert (who and when are recorded)", "admin, operator",
          Merge({{"200", Resp("changed", Ref("Alert"))}}, write), Ref("AlertUpdate"))}};

  paths["/ips/tuning"] = {
      {"get",
       Op("IPS tuning over a period: rules that fired on the hosts of a policy (counts, hosts, "
          "distinct clients, targets, paths, samples), what prevent mode would have blocked, and "
          "with exclude_rule a preview of the events an exclusion would have suppressed",
          "any",
          Merge({{"200", Resp("tuning report", {{"type", "object"}})}},
                Errors({400, 401, 404, 429})),
          nullptr,
          json::array({QueryParamSpec("policy", "policy id (default: every agent)"),
                       QueryParamSpec("from", "inclusive start (default: to - 7 days)", Time()),
                       QueryParamSpec("to", "exclusive end (default: now)", Time()),
                       QueryParamSpec("exclude_rule", "preview: the rule id to exclude"),
                       QueryParamSpec("exclude_target",
                                      "preview: only matches on this variable (ARGS:name)"),
                       QueryParamSpec("exclude_path",
                                      "preview: only requests under this path prefix (normalised "
                                      "as the agent does: docs/ips.md)")}))}};

  // Deployment (issue #18, docs/deployment.md).
  schemas["DeploymentScriptCreate"] = Obj(
      {{"token",
        {{"type", "string"},
         {"description",
          "an activation token of the tenant that can still be used; without it a new token is "
          "made from name, policy_id, expires_at and max_uses"}}},
       {"name", Str()},
       {"policy_id", NullableStr()},
       {"expires_at", NullableTime()},
       {"max_uses", {{"type", "integer"}, {"nullable", true}}},
       {"manager_url",
        {{"type", "string"},
         {"description", "https://HOST[:PORT] the hosts reach (default: https:// + Host header)"}}},
       {"proxy",
        {{"type", "string"},
         {"nullable", true},
         {"description", "http://[USER:PASS@]HOST:PORT"}}}});
  schemas["DeploymentScript"] =
      Obj({{"script", {{"type", "string"}, {"description", "POSIX sh; run as root on the host"}}},
           {"cloud_init",
            {{"type", "string"}, {"description", "#cloud-config user data running the script"}}},
           {"activation_token", Ref("ActivationToken")},
           {"token_created", Bool()},
           {"manager_url", Str()},
           {"proxy", NullableStr()},
           {"packages",
            {{"type", "array"},
             {"items", Obj({{"file", Str()},
                            {"version", Str()},
                            {"arch", Str()},
                            {"sha256", Str()},
                            {"size", Int()}})}}}});
  schemas["ActivationRules"] = Obj(
      {{"rules",
        {{"type", "array"},
         {"items",
          Obj({{"name", Str()},
               {"match",
                Obj({{"hostname",
                      {{"type", "string"}, {"description", "shell glob, case-insensitive"}}},
                     {"os", {{"type", "string"}, {"description", "shell glob, case-insensitive"}}},
                     {"ip", {{"type", "string"}, {"description", "address or CIDR range (v4/v6)"}}},
                     {"tags", {{"type", "object"}, {"description", "cloud tag name -> glob"}}}})},
               {"policy_id", Str()}},
              {"name", "match", "policy_id"})}}}},
      {"rules"});
  paths["/activation-rules"] = {
      {"get", Op("The tenant's activation rules, in order", "any",
                 Merge({{"200", Resp("rules", Ref("ActivationRules"))}}, read))},
      {"put",
       Op("Replace the activation rules: at activation the first rule whose conditions all match "
          "the host's facts assigns its policy (over the token's)",
          "admin, operator", Merge({{"200", Resp("rules", Ref("ActivationRules"))}}, write),
          Ref("ActivationRules"))}};
  paths["/deployment-scripts"] = {
      {"post",
       Op("A deployment script for the tenant: downloads ward-agent from this manager (public key "
          "pinned, SHA-256 checked), installs, activates and starts it; safe to run twice. Also "
          "as cloud-init user data. 409 when the manager serves no agent package "
          "(--packages-dir). The agent packages themselves are served without a credential on "
          "GET /agent/v1/packages and /agent/v1/packages/{file}",
          "admin, operator",
          Merge({{"200", Resp("script (existing token)", Ref("DeploymentScript"))},
                 {"201", Resp("script and a new token", Ref("DeploymentScript"))}},
                write),
          Ref("DeploymentScriptCreate"))}};

  return {
      {"openapi", "3.0.3"},
      {"info",
       {{"title", "Ward manager REST API"},
        {"version", "1"},
        {"description",
         "Multi-tenant API of the Ward manager. Every call but this document needs "
         "`Authorization: Bearer <api key>`. Objects of other tenants answer 404. "
         "See docs/api.md."}}},
      {"servers", json::array({{{"url", "/api/v1"}}})},
      {"security", json::array({{{"bearer", json::array()}}, {{"session", json::array()}}})},
      {"paths", paths},
      {"components",
       {{"schemas", schemas},
        {"securitySchemes",
         {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}},
          {"session", {{"type", "apiKey"}, {"in", "cookie"}, {"name", "__Host-ward_session"}}}}}}}};
}

}  // namespace

const nlohmann::json& OpenApiDocument() {
  static const nlohmann::json doc = Build();
  return doc;
}

}  // namespace ward::manager
