// Alerts (docs/alerts.md): severe events grouped per (rule, host), triaged open → acknowledged
// → resolved, one at a time or in bulk.
#include <fmt/format.h>

#include <map>

#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"

namespace ward::manager {

using json = nlohmann::json;

namespace {

constexpr int kMaxBulk = 1000;

// Who an alert's actor ("user:<id>", "apikey:<id>") is, by name: the tenant's users and API keys
// as they are now, read once per request. A deleted user or key has no name (the id stays).
class ActorNames {
 public:
  ActorNames() = default;
  static Result<ActorNames> Load(Store& store, const std::string& tenant_id) {
    ActorNames n;
    auto users = store.ListUsers(tenant_id);
    if (!users) return users.error();
    for (const auto& u : *users) n.names_["user:" + u.id] = u.username;
    auto keys = store.ListApiKeys(tenant_id);
    if (!keys) return keys.error();
    for (const auto& k : *keys) n.names_["apikey:" + k.id] = k.name;
    return n;
  }
  json NameOf(const std::optional<std::string>& actor) const {
    if (!actor) return nullptr;
    auto it = names_.find(*actor);
    return it == names_.end() ? json(nullptr) : json(it->second);
  }

 private:
  std::map<std::string, std::string> names_;
};

json StateJson(const std::optional<std::string>& by, const std::optional<TimePoint>& at,
               const std::optional<std::string>& reason, const ActorNames& names) {
  if (!at) return nullptr;
  return {{"by", by ? json(*by) : json(nullptr)},
          {"by_name", names.NameOf(by)},
          {"at", TimeJson(at)},
          {"reason", reason ? json(*reason) : json(nullptr)}};
}

json AlertJson(const Alert& a, const ActorNames& names) {
  return {{"id", a.id},
          {"source", a.source},
          {"rule_key", a.rule_key},
          {"agent_id", a.agent_id},
          {"module", a.module},
          {"title", a.title},
          {"severity", a.severity},
          {"state", AlertStateName(a.state)},
          {"count", a.count},
          {"first_seen", TimeJson(a.first_seen)},
          {"last_seen", TimeJson(a.last_seen)},
          {"first_event_id", a.first_event_id},
          {"last_event_id", a.last_event_id},
          {"acknowledged",
           StateJson(a.acknowledged_by, a.acknowledged_at, a.acknowledged_reason, names)},
          {"resolved", StateJson(a.resolved_by, a.resolved_at, a.resolved_reason, names)},
          {"updated_at", TimeJson(a.updated_at)}};
}

// {"state": ..., "reason": ...} (+ "ids" for bulk) into a transition by the caller.
ApiResult<AlertTransition> ReadTransition(const json& body, const Principal& p, TimePoint now) {
  AlertTransition t;
  if (!ParseAlertState(body["state"].get<std::string>(), t.to)) {
    return BadRequest("invalid_field", "state", "state: expected open, acknowledged or resolved");
  }
  if (body.contains("reason") && !body["reason"].is_null()) t.reason = body["reason"];
  t.actor = p.actor;
  t.at = now;
  return t;
}

std::optional<int> ParseSeverityParam(std::string_view s) {
  static constexpr std::string_view kNames[] = {"info", "low", "medium", "high", "critical"};
  for (int i = 0; i < 5; ++i) {
    if (s == kNames[i] || (s.size() == 1 && s[0] == '0' + i)) return i;
  }
  return std::nullopt;
}

}  // namespace

void AddAlertRoutes(RouteTable& table, RouteDeps deps) {
  table.Add("GET", "/api/v1/alerts", Access::kAny,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              if (auto e = CheckQuery(
                      req, {"state", "agent", "module", "min_severity", "limit", "cursor"})) {
                return Err(*e);
              }
              AlertFilter f;
              if (auto v = QueryParam(req, "state")) {
                AlertState st;
                if (!ParseAlertState(*v, st)) {
                  return Err(BadRequest("invalid_query", "state",
                                        "state: expected open, acknowledged or resolved"));
                }
                f.state = st;
              }
              if (auto e = ReadTextParam(req, "agent", f.agent_id)) return Err(*e);
              if (auto e = ReadTextParam(req, "module", f.module)) return Err(*e);
              if (auto v = QueryParam(req, "min_severity")) {
                f.min_severity = ParseSeverityParam(*v);
                if (!f.min_severity) {
                  return Err(BadRequest(
                      "invalid_query", "min_severity",
                      "min_severity: expected 0..4 or info, low, medium, high, critical"));
                }
              }
              auto limit = ReadLimit(req, 100, 1000);
              if (!limit) return Err(limit.error());
              f.limit = *limit;
              if (auto e = ReadCursor(req, f.before)) return Err(*e);
              auto list = deps.store.ListAlerts(p.tenant.id, f);
              if (!list) return Err(list.error());
              auto names = ActorNames::Load(deps.store, p.tenant.id);
              if (!names) return Err(names.error());
              json items = json::array();
              for (const auto& a : *list) items.push_back(AlertJson(a, *names));
              json next = nullptr;
              if (static_cast<int>(list->size()) == f.limit && !list->empty()) {
                next = EncodeCursor(list->back().last_seen, list->back().id);
              }
              return JsonResponse(200, {{"items", items}, {"next_cursor", next}});
            });
  // Bulk: {"ids": [...], "state": ..., "reason": ...}; all change or none.
  table.Add(
      "PATCH", "/api/v1/alerts", Access::kWrite,
      [deps](const HttpRequest& req, const PathParams&, Principal& p) {
        auto body = ParseObjectBody(req.body);
        if (!body) return Err(body.error());
        if (auto e = CheckFields(*body, {{"ids", JsonType::kArray, true},
                                         {"state", JsonType::kString, true},
                                         {"reason", JsonType::kString, false, true, 0, 1024}})) {
          return Err(*e);
        }
        const json& ids = (*body)["ids"];
        if (ids.empty() || ids.size() > kMaxBulk) {
          return Err(BadRequest("invalid_field", "ids",
                                fmt::format("ids: expected 1..{} alert ids", kMaxBulk)));
        }
        std::vector<std::string> list;
        for (size_t i = 0; i < ids.size(); ++i) {
          if (!ids[i].is_string() || ids[i].get<std::string>().empty() ||
              ids[i].get<std::string>().size() > 64) {
            return Err(BadRequest("invalid_field", fmt::format("ids[{}]", i),
                                  fmt::format("ids[{}]: expected an alert id", i)));
          }
          list.push_back(ids[i]);
        }
        auto t = ReadTransition(*body, p, deps.clock.Now());
        if (!t) return Err(t.error());
        auto changed = deps.store.TransitionAlerts(p.tenant.id, list, *t);
        if (!changed) return Err(changed.error());  // 404 names the unknown id
        auto names = ActorNames::Load(deps.store, p.tenant.id);
        if (!names) return Err(names.error());
        json items = json::array();
        for (const auto& a : *changed) items.push_back(AlertJson(a, *names));
        p.audit["state"] = AlertStateName(t->to);
        p.audit["count"] = list.size();
        return JsonResponse(200, {{"items", items}});
      });
  table.Add("GET", "/api/v1/alerts/{id}", Access::kAny,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto a = deps.store.GetAlert(p.tenant.id, path.at("id"));
              if (!a) return LookupError(a.error(), "alert");
              auto names = ActorNames::Load(deps.store, p.tenant.id);
              if (!names) return Err(names.error());
              return JsonResponse(200, AlertJson(*a, *names));
            });
  table.Add(
      "PATCH", "/api/v1/alerts/{id}", Access::kWrite,
      [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
        auto body = ParseObjectBody(req.body);
        if (!body) return Err(body.error());
        if (auto e = CheckFields(*body, {{"state", JsonType::kString, true},
                                         {"reason", JsonType::kString, false, true, 0, 1024}})) {
          return Err(*e);
        }
        auto t = ReadTransition(*body, p, deps.clock.Now());
        if (!t) return Err(t.error());
        auto changed = deps.store.TransitionAlerts(p.tenant.id, {path.at("id")}, *t);
        if (!changed) return LookupError(changed.error(), "alert");
        p.audit["object_id"] = path.at("id");
        p.audit["state"] = AlertStateName(t->to);
        auto names = ActorNames::Load(deps.store, p.tenant.id);
        if (!names) return Err(names.error());
        return JsonResponse(200, AlertJson(changed->front(), *names));
      });
}

}  // namespace ward::manager
