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
            {"created_at", Time()},
            {"group_id", NullableStr()}})},
      {"AgentUpdate",
       Obj({{"policy_id", NullableStr()},
            {"group_id",
             {{"type", "string"},
              {"nullable", true},
              {"description",
               "join this agent group (leaving any other; null: leave it); the agent gets the "
               "group's policy unless policy_id is given too"}}}})},
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
  events_params.push_back(QueryParamSpec(
      "after_seq",
      "live tail: the events stored after this ingest sequence number (latest_seq or next_seq "
      "of an earlier answer), in arrival order; not with cursor or order=desc",
      {{"type", "integer"}, {"minimum", 0}}));
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
                         QueryParamSpec("policy", "policy id"),
                         QueryParamSpec("group", "agent group id")}))}}},
      {"/agents/{id}",
       {{"parameters", json::array({IdParam()})},
        {"get", Op("Get an agent", "any", Merge({{"200", Resp("agent", Ref("Agent"))}}, read))},
        {"patch", Op("Assign (or with null, unassign) a policy and/or a group", "admin, operator",
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
            Merge(
                {{"200",
                  Resp("a page of events",
                       [] {
                         json page = Page(Ref("Event"));
                         page["properties"]["latest_seq"] = {
                             {"type", "integer"},
                             {"description",
                              "the tenant's latest ingest sequence number, read before the page: "
                              "pass as after_seq to follow what arrives next"}};
                         page["properties"]["next_seq"] = {
                             {"type", "integer"},
                             {"description",
                              "with after_seq: pass as after_seq for the next poll"}};
                         return page;
                       }())}},
                Errors({400, 401, 429})),
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

  paths["/blocked-addresses"] = {
      {"get",
       Op("Addresses active response blocks now on each host (from the hosts' address_blocked "
          "and address_unblocked events; docs/firewall.md)",
          "any",
          Merge({{"200", Resp("blocked addresses", {{"type", "object"}})}},
                Errors({400, 401, 429})),
          nullptr,
          json::array(
              {QueryParamSpec("agent", "agent id (default: every host)"),
               QueryParamSpec("window", "how far back to read events, 1m..90d, default 7d")}))}};
  const json address_param = {
      {"name", "address"}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}};
  paths["/agents/{id}/blocked-addresses"] = {
      {"parameters", json::array({IdParam()})},
      {"delete",
       Op("Unblock every address on the host: queues the firewall.unblock command",
          "admin, operator", Merge({{"202", Resp("queued", {{"type", "object"}})}}, write))}};
  paths["/agents/{id}/blocked-addresses/{address}"] = {
      {"parameters", json::array({IdParam(), address_param})},
      {"delete",
       Op("Unblock one address on the host: queues the firewall.unblock command", "admin, operator",
          Merge({{"202", Resp("queued", {{"type", "object"}})}}, write))}};

  const json name_param = {
      {"name", "name"}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}};
  const json ip_list = {{"type", "object"},
                        {"properties",
                         {{"name", {{"type", "string"}}},
                          {"description", {{"type", "string"}}},
                          {"entries", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                          {"updated_at", {{"type", "string"}, {"format", "date-time"}}}}}};
  paths["/ip-lists"] = {
      {"get", Op("Tenant-wide IP lists that firewall policies name (docs/firewall.md)", "any",
                 Merge({{"200", Resp("lists", {{"type", "object"}})}}, read))}};
  paths["/ip-lists/{name}"] = {
      {"parameters", json::array({name_param})},
      {"get", Op("Get an IP list", "any", Merge({{"200", Resp("list", ip_list)}}, read))},
      {"put",
       Op("Create or replace an IP list; every policy that uses it gets a new version",
          "admin, operator",
          Merge({{"200", Resp("replaced", ip_list)}, {"201", Resp("created", ip_list)}}, write),
          {{"type", "object"},
           {"required", json::array({"entries"})},
           {"properties",
            {{"description", {{"type", "string"}}},
             {"entries", {{"type", "array"}, {"items", {{"type", "string"}}}}}}}})},
      {"delete", Op("Delete an IP list (409 while a policy uses it)", "admin, operator",
                    Merge({{"204", {{"description", "deleted"}}}}, write))}};
  // ---- s7-reports: reports and report schedules (docs/reports.md) ----
  json kind = {{"type", "string"}, {"enum", {"summary", "pci_dss"}}};
  json format = {{"type", "string"}, {"enum", {"pdf", "html", "csv"}}};
  json language = {{"type", "string"}, {"enum", {"en", "ja"}}};
  json frequency = {{"type", "string"}, {"enum", {"daily", "weekly", "monthly"}}};
  schemas["Report"] = Obj({{"id", Str()},
                           {"kind", kind},
                           {"format", format},
                           {"language", language},
                           {"from", Time()},
                           {"to", Time()},
                           {"schedule_id", NullableStr()},
                           {"created_by", Str()},
                           {"created_at", Time()},
                           {"size", Int()},
                           {"download", Str()},
                           {"mails",
                            {{"type", "array"},
                             {"items", Ref("ReportMail")},
                             {"description", "GET /reports/{id} only: its e-mails"}}}});
  // s9-reportmail: a scheduled report's e-mail per language (docs/reports.md, "Delivery by
  // e-mail").
  schemas["ReportMail"] =
      Obj({{"id", Str()},
           {"language", language},
           {"recipients", {{"type", "array"}, {"items", Str()}}},
           {"state", {{"type", "string"}, {"enum", {"pending", "sent", "failed"}}}},
           {"attempts", Int()},
           {"queued_at", Time()},
           {"next_attempt_at", Merge(NullableTime(), {{"description", "while pending"}})},
           {"last_attempt_at", NullableTime()},
           {"sent_at", NullableTime()},
           {"last_error", NullableStr()}});
  schemas["ReportRequest"] = Obj(
      {{"kind", kind},
       {"format", Merge(format, {{"description", "default pdf"}})},
       {"language", Merge(language, {{"description", "default: the user's language, else en"}})},
       {"from", Merge(Time(), {{"description", "inclusive; default to - 7 days"}})},
       {"to", Merge(Time(), {{"description", "exclusive; default now"}})}},
      {"kind"});
  json schedule = {{"name", Str()},
                   {"frequency", frequency},
                   {"kind", kind},
                   {"format", format},
                   {"language", language},
                   {"recipients", {{"type", "array"}, {"items", Str()}, {"maxItems", 20}}},
                   {"enabled", Bool()}};
  schemas["ReportScheduleCreate"] = Obj(schedule, {"name", "frequency", "kind"});
  schemas["ReportScheduleUpdate"] = Obj(schedule);
  json schedule_view = schedule;
  schedule_view["id"] = Str();
  schedule_view["next_run_at"] = Time();
  schedule_view["last_run_at"] = Merge(Time(), {{"nullable", true}});
  schedule_view["last_report_id"] = NullableStr();
  schedule_view["last_error"] = NullableStr();
  schedule_view["created_at"] = Time();
  schedule_view["last_mails"] = {
      {"type", "array"},
      {"items", Ref("ReportMail")},
      {"description", "GET /report-schedules/{id} only: the e-mails of the last report"}};
  schemas["ReportSchedule"] = Obj(schedule_view);
  paths["/reports"] = {
      {"get",
       Op("Reports kept for download, newest first, with cursor pagination", "any",
          Merge({{"200", Resp("a page of reports", Page(Ref("Report")))}}, Errors({400, 401, 429})),
          nullptr,
          json::array({QueryParamSpec("limit", "1..1000, default 100", Int()),
                       QueryParamSpec("cursor", "next_cursor of the previous page")}))},
      {"post", Op("Make a report now (summary or PCI DSS v4.0) and keep it for download", "any",
                  Merge({{"201", Resp("the report made", Ref("Report"))}}, Errors({400, 401, 429})),
                  Ref("ReportRequest"))}};
  paths["/reports/{id}"] = {{"parameters", json::array({IdParam()})},
                            {"get", Op("A report's metadata", "any",
                                       Merge({{"200", Resp("report", Ref("Report"))}}, read))},
                            {"delete", Op("Delete a kept report", "admin, operator",
                                          Merge({{"204", Resp("deleted")}}, write))}};
  paths["/reports/{id}/download"] = {
      {"parameters", json::array({IdParam()})},
      {"get", Op("The report itself: application/pdf, text/html or text/csv (as an attachment)",
                 "any", Merge({{"200", Resp("the report's bytes")}}, read))}};
  paths["/report-schedules"] = {
      {"get", Op("Report schedules", "any",
                 Merge({{"200", Resp("schedules", List("ReportSchedule"))}}, read))},
      {"post",
       Op("Make a report every day, week (Mondays) or month (the 1st), 00:00 UTC, over "
          "the period that just ended",
          "admin, operator", Merge({{"201", Resp("created", Ref("ReportSchedule"))}}, write),
          Ref("ReportScheduleCreate"))}};
  paths["/report-schedules/{id}"] = {
      {"parameters", json::array({IdParam()})},
      {"get", Op("A report schedule", "any",
                 Merge({{"200", Resp("schedule", Ref("ReportSchedule"))}}, read))},
      {"patch", Op("Change a report schedule", "admin, operator",
                   Merge({{"200", Resp("changed", Ref("ReportSchedule"))}}, write),
                   Ref("ReportScheduleUpdate"))},
      {"delete", Op("Delete a report schedule (its reports are kept)", "admin, operator",
                    Merge({{"204", Resp("deleted")}}, write))}};
  // ---- SIEM forwarders (issue 19, s7-siem; docs/siem.md) ----
  json siem_config = {{"name", Str()},
                      {"transport", {{"type", "string"}, {"enum", {"udp", "tcp", "tls"}}}},
                      {"host", Str()},
                      {"port", Merge(Int(), {{"minimum", 1}, {"maximum", 65535}})},
                      {"format", {{"type", "string"}, {"enum", {"cef", "leef", "json"}}}},
                      {"facility", Merge(Int(), {{"minimum", 0}, {"maximum", 23}})},
                      {"min_severity", Merge(Int(), {{"minimum", 0}, {"maximum", 4}})},
                      {"enabled", {{"type", "boolean"}}},
                      {"ca_pem", NullableStr()},
                      {"server_name", NullableStr()},
                      {"tls_verify", {{"type", "boolean"}}}};
  json siem_progress = {{"sent", Int()},
                        {"skipped", Int()},
                        {"resent", Int()},
                        {"last_sent_at", Time()},
                        {"last_error", NullableStr()},
                        {"last_error_at", Time()},
                        {"backlog", Int()},
                        {"backlog_capped", {{"type", "boolean"}}}};
  json siem_forwarder = siem_config;
  siem_forwarder.update(siem_progress);
  siem_forwarder["id"] = Str();
  siem_forwarder["created_at"] = Time();
  siem_forwarder["updated_at"] = Time();
  schemas["SiemForwarder"] = Obj(siem_forwarder);
  json siem_create = siem_config;
  siem_create["start"] = {{"type", "string"}, {"enum", {"now", "oldest"}}};
  schemas["SiemForwarderCreate"] =
      Obj(siem_create, {"name", "transport", "host", "port", "format"});
  schemas["SiemForwarderUpdate"] = Obj(siem_config);
  json siem_backlog = siem_progress;
  siem_backlog["id"] = Str();
  schemas["SiemBacklog"] = Obj(siem_backlog);
  paths["/siem-forwarders"] = {
      {"get", Op("The tenant's SIEM forwarders with their progress and backlog", "any",
                 Merge({{"200", Resp("forwarders", List("SiemForwarder"))}}, read))},
      {"post", Op("Create a SIEM forwarder (syslog RFC 5424 over UDP/TCP/TLS; CEF, LEEF 2.0 or "
                  "JSON); start now (default) or from the oldest stored event",
                  "admin", Merge({{"201", Resp("created", Ref("SiemForwarder"))}}, write),
                  Ref("SiemForwarderCreate"))}};
  paths["/siem-forwarders/{id}"] = {
      {"parameters", json::array({IdParam()})},
      {"get", Op("Get a SIEM forwarder", "any",
                 Merge({{"200", Resp("forwarder", Ref("SiemForwarder"))}}, read))},
      {"patch", Op("Change a SIEM forwarder's settings (its cursor stays)", "admin",
                   Merge({{"200", Resp("changed", Ref("SiemForwarder"))}}, write),
                   Ref("SiemForwarderUpdate"))},
      {"delete", Op("Delete a SIEM forwarder", "admin", Merge({{"204", Resp("deleted")}}, write))}};
  paths["/siem-forwarders/{id}/backlog"] = {
      {"parameters", json::array({IdParam()})},
      {"get", Op("Events stored and not yet forwarded, and the forwarder's progress", "any",
                 Merge({{"200", Resp("backlog", Ref("SiemBacklog"))}}, read))}};
  // Update bundles (routes/updates.cc, docs/updates.md).
  schemas["UpdateBundle"] = Obj(
      {{"kind", Str()},
       {"version", Int()},
       {"created", Str()},
       {"files",
        {{"type", "array"}, {"items", Obj({{"name", Str()}, {"sha256", Str()}, {"size", Int()}})}}},
       {"bytes", Int()},
       {"signature", Str()}});
  schemas["UpdateBundles"] =
      Obj({{"key", Str()}, {"bundles", {{"type", "array"}, {"items", Ref("UpdateBundle")}}}});
  paths["/updates"] = {
      {"get", Op("The update bundles: the latest version of each kind (all versions with "
                 "all=true) and the manager's Ed25519 update key",
                 "any", Merge({{"200", Resp("bundles", Ref("UpdateBundles"))}}, read), nullptr,
                 json::array({QueryParamSpec("kind", "clamav, yara, crs or rules"),
                              QueryParamSpec("all", "true: every version")}))}};
  paths["/updates/{kind}/files/{name}"] = {
      {"parameters",
       json::array({{{"name", "kind"}, {"in", "path"}, {"required", true}, {"schema", Str()}},
                    {{"name", "name"}, {"in", "path"}, {"required", true}, {"schema", Str()}}})},
      {"put", Op("Publish a file (the body, application/octet-stream) as a new version of the "
                 "bundle: the latest version's files plus this one (only this one with "
                 "replace_all=true)",
                 "primary tenant's admin",
                 Merge({{"201", Resp("new version", Ref("UpdateBundle"))}}, write), nullptr,
                 json::array({QueryParamSpec("replace_all",
                                             "true: the new version holds only "
                                             "this file")}))}};
  // ---- s7-alerts: alert rules, notification channels, delivery log (issue 19) ----
  json strs = {{"type", "array"}, {"items", Str()}};
  schemas["AlertRule"] = Obj(
      {{"id", Merge(Str(), {{"description", "builtin.<name> for a built-in default"}})},
       {"name", Str()},
       {"builtin", Bool()},
       {"enabled", Bool()},
       {"filter", Obj({{"modules", strs},
                       {"actions", strs},
                       {"min_severity", Int()},
                       {"rule_ids", strs},
                       {"agents", strs},
                       {"hostnames", Merge(strs, {{"description", "globs (* and ?)"}})},
                       {"paths", Merge(strs, {{"description", "globs over file.path/url"}})},
                       {"groups", strs}})},
       {"window_s", Merge(Int(), {{"description", "de-duplication window; 0 = the manager's"}})},
       {"throttle", Obj({{"max_alerts", Int()}, {"period_s", Int()}})},
       {"channels", strs},
       {"updated_at", NullableTime()}});
  schemas["AlertRuleWrite"] = Obj({{"name", Str()},
                                   {"enabled", Bool()},
                                   {"filter", {{"type", "object"}}},
                                   {"window_s", Int()},
                                   {"throttle", {{"type", "object"}}},
                                   {"channels", strs}},
                                  {"name"});
  schemas["AlertChannel"] =
      Obj({{"id", Str()},
           {"name", Str()},
           {"kind", {{"type", "string"}, {"enum", {"webhook", "email", "syslog"}}}},
           {"enabled", Bool()},
           {"config", Merge({{"type", "object"}},
                            {{"description", "secret/password shown as secret_set/password_set"}})},
           {"consecutive_failures", Int()},
           {"failing_since", NullableTime()},
           {"created_at", Time()},
           {"updated_at", Time()}});
  schemas["AlertChannelWrite"] =
      Obj({{"name", Str()},
           {"kind", {{"type", "string"}, {"enum", {"webhook", "email", "syslog"}}}},
           {"enabled", Bool()},
           {"config", {{"type", "object"}}}},
          {"name", "config"});
  schemas["AlertDelivery"] =
      Obj({{"id", Str()},
           {"channel_id", Str()},
           {"rule_id", Str()},
           {"state", {{"type", "string"}, {"enum", {"pending", "sent", "failed", "throttled"}}}},
           {"attempts", Int()},
           {"created_at", Time()},
           {"next_attempt_at", NullableTime()},
           {"sent_at", NullableTime()},
           {"last_error", Str()},
           {"log", {{"type", "array"}, {"items", {{"type", "object"}}}}}});
  paths["/alert-rules"] = {
      {"get", Op("Alert rules: the built-in defaults (as overridden), then the tenant's own", "any",
                 Merge({{"200", Resp("rules", List("AlertRule"))}}, read))},
      {"post",
       Op("Create an alert rule", "admin, operator",
          Merge({{"201", Resp("created", Ref("AlertRule"))}}, write), Ref("AlertRuleWrite"))}};
  paths["/alert-rules/{id}"] = {
      {"parameters", json::array({IdParam()})},
      {"get",
       Op("Get an alert rule", "any", Merge({{"200", Resp("rule", Ref("AlertRule"))}}, read))},
      {"put", Op("Replace an alert rule (a built-in default: enabled, window, throttle, channels)",
                 "admin, operator", Merge({{"200", Resp("rule", Ref("AlertRule"))}}, write),
                 Ref("AlertRuleWrite"))},
      {"delete", Op("Delete an alert rule (a built-in default: back to its defaults)",
                    "admin, operator", Merge({{"204", Resp("deleted")}}, write))}};
  paths["/alert-channels"] = {
      {"get", Op("Notification channels", "any",
                 Merge({{"200", Resp("channels", List("AlertChannel"))}}, read))},
      {"post", Op("Create a notification channel (webhook or email)", "admin, operator",
                  Merge({{"201", Resp("created", Ref("AlertChannel"))}}, write),
                  Ref("AlertChannelWrite"))}};
  paths["/alert-channels/{id}"] = {
      {"parameters", json::array({IdParam()})},
      {"get",
       Op("Get a channel", "any", Merge({{"200", Resp("channel", Ref("AlertChannel"))}}, read))},
      {"put",
       Op("Replace a channel (a secret left out keeps its value)", "admin, operator",
          Merge({{"200", Resp("channel", Ref("AlertChannel"))}}, write), Ref("AlertChannelWrite"))},
      {"delete", Op("Delete a channel and its pending notifications", "admin, operator",
                    Merge({{"204", Resp("deleted")}}, write))}};
  paths["/alert-channels/{id}/notify"] = {
      {"parameters", json::array({IdParam()})},
      {"post", Op("Queue a notification of an alert to this channel (a test or a re-send)",
                  "admin, operator",
                  Merge({{"202", Resp("queued", Obj({{"notification_id", Str()}}))}}, write),
                  Obj({{"alert_id", Str()}}, {"alert_id"}))}};
  paths["/alerts/{id}/deliveries"] = {
      {"parameters", json::array({IdParam()})},
      {"get", Op("An alert's notifications and every delivery attempt", "any",
                 Merge({{"200", Resp("deliveries", List("AlertDelivery"))}}, read))}};
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
               {"policy_id", Str()},
               {"group_id",
                {{"type", "string"},
                 {"description",
                  "the agent joins this group; without policy_id it gets the group's policy"}}}},
              {"name", "match"})}}}},
      {"rules"});
  paths["/activation-rules"] = {
      {"get", Op("The tenant's activation rules, in order", "any",
                 Merge({{"200", Resp("rules", Ref("ActivationRules"))}}, read))},
      {"put",
       Op("Replace the activation rules: at activation the first rule whose conditions all match "
          "the host's facts assigns its policy (over the token's)",
          "admin, operator", Merge({{"200", Resp("rules", Ref("ActivationRules"))}}, write),
          Ref("ActivationRules"))}};
  // Agent groups (issue #18, s8-upgrade).
  schemas["AgentGroup"] = Obj({{"id", Str()},
                               {"name", Str()},
                               {"description", Str()},
                               {"policy_id", NullableStr()},
                               {"members", Int()},
                               {"created_at", Time()},
                               {"updated_at", Time()}});
  schemas["AgentGroupCreate"] =
      Obj({{"name", {{"type", "string"}, {"minLength", 1}, {"maxLength", 255}}},
           {"description", {{"type", "string"}, {"maxLength", 1024}}},
           {"policy_id", NullableStr()}},
          {"name"});
  schemas["AgentGroupUpdate"] =
      Obj({{"name", {{"type", "string"}, {"minLength", 1}, {"maxLength", 255}}},
           {"description", {{"type", "string"}, {"maxLength", 1024}}},
           {"policy_id",
            {{"type", "string"},
             {"nullable", true},
             {"description",
              "assigned to every member at once (members_reassigned says how many "
              "changed)"}}}});
  paths["/agent-groups"] = {
      {"get", Op("The tenant's agent groups, by name, with member counts", "any",
                 Merge({{"200", Resp("groups", List("AgentGroup"))}}, read))},
      {"post",
       Op("Create an agent group (names are unique in the tenant: 409)", "admin, operator",
          Merge({{"201", Resp("created", Ref("AgentGroup"))}}, write), Ref("AgentGroupCreate"))}};
  paths["/agent-groups/{id}"] = {
      {"parameters", json::array({IdParam()})},
      {"get",
       Op("Get an agent group", "any", Merge({{"200", Resp("group", Ref("AgentGroup"))}}, read))},
      {"patch",
       Op("Change an agent group; a policy given is assigned to every member", "admin, operator",
          Merge({{"200", Resp("updated", Ref("AgentGroup"))}}, write), Ref("AgentGroupUpdate"))},
      {"delete", Op("Delete an agent group; its members leave it and keep their policy",
                    "admin, operator", Merge({{"204", Resp("deleted")}}, write))}};
  // Agent upgrades (issue #18, s9-upgrade; docs/updates.md "Agent upgrades").
  schemas["UpgradeRollout"] =
      Obj({{"scope", Str()},
           {"scope_id", Str()},
           {"version", Str()},
           {"first_wave_percent", Int()},
           {"timeout_s", Int()},
           {"created_at", Time()},
           {"second_wave_at", {{"type", "string"}, {"format", "date-time"}, {"nullable", true}}},
           {"stopped", {{"type", "boolean"}}},
           {"stopped_reason", NullableStr()}});
  schemas["UpgradeRolloutPut"] =
      Obj({{"version", {{"type", "string"}, {"minLength", 1}, {"maxLength", 64}}},
           {"first_wave_percent",
            {{"type", "integer"}, {"minimum", 1}, {"maximum", 100}, {"default", 100}}},
           {"timeout_s",
            {{"type", "integer"}, {"minimum", 30}, {"maximum", 604800}, {"default", 1800}}}},
          {"version"});
  schemas["AgentUpgradeState"] =
      Obj({{"agent_id", Str()},
           {"state",
            {{"type", "string"},
             {"enum", {"pending", "downloading", "installing", "done", "failed", "timed-out"}}}},
           {"wave", Int()},
           {"offered_at", {{"type", "string"}, {"format", "date-time"}, {"nullable", true}}},
           {"updated_at", Time()},
           {"error", NullableStr()}});
  schemas["UpgradeRolloutStatus"] = {
      {"allOf",
       json::array({Ref("UpgradeRollout"),
                    Obj({{"agents", {{"type", "array"}, {"items", Ref("AgentUpgradeState")}}},
                         {"counts", {{"type", "object"}}}})})}};
  paths["/agent-upgrades"] = {
      {"get", Op("The tenant's agent upgrade rollouts", "any",
                 Merge({{"200", Resp("rollouts", List("UpgradeRollout"))}}, read))}};
  for (const auto& [base, what] :
       {std::pair<std::string, std::string>{"/agent-groups", "group"}, {"/policies", "policy"}}) {
    paths[base + "/{id}/upgrade"] = {
        {"parameters", json::array({IdParam()})},
        {"get", Op("The agent upgrade rollout of this " + what + " and each agent's state", "any",
                   Merge({{"200", Resp("rollout", Ref("UpgradeRolloutStatus"))}}, read))},
        {"put",
         Op("Set the target ward-agent version of this " + what +
                "'s agents: offered to first_wave_percent of them, then to the rest once those "
                "are back with it; a failure or an agent not back within timeout_s stops it. "
                "Putting it again starts afresh",
            "admin, operator", Merge({{"200", Resp("rollout", Ref("UpgradeRollout"))}}, write),
            Ref("UpgradeRolloutPut"))},
        {"delete", Op("Stop and remove the rollout (agents keep what they run)", "admin, operator",
                      Merge({{"204", Resp("deleted")}}, write))}};
  }
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
  // Egress proposals of a policy's services (issue #17, s8-pages; docs/egress.md).
  paths["/policies/{id}/egress-proposals"] = {
      {"parameters", json::array({IdParam()})},
      {"get",
       Op("The policy's egress services (mode, current allow-list) and, for each, the newest "
          "allow-list that learn mode proposed on one of the policy's hosts (its "
          "allowlist_proposed event); accept one by PATCHing the policy",
          "any",
          Merge({{"200", Resp("services and proposals", {{"type", "object"}})}},
                Errors({400, 401, 404, 429})),
          nullptr,
          json::array(
              {QueryParamSpec("window", "how far back to read events, 1m..400d, default 30d")}))}};

  // Egress reputation feeds (issue #17, s9-feeds; docs/egress.md "Managed feeds").
  schemas["EgressFeed"] =
      Obj({{"id", Str()},
           {"name", Str()},
           {"format", Str()},
           {"shared", Bool()},
           {"file", Merge(Str(), {{"description", "the file's name in the feeds bundle"}})},
           {"reference", Merge(Str(), {{"description", "managed:feeds/<name>, for a policy"}})},
           {"sha256", Str()},
           {"size", Int()},
           {"entries", Int()},
           {"created_at", Time()},
           {"updated_at", Time()}});
  json feed_body = {
      {"required", true},
      {"content",
       {{"text/plain", {{"schema", {{"type", "string"}, {"description", "the feed file"}}}}}}}};
  json feed_params = json::array(
      {QueryParamSpec("format", "hosts, domains, urlhaus_csv, spamhaus_drop or custom"),
       QueryParamSpec("shared", "true: every tenant's agents get it too (primary tenant only)")});
  json feed_create_params = feed_params;
  feed_create_params.push_back(QueryParamSpec("name", "1-64 of a-z, 0-9, '_', '-'"));
  paths["/feeds"] = {
      {"get", Op("The tenant's egress feeds, by name", "any",
                 Merge({{"200", Resp("feeds", List("EgressFeed"))}}, read))},
      {"post", Op("Upload a feed file (the body); read strictly: a line its format cannot read "
                  "answers 400 naming the line (code invalid_feed) and nothing is stored",
                  "admin, operator", Merge({{"201", Resp("created", Ref("EgressFeed"))}}, write),
                  nullptr, feed_create_params)}};
  paths["/feeds"]["post"]["requestBody"] = feed_body;
  paths["/feeds/{id}"] = {
      {"parameters", json::array({IdParam()})},
      {"get", Op("Get a feed", "any", Merge({{"200", Resp("feed", Ref("EgressFeed"))}}, read))},
      {"put",
       Op("Replace a feed's file (the body; checked as at upload)", "admin, operator",
          Merge({{"200", Resp("replaced", Ref("EgressFeed"))}}, write), nullptr, feed_params)},
      {"delete", Op("Delete a feed", "admin, operator", Merge({{"204", Resp("deleted")}}, write))}};
  paths["/feeds/{id}"]["put"]["requestBody"] = feed_body;
  paths["/feeds/{id}/content"] = {
      {"parameters", json::array({IdParam()})},
      {"get", Op("The feed file (text/plain)", "any", Merge({{"200", Resp("the file")}}, read))}};

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
