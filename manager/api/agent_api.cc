// The /agent/v1 half of ManagerApi (docs/agent-protocol.md).
#include <fmt/format.h>

#include <fstream>

#include "agent/updates/package.h"
#include "common/log.h"
#include "manager/alerting/rules.h"
#include "manager/api/event_batch.h"
#include "manager/api/json_body.h"
#include "manager/api/manager_api.h"
#include "manager/api/views.h"
#include "manager/auth/secrets.h"
#include "manager/services/activation_rules.h"
#include "manager/services/agent_upgrades.h"
#include "manager/services/alerts.h"
#include "manager/services/egress_feeds.h"
#include "manager/services/ip_lists.h"
#include "manager/services/updates.h"

namespace ward::manager {

using json = nlohmann::json;

namespace {

HttpResponse AgentError(int status, std::string code, std::string message, std::string field = "") {
  return ErrorResponse({status, std::move(code), std::move(message), std::move(field)});
}

HttpResponse Unauthenticated(std::string message) {
  return AgentError(401, "unauthenticated", std::move(message));
}

// The tenant's IP lists the policy's firewall section names without defining them, merged in
// (services/ip_lists.h): the agent gets a self-contained document.
Status MergeTenantIpLists(Store& store, Policy& p) {
  if (ExternalIpListNames(p.document).empty()) return Status::Ok();
  auto lists = store.ListIpLists(p.tenant_id);
  if (!lists) return lists.error();
  p.document = WithTenantIpLists(p.document, *lists);
  return Status::Ok();
}

// Agent-side store failures: 503 when the database is away (the agent retries), else 500.
HttpResponse StoreError(const Status& s) {
  if (s.code() == StatusCode::kUnavailable) {
    spdlog::warn("agent call: store unavailable: {}", s.message());
    return AgentError(503, "unavailable", "the manager cannot reach its database; retry");
  }
  spdlog::error("agent call: {}", s.ToString());
  return AgentError(500, "internal", "internal error");
}

std::string Bearer(std::string_view header) {
  constexpr std::string_view kPrefix = "Bearer ";
  if (header.size() <= kPrefix.size() || !header.starts_with(kPrefix)) return "";
  return std::string(header.substr(kPrefix.size()));
}

// Checks the fields the manager relies on; unknown fields are ignored (newer agents may send
// more), wrong types of known fields are refused with 400 invalid naming the field.
std::optional<ApiError> CheckKnown(const json& obj,
                                   std::initializer_list<std::pair<const char*, JsonType>> known,
                                   std::initializer_list<const char*> required) {
  for (const char* r : required) {
    if (!obj.contains(r) || obj[r].is_null()) {
      return ApiError{400, "invalid", fmt::format("{}: required", r), r};
    }
  }
  for (const auto& [name, type] : known) {
    if (!obj.contains(name) || obj[name].is_null()) continue;
    const json& v = obj[name];
    bool ok = type == JsonType::kString   ? v.is_string()
              : type == JsonType::kObject ? v.is_object()
              : type == JsonType::kArray  ? v.is_array()
              : type == JsonType::kInt    ? v.is_number_integer()
                                          : v.is_boolean();
    if (ok && type == JsonType::kString && v.get_ref<const std::string&>().size() > 4096)
      ok = false;
    if (!ok) return ApiError{400, "invalid", fmt::format("{}: wrong type or too long", name), name};
  }
  return std::nullopt;
}

std::string Str(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The ward-agent package of `version` for the agent's architecture (status.arch, else amd64,
// else the only one), or nullptr.
const AgentPackage* UpgradePackage(const PackageCatalog* catalog, const std::string& version,
                                   const std::string& arch) {
  if (catalog == nullptr) return nullptr;
  const AgentPackage* found = nullptr;
  for (const auto& p : catalog->packages()) {
    if (p.name != "ward-agent" || p.version != version) continue;
    if (p.arch == (arch.empty() ? "amd64" : arch)) return &p;
    if (found == nullptr) found = &p;
  }
  return arch.empty() ? found : nullptr;
}

// The heartbeat reply's updates.agent_package for `agent` (docs/updates.md "Agent upgrades"):
// the signed manifest of its rollout's target package while the rollout offers it; null
// otherwise. Progress (states, waves, events) is stored on the way.
Result<json> UpgradeOffer(Store& store, const PackageCatalog* catalog, const UpdateRepository* keys,
                          const Agent& agent, TimePoint now) {
  WARD_ASSIGN_OR_RETURN(auto rollout, RolloutForAgent(store, agent));
  if (!rollout) return json(nullptr);
  std::string arch;
  if (agent.status.is_object() && agent.status.contains("arch") &&
      agent.status["arch"].is_string()) {
    arch = agent.status["arch"].get<std::string>();
  }
  const AgentPackage* package = UpgradePackage(catalog, rollout->target_version, arch);
  const bool can_offer = package != nullptr && keys != nullptr;
  WARD_ASSIGN_OR_RETURN(RolloutPlan plan,
                        EvaluateRollout(store, *rollout, now, &agent, can_offer ? agent.id : ""));
  if (!plan.offer.contains(agent.id) || agent.version == rollout->target_version)
    return json(nullptr);
  if (!can_offer) {
    spdlog::warn("agent {}: upgrade to {} not offered: {}", agent.id, rollout->target_version,
                 keys == nullptr ? "the manager has no update key (--updates-dir)"
                                 : "no ward-agent package of that version in --packages-dir");
    return json(nullptr);
  }
  updates::PackageManifest m;
  m.version = package->version;
  m.arch = package->arch;
  m.file = package->file;
  m.sha256 = package->sha256;
  m.size = package->bytes->size();
  updates::SignedManifest sm = keys->SignText(updates::SerializePackageManifest(m));
  return json{{"version", m.version}, {"manifest", sm.manifest}, {"signature", sm.signature}};
}

}  // namespace

HttpResponse ManagerApi::HandleAgent(const HttpRequest& req) {
  if (req.path == "/agent/v1/packages" || req.path.starts_with("/agent/v1/packages/")) {
    return ServePackages(req);
  }
  const bool activate = req.path == "/agent/v1/activate";
  const bool heartbeat = req.path == "/agent/v1/heartbeat";
  const bool events = req.path == "/agent/v1/events";
  const bool update =
      req.path == "/agent/v1/updates/manifest" || req.path == "/agent/v1/updates/file";
  const bool upgrade = req.path == "/agent/v1/upgrade/package";
  if (!activate && !heartbeat && !events && !update && !upgrade) {
    return AgentError(404, "not_found", "no such resource");
  }
  if (req.method != "POST") {
    HttpResponse r = AgentError(405, "method_not_allowed", "method not allowed (allowed: POST)");
    r.headers.Add("Allow", "POST");
    return r;
  }
  if (activate) {
    if (req.body_error) return ErrorResponse(*req.body_error);
    return Activate(req);
  }
  std::string secret = Bearer(req.Authorization());
  if (secret.empty()) return Unauthenticated("missing agent credential");
  if (!secret.starts_with("wac_")) {
    return Unauthenticated("API keys are not accepted on /agent/v1; use the agent credential");
  }
  auto agent = store_.FindAgentByCredentialHash(HashSecret(secret));
  if (!agent) {
    if (agent.error().code() == StatusCode::kNotFound) return Unauthenticated("unknown credential");
    return StoreError(agent.error());
  }
  auto tenant = store_.GetTenant(agent->tenant_id);
  if (!tenant) {
    if (tenant.error().code() == StatusCode::kNotFound)
      return Unauthenticated("unknown credential");
    return StoreError(tenant.error());
  }
  if (tenant->disabled) return Unauthenticated("tenant disabled");
  if (int wait = agent_limiter_.Take("agent:" + agent->id); wait > 0) {
    HttpResponse r = AgentError(429, "rate_limited", "rate limited");
    r.headers.Add("Retry-After", std::to_string(wait));
    return r;
  }
  if (req.body_error) return ErrorResponse(*req.body_error);
  if (heartbeat) return Heartbeat(req, *agent, *tenant);
  if (upgrade) {
    // POST /agent/v1/upgrade/package {"file"}: a ward-agent package's bytes (docs/updates.md
    // "Agent upgrades"; the agent checks them against the signed manifest of its offer).
    auto body = ParseObjectBody(req.body);
    if (!body) return AgentError(400, "invalid", body.error().message);
    std::string file = Str(*body, "file");
    const PackageCatalog* catalog = options_.packages.get();
    const AgentPackage* p =
        catalog != nullptr && IsPackageFileName(file) ? catalog->Find(file) : nullptr;
    if (p == nullptr || p->name != "ward-agent") {
      return AgentError(404, "not_found", "no such agent package");
    }
    HttpResponse r;
    r.content_type = "application/vnd.debian.binary-package";
    r.body = *p->bytes;
    return r;
  }
  if (update) return UpdateCall(req, *agent);
  return IngestEvents(req, *agent);
}

HttpResponse ManagerApi::ServePackages(const HttpRequest& req) {
  if (req.method != "GET" && req.method != "HEAD") {
    HttpResponse r = AgentError(405, "method_not_allowed", "method not allowed (allowed: GET)");
    r.headers.Add("Allow", "GET, HEAD");
    return r;
  }
  const PackageCatalog* catalog = options_.packages.get();
  if (req.path == "/agent/v1/packages") {
    json items = json::array();
    if (catalog != nullptr) {
      for (const auto& p : catalog->packages()) {
        items.push_back({{"file", p.file},
                         {"name", p.name},
                         {"version", p.version},
                         {"arch", p.arch},
                         {"sha256", p.sha256},
                         {"size", p.bytes->size()}});
      }
    }
    return JsonResponse(200, {{"items", items}});
  }
  std::string_view file =
      std::string_view(req.path).substr(std::string_view("/agent/v1/packages/").size());
  const AgentPackage* p =
      catalog != nullptr && IsPackageFileName(file) ? catalog->Find(file) : nullptr;
  if (p == nullptr) return AgentError(404, "not_found", "no such package");
  HttpResponse r;
  r.content_type = "application/vnd.debian.binary-package";
  r.body = *p->bytes;
  r.headers.Add("ETag", "\"" + p->sha256 + "\"");
  r.headers.Add("Content-Disposition", "attachment; filename=\"" + p->file + "\"");
  r.headers.Add("X-Content-Type-Options", "nosniff");
  return r;
}

HttpResponse ManagerApi::Activate(const HttpRequest& req) {
  auto body = ParseObjectBody(req.body);
  if (!body) {
    ApiError e = body.error();
    e.code = "invalid";
    return ErrorResponse(e);
  }
  if (auto e = CheckKnown(*body,
                          {{"token", JsonType::kString},
                           {"hostname", JsonType::kString},
                           {"machine_id", JsonType::kString},
                           {"agent_version", JsonType::kString},
                           {"os", JsonType::kString},
                           {"clone_of", JsonType::kString},
                           {"ips", JsonType::kArray},
                           {"cloud", JsonType::kObject}},
                          {"hostname", "machine_id"})) {
    return ErrorResponse(*e);
  }
  std::string hostname = Str(*body, "hostname");
  if (hostname.empty() || hostname.size() > 255) {
    return AgentError(400, "invalid", "hostname: expected 1..255 bytes", "hostname");
  }
  std::string machine_id = Str(*body, "machine_id");
  if (machine_id.empty() || machine_id.size() > 256) {
    return AgentError(400, "invalid", "machine_id: expected 1..256 bytes", "machine_id");
  }
  const TimePoint now = clock_.Now();
  std::string tenant_id;
  std::optional<std::string> policy_id;
  std::string how;
  std::string matched_rule;             // the activation rule that chose the policy, if one did
  std::optional<std::string> group_id;  // the agent group that rule puts the agent in
  // A clone presents the credential of the agent it was copied from: same tenant and policy.
  std::string clone_of = Str(*body, "clone_of");
  if (!clone_of.empty()) {
    auto original = store_.FindAgentByCredentialHash(HashSecret(clone_of));
    if (original) {
      tenant_id = original->tenant_id;
      policy_id = original->policy_id;
      how = fmt::format("clone of {}", original->id);
    } else if (original.error().code() != StatusCode::kNotFound) {
      return StoreError(original.error());
    }
  }
  if (tenant_id.empty()) {
    std::string token = Str(*body, "token");
    if (token.empty()) return Unauthenticated("missing activation token");
    auto t = store_.UseActivationToken(HashSecret(token), now);
    if (!t) {
      if (t.error().code() == StatusCode::kUnauthenticated ||
          t.error().code() == StatusCode::kNotFound) {
        return Unauthenticated("activation token unknown, revoked, expired or used up");
      }
      return StoreError(t.error());
    }
    tenant_id = t->tenant_id;
    policy_id = t->policy_id;
    how = fmt::format("token {}", t->id);
    // Activation rules (docs/deployment.md): the first rule matching the host's facts assigns
    // its policy over the token's. A clone keeps its original's policy instead.
    auto rules_json = store_.GetActivationRules(tenant_id);
    if (!rules_json) return StoreError(rules_json.error());
    auto rules = ParseActivationRules(*rules_json);
    if (rules && !rules->empty()) {
      HostFacts facts;
      facts.hostname = hostname;
      facts.os = Str(*body, "os");
      if (body->contains("ips") && (*body)["ips"].is_array()) {
        for (const auto& ip : (*body)["ips"]) {
          if (ip.is_string() && facts.ips.size() < 64) facts.ips.push_back(ip);
        }
      }
      if (facts.ips.empty() && !req.remote_addr.empty()) facts.ips.push_back(req.remote_addr);
      if (body->contains("cloud") && (*body)["cloud"].is_object() &&
          (*body)["cloud"].contains("tags") && (*body)["cloud"]["tags"].is_object()) {
        for (auto it = (*body)["cloud"]["tags"].begin(); it != (*body)["cloud"]["tags"].end();
             ++it) {
          if (it.value().is_string() && facts.tags.size() < 64) facts.tags[it.key()] = it.value();
        }
      }
      if (const ActivationRule* r = FirstMatchingRule(*rules, facts)) {
        // The rule's group (issue #18): joined after the agent is created; its policy applies
        // when the rule names none.
        std::optional<std::string> rule_policy = r->policy_id;
        if (r->group_id) {
          auto g = store_.GetAgentGroup(tenant_id, *r->group_id);
          if (g) {
            group_id = g->id;
            matched_rule = r->name;
            if (!rule_policy) rule_policy = g->policy_id;
          } else if (g.error().code() != StatusCode::kNotFound) {
            return StoreError(g.error());
          } else {
            spdlog::warn("activation rule '{}' of tenant {} names a deleted agent group: ignored",
                         r->name, tenant_id);
          }
        }
        if (rule_policy) {
          auto p = store_.GetPolicy(tenant_id, *rule_policy);
          if (p) {
            policy_id = rule_policy;
            matched_rule = r->name;
          } else if (p.error().code() != StatusCode::kNotFound) {
            return StoreError(p.error());
          } else {
            spdlog::warn("activation rule '{}' of tenant {} names a deleted policy: ignored",
                         r->name, tenant_id);
          }
        }
      }
    }
  }
  auto tenant = store_.GetTenant(tenant_id);
  if (!tenant) {
    if (tenant.error().code() == StatusCode::kNotFound) return Unauthenticated("tenant gone");
    return StoreError(tenant.error());
  }
  if (tenant->disabled) return Unauthenticated("tenant disabled");
  std::optional<Policy> policy;
  if (policy_id) {
    auto p = store_.GetPolicy(tenant_id, *policy_id);
    if (p) {
      if (Status s = MergeTenantIpLists(store_, *p); !s.ok()) return StoreError(s);
      policy = std::move(*p);
    } else if (p.error().code() == StatusCode::kNotFound) {
      policy_id.reset();  // deleted since the token was made
    } else {
      return StoreError(p.error());
    }
  }
  Agent a;
  a.id = NewId();
  a.tenant_id = tenant_id;
  a.hostname = hostname;
  a.machine_id = machine_id;
  a.version = Str(*body, "agent_version").substr(0, 64);
  std::string credential = NewAgentCredential(a.id);
  a.credential_hash = HashSecret(credential);
  a.policy_id = policy_id;
  a.online = true;
  a.last_seen = now;
  if (body->contains("os") && (*body)["os"].is_string()) a.status = {{"os", Str(*body, "os")}};
  a.created_at = now;
  if (Status s = store_.CreateAgent(a); !s.ok()) return StoreError(s);
  if (group_id) {
    // The agent exists now: answering an error would make it activate again as another agent,
    // so a failure to join is logged and the agent stays outside the group.
    if (Status s = store_.SetAgentGroup(tenant_id, a.id, group_id, false, now); !s.ok()) {
      spdlog::error("agent {} not put into group {}: {}", a.id, *group_id, s.ToString());
      group_id.reset();
    }
  }
  AuditEntry audit;
  audit.id = NewId();
  audit.tenant_id = tenant_id;
  audit.actor = fmt::format("agent:{}", a.id);
  audit.method = "POST";
  audit.path = req.path;
  audit.status = 201;
  audit.detail = {{"object_id", a.id}, {"hostname", hostname}, {"via", how}};
  if (!matched_rule.empty()) audit.detail["activation_rule"] = matched_rule;
  if (group_id) audit.detail["group_id"] = *group_id;
  audit.at = now;
  if (Status s = store_.AppendAudit(audit); !s.ok()) {
    spdlog::error("audit of activation {} not stored: {}", a.id, s.ToString());
  }
  spdlog::info("agent {} ({}) activated in tenant {} by {}", a.id, hostname, tenant_id, how);
  return JsonResponse(201, {{"agent_id", a.id},
                            {"credential", credential},
                            {"tenant_id", tenant_id},
                            {"heartbeat_interval_s", tenant->settings.heartbeat_interval_s},
                            {"policy", policy ? AgentPolicyJson(*policy) : json(nullptr)}});
}

HttpResponse ManagerApi::Heartbeat(const HttpRequest& req, const Agent& agent,
                                   const Tenant& tenant) {
  auto body = ParseObjectBody(req.body);
  if (!body) {
    ApiError e = body.error();
    e.code = "invalid";
    return ErrorResponse(e);
  }
  if (auto e = CheckKnown(*body,
                          {{"machine_id", JsonType::kString},
                           {"status", JsonType::kObject},
                           {"command_results", JsonType::kArray}},
                          {"machine_id"})) {
    return ErrorResponse(*e);
  }
  json status = body->value("status", json::object());
  if (status.is_null()) status = json::object();
  if (auto e = CheckKnown(status,
                          {{"version", JsonType::kString},
                           {"hostname", JsonType::kString},
                           {"policy_version", JsonType::kInt},
                           {"policy_id", JsonType::kString}},
                          {})) {
    e->field = "status." + e->field;
    e->message = "status." + e->message;
    return ErrorResponse(*e);
  }
  json results = body->value("command_results", json::array());
  if (results.is_null()) results = json::array();
  for (size_t i = 0; i < results.size(); ++i) {
    const json& r = results[i];
    if (!r.is_object() || !r.contains("id") || !r["id"].is_string() || !r.contains("status") ||
        !r["status"].is_string()) {
      std::string f = fmt::format("command_results[{}]", i);
      return AgentError(400, "invalid", f + ": expected {\"id\": ..., \"status\": ...}", f);
    }
  }
  if (status.dump().size() > 256 * 1024) {
    return AgentError(400, "invalid", "status: larger than 256 KiB", "status");
  }
  if (Str(*body, "machine_id") != agent.machine_id) {
    return AgentError(409, "identity_conflict",
                      "machine_id differs from the activated host's: re-activate with clone_of");
  }
  const TimePoint now = clock_.Now();
  Agent updated = agent;
  updated.last_seen = now;
  updated.online = true;
  if (auto v = Str(status, "version"); !v.empty()) updated.version = v.substr(0, 64);
  if (auto h = Str(status, "hostname"); !h.empty() && h.size() <= 255) updated.hostname = h;
  int agent_version = agent.applied_policy_version;
  if (status.contains("policy_version") && status["policy_version"].is_number_integer()) {
    agent_version = status["policy_version"].get<int>();
  }
  updated.applied_policy_version = agent_version;
  updated.status = status;
  auto was_offline = store_.RecordHeartbeat(updated);
  if (!was_offline) return StoreError(was_offline.error());
  if (*was_offline) {
    StoredEvent e = ManagerAgentEvent(updated, "agent_online", 0, now);
    auto r = store_.InsertEvents({e});
    if (!r)
      spdlog::error("agent_online event for {} not stored: {}", agent.id, r.error().ToString());
  }
  for (const auto& r : results) {
    bool ok = r["status"] == "ok";
    json output = r.contains("output") ? r["output"] : json(nullptr);
    Status s = store_.CompleteCommand(agent.tenant_id, agent.id, r["id"], ok, output);
    if (!s.ok() && s.code() != StatusCode::kNotFound) return StoreError(s);
  }
  json out = {{"heartbeat_interval_s", tenant.settings.heartbeat_interval_s}};
  if (agent.policy_id) {
    auto p = store_.GetPolicy(agent.tenant_id, *agent.policy_id);
    if (p) {
      // Another version, or (agents that report policy_id) another policy of the same version
      // number: a new group's policy, or one assigned in place of another.
      std::string reported_id = Str(status, "policy_id");
      if (p->version != agent_version || (!reported_id.empty() && reported_id != p->id)) {
        if (Status s = MergeTenantIpLists(store_, *p); !s.ok()) return StoreError(s);
        out["policy"] = AgentPolicyJson(*p);
      }
    } else if (p.error().code() != StatusCode::kNotFound) {
      return StoreError(p.error());
    }
  } else if (agent_version != 0) {
    out["policy"] = nullptr;  // unassigned: the agent keeps its last policy, with a warning
  }
  auto commands = store_.TakeCommands(agent.tenant_id, agent.id);
  if (!commands) return StoreError(commands.error());
  json cmds = json::array();
  for (const auto& c : *commands)
    cmds.push_back({{"id", c.id}, {"name", c.name}, {"args", c.args}});
  out["commands"] = cmds;
  // Update bundles (docs/updates.md): the latest version of each kind and the key they are
  // signed with; the agent fetches what its policy uses.
  if (options_.updates != nullptr) {
    json bundles = json::array();
    for (const auto& b : options_.updates->Latest()) {
      if (b.manifest.kind == "feeds") continue;  // each tenant's own (below)
      bundles.push_back({{"kind", b.manifest.kind}, {"version", b.manifest.version}});
    }
    // The tenant's own "feeds" bundle (egress reputation feeds, docs/egress.md "Managed feeds"),
    // brought up to date with the store; a failure leaves it out of this reply only.
    if (feeds_ != nullptr) {
      auto fb = feeds_->Current(store_, agent.tenant_id, clock_.Now());
      if (!fb) {
        spdlog::warn("feeds bundle of tenant {}: {}", agent.tenant_id, fb.error().ToString());
      } else if (*fb) {
        bundles.push_back({{"kind", "feeds"}, {"version", (*fb)->manifest.version}});
      }
    }
    out["updates"] = {{"key", options_.updates->PublicKeyBase64()}, {"bundles", bundles}};
  }
  // Agent upgrades: the package of the rollout's target, signed with the same key.
  auto offer = UpgradeOffer(store_, options_.packages.get(), options_.updates.get(), updated, now);
  if (!offer) {
    spdlog::error("agent {}: upgrade rollout: {}", agent.id, offer.error().ToString());
  } else if (!offer->is_null() && out.contains("updates")) {
    out["updates"]["agent_package"] = *offer;
  }
  return JsonResponse(200, out);
}

// POST /agent/v1/updates/manifest {"kind", "version"}: the signed manifest.
// POST /agent/v1/updates/file {"kind", "sha256"}: a file's bytes, streamed.
HttpResponse ManagerApi::UpdateCall(const HttpRequest& req, const Agent& agent) {
  if (options_.updates == nullptr) return AgentError(404, "not_found", "no update bundles here");
  auto body = ParseObjectBody(req.body);
  if (!body) {
    ApiError e = body.error();
    e.code = "invalid";
    return ErrorResponse(e);
  }
  const bool manifest = req.path == "/agent/v1/updates/manifest";
  if (manifest) {
    if (auto e = CheckKnown(*body, {{"kind", JsonType::kString}, {"version", JsonType::kInt}},
                            {"kind", "version"})) {
      return ErrorResponse(*e);
    }
    // "feeds": the agent's tenant's own bundle; never another tenant's.
    const std::string kind = Str(*body, "kind");
    const int64_t version = (*body)["version"].get<int64_t>();
    auto b = kind == "feeds" ? (feeds_ != nullptr ? feeds_->Get(agent.tenant_id, version)
                                                  : Result<UpdateBundle>(NotFound("no feeds")))
                             : options_.updates->Get(kind, version);
    if (!b) return AgentError(404, "not_found", b.error().message());
    HttpResponse r;
    r.content_type = std::string(kJsonContentType);
    r.body = updates::SignedManifestToJson(b->signed_manifest);
    return r;
  }
  if (auto e = CheckKnown(*body, {{"kind", JsonType::kString}, {"sha256", JsonType::kString}},
                          {"kind", "sha256"})) {
    return ErrorResponse(*e);
  }
  const std::string kind = Str(*body, "kind");
  auto path = kind == "feeds"
                  ? (feeds_ != nullptr ? feeds_->FilePath(agent.tenant_id, Str(*body, "sha256"))
                                       : Result<std::filesystem::path>(NotFound("no feeds")))
                  : options_.updates->FilePath(kind, Str(*body, "sha256"));
  if (!path) return AgentError(404, "not_found", "no such file in any bundle of that kind");
  auto file = std::make_shared<std::ifstream>(*path, std::ios::binary);
  if (!*file) return AgentError(404, "not_found", "no such file in any bundle of that kind");
  HttpResponse r;
  r.content_type = "application/octet-stream";
  // Streamed in 1 MiB pieces: a 100 MB database to many agents at once holds no copy in memory.
  r.stream = [file](std::string& out) -> Result<bool> {
    char buf[1 << 16];
    size_t n = 0;
    while (n < (1 << 20) && *file) {
      file->read(buf, sizeof buf);
      out.append(buf, static_cast<size_t>(file->gcount()));
      n += static_cast<size_t>(file->gcount());
    }
    if (file->bad()) return Unavailable("reading an update file failed");
    return !file->eof();
  };
  return r;
}

HttpResponse ManagerApi::IngestEvents(const HttpRequest& req, const Agent& agent) {
  BatchOwner owner{agent.tenant_id, agent.id, agent.hostname};
  ParsedBatch batch = ParseEventBatch(req.body, owner, event_index_);
  if (batch.lines > options_.max_batch_events) {
    return AgentError(
        413, "too_large",
        fmt::format("batch: {} events, more than {}", batch.lines, options_.max_batch_events),
        "batch");
  }
  IngestResult stored;
  if (!batch.events.empty()) {
    // Severe events become alerts (docs/alerts.md), in the same transaction as the events: an
    // answered batch has lost no alert, and a resent one (its events now duplicates) counts
    // nothing twice. Only the severe events are looked at again.
    // Alert rules (issue 19): the tenant's enabled built-in defaults and own rules, cached.
    auto rules = alert_rules_->For(agent.tenant_id);
    auto signals = alerting::SignalsFor(
        batch.events, agent.hostname, *rules, [] { return NewId(); }, clock_.Now());
    auto r = store_.InsertEventsWithAlerts(batch.events, signals, options_.alert_window);
    if (!r) return StoreError(r.error());
    stored = *r;
  }
  json rejected = json::array();
  for (const auto& rj : batch.rejected)
    rejected.push_back({{"line", rj.line}, {"error", rj.error}});
  return JsonResponse(200, {{"accepted", stored.accepted},
                            {"duplicates", stored.duplicates + batch.duplicates_in_batch},
                            {"rejected", rejected}});
}

}  // namespace ward::manager
