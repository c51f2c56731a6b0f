// SIEM forwarders (docs/siem.md, docs/api.md): syslog receivers fed every event of the tenant,
// each with its durable cursor, progress and backlog.
#include <fmt/format.h>

#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"
#include "manager/auth/secrets.h"
#include "manager/siem/format.h"
#include "manager/siem/syslog_sender.h"

namespace ward::manager {

using json = nlohmann::json;

namespace {

constexpr int64_t kBacklogCap = 10'000'000;  // counted exactly up to this

json ForwarderJson(const SiemForwarder& f, std::optional<int64_t> backlog) {
  json out = {{"id", f.id},
              {"name", f.name},
              {"transport", f.transport},
              {"host", f.host},
              {"port", f.port},
              {"format", f.format},
              {"facility", f.facility},
              {"min_severity", f.min_severity},
              {"enabled", f.enabled},
              {"ca_pem", f.ca_pem.empty() ? json(nullptr) : json(f.ca_pem)},
              {"server_name", f.server_name.empty() ? json(nullptr) : json(f.server_name)},
              {"tls_verify", f.tls_verify},
              {"created_at", TimeJson(f.created_at)},
              {"updated_at", TimeJson(f.updated_at)},
              {"sent", f.sent},
              {"skipped", f.skipped},
              {"resent", f.resent},
              {"last_sent_at", TimeJson(f.last_sent_at)},
              {"last_error", f.last_error.empty() ? json(nullptr) : json(f.last_error)},
              {"last_error_at", TimeJson(f.last_error_at)}};
  if (backlog) {
    out["backlog"] = *backlog;
    out["backlog_capped"] = *backlog >= kBacklogCap;
  }
  return out;
}

// The configuration fields of a body (POST: all, PATCH: those present) into `f`.
std::optional<ApiError> ApplyConfig(const json& body, SiemForwarder& f) {
  if (body.contains("name")) f.name = body["name"];
  if (body.contains("transport")) {
    siem::SyslogTransport t;
    if (!siem::ParseSyslogTransport(body["transport"].get<std::string>(), t)) {
      return BadRequest("invalid_field", "transport", "transport: expected udp, tcp or tls");
    }
    f.transport = body["transport"];
  }
  if (body.contains("format")) {
    siem::SiemFormat fmt;
    if (!siem::ParseSiemFormat(body["format"].get<std::string>(), fmt)) {
      return BadRequest("invalid_field", "format", "format: expected cef, leef or json");
    }
    f.format = body["format"];
  }
  if (body.contains("host")) f.host = body["host"];
  if (body.contains("port")) f.port = body["port"];
  if (body.contains("facility")) f.facility = body["facility"];
  if (body.contains("min_severity")) f.min_severity = body["min_severity"];
  if (body.contains("enabled")) f.enabled = body["enabled"];
  if (body.contains("tls_verify")) f.tls_verify = body["tls_verify"];
  if (body.contains("server_name")) {
    f.server_name = body["server_name"].is_null() ? "" : body["server_name"].get<std::string>();
  }
  if (body.contains("ca_pem")) {
    f.ca_pem = body["ca_pem"].is_null() ? "" : body["ca_pem"].get<std::string>();
    if (!f.ca_pem.empty() && f.ca_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return BadRequest("invalid_field", "ca_pem",
                        "ca_pem: expected PEM certificates (-----BEGIN CERTIFICATE-----)");
    }
  }
  return std::nullopt;
}

std::initializer_list<FieldSpec> ConfigFields(bool create) {
  static const std::initializer_list<FieldSpec> kCreate = {
      {"name", JsonType::kString, true, false, 1, 255},
      {"transport", JsonType::kString, true},
      {"host", JsonType::kString, true, false, 1, 255},
      {"port", JsonType::kInt, true, false, 1, 65535},
      {"format", JsonType::kString, true},
      {"facility", JsonType::kInt, false, false, 0, 23},
      {"min_severity", JsonType::kInt, false, false, 0, 4},
      {"enabled", JsonType::kBool},
      {"ca_pem", JsonType::kString, false, true, 0, 65536},
      {"server_name", JsonType::kString, false, true, 0, 255},
      {"tls_verify", JsonType::kBool},
      {"start", JsonType::kString}};
  static const std::initializer_list<FieldSpec> kUpdate = {
      {"name", JsonType::kString, false, false, 1, 255},
      {"transport", JsonType::kString},
      {"host", JsonType::kString, false, false, 1, 255},
      {"port", JsonType::kInt, false, false, 1, 65535},
      {"format", JsonType::kString},
      {"facility", JsonType::kInt, false, false, 0, 23},
      {"min_severity", JsonType::kInt, false, false, 0, 4},
      {"enabled", JsonType::kBool},
      {"ca_pem", JsonType::kString, false, true, 0, 65536},
      {"server_name", JsonType::kString, false, true, 0, 255},
      {"tls_verify", JsonType::kBool}};
  return create ? kCreate : kUpdate;
}

}  // namespace

void AddSiemForwarderRoutes(RouteTable& table, RouteDeps deps) {
  table.Add("GET", "/api/v1/siem-forwarders", Access::kAny,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto list = deps.store.ListSiemForwarders(p.tenant.id);
              if (!list) return Err(list.error());
              json items = json::array();
              for (const auto& f : *list) {
                auto backlog = deps.store.CountSiemEvents(p.tenant.id, f.cursor, kBacklogCap);
                if (!backlog) return Err(backlog.error());
                items.push_back(ForwarderJson(f, *backlog));
              }
              return JsonResponse(200, {{"items", items}});
            });
  table.Add("POST", "/api/v1/siem-forwarders", Access::kAdmin,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              auto body = ParseObjectBody(req.body);
              if (!body) return Err(body.error());
              if (auto e = CheckFields(*body, ConfigFields(true))) return Err(*e);
              SiemForwarder f;
              if (auto e = ApplyConfig(*body, f)) return Err(*e);
              std::string start = body->value("start", "now");
              if (start == "now") {
                auto end = deps.store.SiemLogEnd(p.tenant.id);
                if (!end) return Err(end.error());
                f.cursor = *end;
              } else if (start != "oldest") {
                return Err(BadRequest("invalid_field", "start", "start: expected now or oldest"));
              }
              f.id = NewId();
              f.tenant_id = p.tenant.id;
              f.created_at = f.updated_at = deps.clock.Now();
              if (Status s = deps.store.CreateSiemForwarder(f); !s.ok()) return Err(s);
              p.audit["object_id"] = f.id;
              auto backlog = deps.store.CountSiemEvents(p.tenant.id, f.cursor, kBacklogCap);
              if (!backlog) return Err(backlog.error());
              return JsonResponse(201, ForwarderJson(f, *backlog));
            });
  table.Add("GET", "/api/v1/siem-forwarders/{id}", Access::kAny,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto f = deps.store.GetSiemForwarder(p.tenant.id, path.at("id"));
              if (!f) return LookupError(f.error(), "SIEM forwarder");
              auto backlog = deps.store.CountSiemEvents(p.tenant.id, f->cursor, kBacklogCap);
              if (!backlog) return Err(backlog.error());
              return JsonResponse(200, ForwarderJson(*f, *backlog));
            });
  // The backlog alone: events stored and not yet forwarded, and the progress.
  table.Add("GET", "/api/v1/siem-forwarders/{id}/backlog", Access::kAny,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto f = deps.store.GetSiemForwarder(p.tenant.id, path.at("id"));
              if (!f) return LookupError(f.error(), "SIEM forwarder");
              auto backlog = deps.store.CountSiemEvents(p.tenant.id, f->cursor, kBacklogCap);
              if (!backlog) return Err(backlog.error());
              return JsonResponse(
                  200, {{"id", f->id},
                        {"backlog", *backlog},
                        {"backlog_capped", *backlog >= kBacklogCap},
                        {"sent", f->sent},
                        {"skipped", f->skipped},
                        {"resent", f->resent},
                        {"last_sent_at", TimeJson(f->last_sent_at)},
                        {"last_error", f->last_error.empty() ? json(nullptr) : json(f->last_error)},
                        {"last_error_at", TimeJson(f->last_error_at)}});
            });
  table.Add("PATCH", "/api/v1/siem-forwarders/{id}", Access::kAdmin,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              auto body = ParseObjectBody(req.body);
              if (!body) return Err(body.error());
              if (auto e = CheckFields(*body, ConfigFields(false))) return Err(*e);
              auto f = deps.store.GetSiemForwarder(p.tenant.id, path.at("id"));
              if (!f) return LookupError(f.error(), "SIEM forwarder");
              if (auto e = ApplyConfig(*body, *f)) return Err(*e);
              f->updated_at = deps.clock.Now();
              if (Status s = deps.store.UpdateSiemForwarder(*f); !s.ok()) {
                return LookupError(s, "SIEM forwarder");
              }
              p.audit["object_id"] = f->id;
              auto backlog = deps.store.CountSiemEvents(p.tenant.id, f->cursor, kBacklogCap);
              if (!backlog) return Err(backlog.error());
              return JsonResponse(200, ForwarderJson(*f, *backlog));
            });
  table.Add("DELETE", "/api/v1/siem-forwarders/{id}", Access::kAdmin,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              if (Status s = deps.store.DeleteSiemForwarder(p.tenant.id, path.at("id")); !s.ok()) {
                return LookupError(s, "SIEM forwarder");
              }
              p.audit["object_id"] = path.at("id");
              return EmptyResponse();
            });
}

}  // namespace ward::manager
