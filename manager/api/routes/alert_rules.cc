// Alert rules, notification channels and an alert's delivery log (issue 19, docs/alerts.md,
// docs/api.md "Alert rules and channels").
#include <fmt/format.h>

#include "manager/alerting/notifier.h"
#include "manager/alerting/rules.h"
#include "manager/alerting/senders.h"
#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"
#include "manager/auth/secrets.h"

namespace ward::manager {

using json = nlohmann::json;

namespace {

json RuleJson(const alerting::EffectiveRule& r) {
  json spec = alerting::SpecJson(r.spec);
  return {{"id", r.id},
          {"name", r.name},
          {"builtin", r.builtin},
          {"enabled", r.enabled},
          {"filter", spec["filter"]},
          {"window_s", spec["window_s"]},
          {"throttle", spec["throttle"]},
          {"channels", spec["channels"]},
          {"updated_at", TimeJson(r.updated_at)}};
}

json ChannelJson(const AlertChannel& c) {
  return {{"id", c.id},
          {"name", c.name},
          {"kind", c.kind},
          {"enabled", c.enabled},
          {"config", alerting::RedactChannelConfig(c.config)},
          {"consecutive_failures", c.consecutive_failures},
          {"failing_since", TimeJson(c.failing_since)},
          {"created_at", TimeJson(c.created_at)},
          {"updated_at", TimeJson(c.updated_at)}};
}

// The rule's document out of a request body (name/enabled are the row's own columns).
json SpecOf(const json& body) {
  json spec = json::object();
  for (const char* k : {"filter", "window_s", "throttle", "channels"}) {
    if (body.contains(k)) spec[k] = body[k];
  }
  return spec;
}

// Every channel a rule names must be the tenant's.
std::optional<ApiError> CheckChannels(Store& store, const std::string& tenant,
                                      const alerting::RuleSpec& spec) {
  for (size_t i = 0; i < spec.channels.size(); ++i) {
    auto c = store.GetAlertChannel(tenant, spec.channels[i]);
    if (!c) {
      if (c.error().code() == StatusCode::kNotFound) {
        return BadRequest("invalid_field", fmt::format("channels[{}]", i),
                          fmt::format("channels[{}]: no such alert channel", i));
      }
      return FromStatus(c.error());
    }
  }
  return std::nullopt;
}

ApiResult<alerting::EffectiveRule> FindRule(Store& store, const std::string& tenant,
                                            const std::string& id) {
  auto stored = store.ListAlertRules(tenant);
  if (!stored) return FromStatus(stored.error());
  for (auto& r : alerting::EffectiveRules(*stored)) {
    if (r.id == id) return r;
  }
  return ApiError{404, "not_found", "no such alert rule", ""};
}

}  // namespace

void AddAlertingRoutes(RouteTable& table, RouteDeps deps, alerting::AlertRuleBook& rules,
                       std::shared_ptr<const SecretBox> box) {
  // ---- rules
  table.Add("GET", "/api/v1/alert-rules", Access::kAny,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto stored = deps.store.ListAlertRules(p.tenant.id);
              if (!stored) return Err(stored.error());
              json items = json::array();
              for (const auto& r : alerting::EffectiveRules(*stored)) items.push_back(RuleJson(r));
              return JsonResponse(200, {{"items", items}});
            });
  table.Add("POST", "/api/v1/alert-rules", Access::kWrite,
            [deps, &rules](const HttpRequest& req, const PathParams&, Principal& p) {
              auto body = ParseObjectBody(req.body);
              if (!body) return Err(body.error());
              if (auto e = CheckFields(*body, {{"name", JsonType::kString, true, false, 1, 255},
                                               {"enabled", JsonType::kBool},
                                               {"filter", JsonType::kObject},
                                               {"window_s", JsonType::kInt},
                                               {"throttle", JsonType::kObject},
                                               {"channels", JsonType::kArray}})) {
                return Err(*e);
              }
              alerting::RuleSpec spec;
              json doc = SpecOf(*body);
              if (auto e = alerting::ParseRuleSpec(doc, false, spec)) {
                return Err(BadRequest("invalid_field", e->field, e->message));
              }
              if (auto e = CheckChannels(deps.store, p.tenant.id, spec)) return Err(*e);
              AlertRule r;
              r.id = NewId();
              r.tenant_id = p.tenant.id;
              r.name = (*body)["name"];
              r.enabled = body->value("enabled", true);
              r.spec = alerting::SpecJson(spec);
              r.created_at = r.updated_at = deps.clock.Now();
              if (Status s = deps.store.CreateAlertRule(r); !s.ok()) return Err(s);
              rules.Invalidate(p.tenant.id);
              p.audit["object_id"] = r.id;
              auto out = FindRule(deps.store, p.tenant.id, r.id);
              if (!out) return Err(out.error());
              return JsonResponse(201, RuleJson(*out));
            });
  table.Add("GET", "/api/v1/alert-rules/{id}", Access::kAny,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto r = FindRule(deps.store, p.tenant.id, path.at("id"));
              if (!r) return Err(r.error());
              return JsonResponse(200, RuleJson(*r));
            });
  // Replaces a rule. A built-in default keeps its name and filter; the rest is stored as an
  // override (DELETE restores the default).
  table.Add(
      "PUT", "/api/v1/alert-rules/{id}", Access::kWrite,
      [deps, &rules](const HttpRequest& req, const PathParams& path, Principal& p) {
        auto body = ParseObjectBody(req.body);
        if (!body) return Err(body.error());
        const std::string& id = path.at("id");
        const bool builtin = alerting::IsBuiltinId(id);
        if (auto e = CheckFields(*body, {{"name", JsonType::kString, !builtin, false, 1, 255},
                                         {"enabled", JsonType::kBool},
                                         {"filter", JsonType::kObject},
                                         {"window_s", JsonType::kInt},
                                         {"throttle", JsonType::kObject},
                                         {"channels", JsonType::kArray}})) {
          return Err(*e);
        }
        auto current = FindRule(deps.store, p.tenant.id, id);
        if (!current) return Err(current.error());
        if (builtin && body->contains("name") && (*body)["name"] != current->name) {
          return Err(BadRequest("invalid_field", "name", "name: a built-in rule keeps its name"));
        }
        alerting::RuleSpec spec;
        if (auto e = alerting::ParseRuleSpec(SpecOf(*body), builtin, spec)) {
          return Err(BadRequest("invalid_field", e->field, e->message));
        }
        if (auto e = CheckChannels(deps.store, p.tenant.id, spec)) return Err(*e);
        AlertRule r;
        r.id = id;
        r.tenant_id = p.tenant.id;
        r.name = builtin ? current->name : (*body)["name"].get<std::string>();
        r.enabled = body->value("enabled", true);
        json doc = alerting::SpecJson(spec);
        if (builtin) {
          doc.erase("filter");
          if (!body->contains("window_s")) doc.erase("window_s");
        }
        r.spec = doc;
        r.created_at = r.updated_at = deps.clock.Now();
        Status s = deps.store.UpdateAlertRule(r);
        if (builtin && s.code() == StatusCode::kNotFound) s = deps.store.CreateAlertRule(r);
        if (!s.ok()) return LookupError(s, "alert rule");
        rules.Invalidate(p.tenant.id);
        p.audit["object_id"] = id;
        auto out = FindRule(deps.store, p.tenant.id, id);
        if (!out) return Err(out.error());
        return JsonResponse(200, RuleJson(*out));
      });
  table.Add("DELETE", "/api/v1/alert-rules/{id}", Access::kWrite,
            [deps, &rules](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              const std::string& id = path.at("id");
              Status s = deps.store.DeleteAlertRule(p.tenant.id, id);
              // A built-in default without an override is already as it was.
              if (alerting::IsBuiltinId(id) && s.code() == StatusCode::kNotFound &&
                  FindRule(deps.store, p.tenant.id, id)) {
                s = Status::Ok();
              }
              if (!s.ok()) return LookupError(s, "alert rule");
              rules.Invalidate(p.tenant.id);
              p.audit["object_id"] = id;
              return EmptyResponse();
            });

  // ---- channels
  table.Add("GET", "/api/v1/alert-channels", Access::kAny,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto list = deps.store.ListAlertChannels(p.tenant.id);
              if (!list) return Err(list.error());
              json items = json::array();
              for (const auto& c : *list) items.push_back(ChannelJson(c));
              return JsonResponse(200, {{"items", items}});
            });
  auto write_channel = [deps, &rules, box](const HttpRequest& req, const PathParams& path,
                                           Principal& p) {
    const bool create = req.method == "POST";
    auto body = ParseObjectBody(req.body);
    if (!body) return Err(body.error());
    if (auto e = CheckFields(*body, {{"name", JsonType::kString, true, false, 1, 255},
                                     {"kind", JsonType::kString, create, false, 1, 64},
                                     {"enabled", JsonType::kBool},
                                     {"config", JsonType::kObject, true}})) {
      return Err(*e);
    }
    AlertChannel c;
    if (!create) {
      auto cur = deps.store.GetAlertChannel(p.tenant.id, path.at("id"));
      if (!cur) return LookupError(cur.error(), "alert channel");
      c = *cur;
      if (body->contains("kind") && (*body)["kind"] != c.kind) {
        return Err(BadRequest("invalid_field", "kind", "kind: a channel keeps its kind"));
      }
    } else {
      c.id = NewId();
      c.tenant_id = p.tenant.id;
      c.kind = (*body)["kind"];
      c.created_at = deps.clock.Now();
    }
    json config = (*body)["config"];
    // A secret left out of a replacement keeps its stored value (the API never shows it).
    if (!create) {
      for (const char* k : {"secret", "password"}) {
        if (!config.contains(k) && c.config.contains(k)) config[k] = c.config[k];
      }
    }
    json check = config;
    for (const char* k : {"secret", "password"}) {
      if (check.contains(k) && check[k].is_string() &&
          SecretBox::IsSealed(check[k].get<std::string>())) {
        check[k] = "sealed";
      }
    }
    if (auto e = alerting::CheckChannelConfig(c.kind, check)) {
      std::string field = e->substr(0, e->find(':'));
      return Err(BadRequest("invalid_field", field, *e));
    }
    c.name = (*body)["name"];
    c.enabled = body->value("enabled", true);
    c.config = alerting::SealChannelSecrets(config, box.get());
    c.updated_at = deps.clock.Now();
    Status s = create ? deps.store.CreateAlertChannel(c) : deps.store.UpdateAlertChannel(c);
    if (!s.ok()) {
      if (s.code() == StatusCode::kAlreadyExists) {
        return Err(ApiError{409, "conflict", "name: a channel of this name exists", "name"});
      }
      return LookupError(s, "alert channel");
    }
    rules.Invalidate(p.tenant.id);
    p.audit["object_id"] = c.id;
    p.audit["kind"] = c.kind;
    auto out = deps.store.GetAlertChannel(p.tenant.id, c.id);
    if (!out) return Err(out.error());
    return JsonResponse(create ? 201 : 200, ChannelJson(*out));
  };
  table.Add("POST", "/api/v1/alert-channels", Access::kWrite, write_channel);
  table.Add("GET", "/api/v1/alert-channels/{id}", Access::kAny,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto c = deps.store.GetAlertChannel(p.tenant.id, path.at("id"));
              if (!c) return LookupError(c.error(), "alert channel");
              return JsonResponse(200, ChannelJson(*c));
            });
  table.Add("PUT", "/api/v1/alert-channels/{id}", Access::kWrite, write_channel);
  table.Add("DELETE", "/api/v1/alert-channels/{id}", Access::kWrite,
            [deps, &rules](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              Status s = deps.store.DeleteAlertChannel(p.tenant.id, path.at("id"));
              if (!s.ok()) return LookupError(s, "alert channel");
              rules.Invalidate(p.tenant.id);
              p.audit["object_id"] = path.at("id");
              return EmptyResponse();
            });
  // Queues a notification of an existing alert to the channel (a test, or a re-send).
  table.Add(
      "POST", "/api/v1/alert-channels/{id}/notify", Access::kWrite,
      [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
        auto body = ParseObjectBody(req.body);
        if (!body) return Err(body.error());
        if (auto e = CheckFields(*body, {{"alert_id", JsonType::kString, true, false, 1, 64}})) {
          return Err(*e);
        }
        Notification n;
        n.id = NewId();
        n.tenant_id = p.tenant.id;
        n.alert_id = (*body)["alert_id"];
        n.channel_id = path.at("id");
        n.rule_id = "manual";
        n.created_at = n.next_attempt_at = deps.clock.Now();
        Status s = deps.store.QueueNotification(n);
        if (!s.ok()) return Err(s);
        p.audit["object_id"] = n.channel_id;
        p.audit["alert_id"] = n.alert_id;
        return JsonResponse(202, {{"notification_id", n.id}});
      });

  // ---- an alert's delivery log
  table.Add("GET", "/api/v1/alerts/{id}/deliveries", Access::kAny,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto ns = deps.store.ListNotifications(p.tenant.id, path.at("id"));
              if (!ns) return LookupError(ns.error(), "alert");
              auto attempts = deps.store.ListDeliveryAttempts(p.tenant.id, path.at("id"));
              if (!attempts) return LookupError(attempts.error(), "alert");
              json items = json::array();
              for (const auto& n : *ns) {
                json tries = json::array();
                for (const auto& a : *attempts) {
                  if (a.notification_id != n.id) continue;
                  tries.push_back({{"attempt", a.attempt},
                                   {"at", TimeJson(a.at)},
                                   {"ok", a.ok},
                                   {"duration_ms", a.duration_ms},
                                   {"detail", a.detail}});
                }
                items.push_back({{"id", n.id},
                                 {"channel_id", n.channel_id},
                                 {"rule_id", n.rule_id},
                                 {"state", NotificationStateName(n.state)},
                                 {"attempts", n.attempts},
                                 {"created_at", TimeJson(n.created_at)},
                                 {"next_attempt_at", n.state == NotificationState::kPending
                                                         ? TimeJson(n.next_attempt_at)
                                                         : json(nullptr)},
                                 {"sent_at", TimeJson(n.sent_at)},
                                 {"last_error", n.last_error},
                                 {"log", tries}});
              }
              return JsonResponse(200, {{"items", items}});
            });
}

}  // namespace ward::manager
