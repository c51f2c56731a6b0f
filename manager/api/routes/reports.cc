// Reports (docs/reports.md): made now (POST /reports), kept and downloaded, and made on a
// schedule (/report-schedules, run by the "reports" job). Every lookup is within the caller's
// tenant: another tenant's report or schedule answers 404.
#include <fmt/format.h>

#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"
#include "manager/auth/secrets.h"
#include "manager/reports/render.h"
#include "manager/reports/report.h"
#include "manager/reports/schedules.h"

namespace ward::manager {

using json = nlohmann::json;
namespace rp = reports;

namespace {

constexpr int kMaxRecipients = 20;
constexpr auto kDefaultPeriod = std::chrono::hours(24 * 7);

json ReportJson(const StoredReport& r) {
  return {{"id", r.id},
          {"kind", r.kind},
          {"format", r.format},
          {"language", r.language},
          {"from", TimeJson(r.period_from)},
          {"to", TimeJson(r.period_to)},
          {"schedule_id", r.schedule_id.empty() ? json(nullptr) : json(r.schedule_id)},
          {"created_by", r.created_by},
          {"created_at", TimeJson(r.created_at)},
          {"size", r.size},
          {"download", fmt::format("/api/v1/reports/{}/download", r.id)}};
}

json ScheduleJson(const ReportSchedule& s) {
  return {{"id", s.id},
          {"name", s.name},
          {"frequency", s.frequency},
          {"kind", s.kind},
          {"format", s.format},
          {"language", s.language},
          {"recipients", s.recipients},
          {"enabled", s.enabled},
          {"next_run_at", TimeJson(s.next_run_at)},
          {"last_run_at", TimeJson(s.last_run_at)},
          {"last_report_id", s.last_report_id.empty() ? json(nullptr) : json(s.last_report_id)},
          {"last_error", s.last_error.empty() ? json(nullptr) : json(s.last_error)},
          {"created_at", TimeJson(s.created_at)}};
}

// A report's e-mails (docs/reports.md "Delivery by e-mail"): delivery state, attempts, the
// last error, per language.
json MailsJson(const std::vector<ReportMail>& mails) {
  json out = json::array();
  for (const ReportMail& m : mails) {
    out.push_back(
        {{"id", m.id},
         {"language", m.language},
         {"recipients", m.recipients},
         {"state", ReportMailStateName(m.state)},
         {"attempts", m.attempts},
         {"queued_at", TimeJson(m.created_at)},
         {"next_attempt_at",
          m.state == ReportMailState::kPending ? TimeJson(m.next_attempt_at) : json(nullptr)},
         {"last_attempt_at", TimeJson(m.last_attempt_at)},
         {"sent_at", TimeJson(m.sent_at)},
         {"last_error", m.last_error.empty() ? json(nullptr) : json(m.last_error)}});
  }
  return out;
}

// kind, format, language from a body into their names (checked); `field` names the wrong one.
std::optional<ApiError> ReadReportChoice(const json& body, std::string& kind, std::string& format,
                                         std::string& language) {
  if (body.contains("kind")) kind = body["kind"].get<std::string>();
  if (body.contains("format")) format = body["format"].get<std::string>();
  if (body.contains("language")) language = body["language"].get<std::string>();
  rp::ReportKind k;
  rp::ReportFormat f;
  rp::Language l;
  if (!rp::ParseKind(kind, k)) {
    return BadRequest("invalid_field", "kind", "kind: expected summary or pci_dss");
  }
  if (!rp::ParseFormat(format, f)) {
    return BadRequest("invalid_field", "format", "format: expected pdf, html or csv");
  }
  if (!rp::ParseLanguage(language, l)) {
    return BadRequest("invalid_field", "language", "language: expected en or ja");
  }
  return std::nullopt;
}

// An address a mail header can carry: local@domain, printable ASCII without spaces, quotes,
// angle brackets, commas or semicolons.
bool PlausibleAddress(const std::string& a) {
  if (a.size() < 3 || a.size() > 254) return false;
  size_t at = a.find('@');
  if (at == std::string::npos || at == 0 || at + 1 == a.size() || a.find('@', at + 1) != a.npos) {
    return false;
  }
  for (unsigned char c : a) {
    if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>' || c == ',' || c == ';' || c == '"' ||
        c == '\\' || c == '(' || c == ')') {
      return false;
    }
  }
  return true;
}

std::optional<ApiError> ReadRecipients(const json& body, std::vector<std::string>& out) {
  if (!body.contains("recipients")) return std::nullopt;
  const json& list = body["recipients"];
  if (list.size() > kMaxRecipients) {
    return BadRequest("invalid_field", "recipients",
                      fmt::format("recipients: at most {} addresses", kMaxRecipients));
  }
  out.clear();
  for (size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_string() || !PlausibleAddress(list[i].get<std::string>())) {
      return BadRequest("invalid_field", fmt::format("recipients[{}]", i),
                        fmt::format("recipients[{}]: expected an e-mail address", i));
    }
    out.push_back(list[i]);
  }
  return std::nullopt;
}

std::string UserLanguage(const Principal& p) {
  return p.user && p.user->language == "ja" ? "ja" : "en";
}

void AddReportRunRoutes(RouteTable& table, RouteDeps deps) {
  // Run now: {kind, format?, language?, from?, to?} -> 201 with the kept report's metadata.
  table.Add(
      "POST", "/api/v1/reports", Access::kAny,
      [deps](const HttpRequest& req, const PathParams&, Principal& p) {
        auto body = ParseObjectBody(req.body);
        if (!body) return Err(body.error());
        if (auto e = CheckFields(*body, {{"kind", JsonType::kString, true},
                                         {"format", JsonType::kString},
                                         {"language", JsonType::kString},
                                         {"from", JsonType::kTimestamp},
                                         {"to", JsonType::kTimestamp}})) {
          return Err(*e);
        }
        std::string kind, format = "pdf", language = UserLanguage(p);
        if (auto e = ReadReportChoice(*body, kind, format, language)) return Err(*e);
        const TimePoint now = deps.clock.Now();
        rp::ReportRequest rr;
        rp::ParseKind(kind, rr.kind);
        rp::ParseLanguage(language, rr.language);
        rp::ReportFormat f = rp::ReportFormat::kPdf;
        rp::ParseFormat(format, f);
        rr.to = OptTime(*body, "to").value_or(now);
        rr.from = OptTime(*body, "from").value_or(rr.to - kDefaultPeriod);
        if (rr.to <= rr.from) {
          return Err(BadRequest("invalid_field", "to", "to: must be after from"));
        }
        if (rr.to - rr.from > std::chrono::hours(24 * 400)) {
          return Err(BadRequest("invalid_field", "from", "from: the period is at most 400 days"));
        }
        auto data = rp::BuildReport(deps.store, p.tenant, rr, now);
        if (!data) return Err(data.error());
        auto bytes = rp::Render(*data, f);
        if (!bytes) return Err(bytes.error());
        StoredReport r;
        r.id = NewId();
        r.tenant_id = p.tenant.id;
        r.kind = kind;
        r.format = format;
        r.language = language;
        r.period_from = rr.from;
        r.period_to = rr.to;
        r.created_by = p.actor;
        r.created_at = now;
        r.size = static_cast<int64_t>(bytes->size());
        r.content = std::move(*bytes);
        if (Status s = deps.store.CreateReport(r); !s.ok()) return Err(s);
        p.audit["object_id"] = r.id;
        p.audit["kind"] = kind;
        p.audit["format"] = format;
        return JsonResponse(201, ReportJson(r));
      });
  table.Add("GET", "/api/v1/reports", Access::kAny,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              if (auto e = CheckQuery(req, {"limit", "cursor"})) return Err(*e);
              auto limit = ReadLimit(req, 100, 1000);
              if (!limit) return Err(limit.error());
              std::optional<std::pair<TimePoint, std::string>> before;
              if (auto e = ReadCursor(req, before)) return Err(*e);
              auto list = deps.store.ListReports(p.tenant.id, before, *limit);
              if (!list) return Err(list.error());
              json items = json::array();
              for (const auto& r : *list) items.push_back(ReportJson(r));
              json next = nullptr;
              if (static_cast<int>(list->size()) == *limit && !list->empty()) {
                next = EncodeCursor(list->back().created_at, list->back().id);
              }
              return JsonResponse(200, {{"items", items}, {"next_cursor", next}});
            });
  table.Add("GET", "/api/v1/reports/{id}", Access::kAny,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto r = deps.store.GetReport(p.tenant.id, path.at("id"), false);
              if (!r) return LookupError(r.error(), "report");
              auto mails = deps.store.ListReportMails(p.tenant.id, r->id);
              if (!mails) return LookupError(mails.error(), "report");
              json out = ReportJson(*r);
              out["mails"] = MailsJson(*mails);
              return JsonResponse(200, out);
            });
  table.Add("GET", "/api/v1/reports/{id}/download", Access::kAny,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto r = deps.store.GetReport(p.tenant.id, path.at("id"), true);
              if (!r) return LookupError(r.error(), "report");
              rp::ReportFormat f = rp::ReportFormat::kPdf;
              rp::ParseFormat(r->format, f);
              HttpResponse out;
              out.status = 200;
              out.content_type = std::string(rp::ContentType(f));
              out.body = std::move(r->content);
              out.headers.Set("Content-Disposition",
                              fmt::format("attachment; filename=\"ward-{}-{}{}\"", r->kind,
                                          TimeJson(r->period_to).get<std::string>().substr(0, 10),
                                          rp::FileSuffix(f)));
              out.headers.Set("Cache-Control", "no-store");
              out.headers.Set("X-Content-Type-Options", "nosniff");
              // A downloaded HTML report runs nothing even if opened from the manager's origin.
              out.headers.Set("Content-Security-Policy",
                              "default-src 'none'; style-src 'unsafe-inline'; sandbox");
              return out;
            });
  table.Add("DELETE", "/api/v1/reports/{id}", Access::kWrite,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              Status s = deps.store.DeleteReport(p.tenant.id, path.at("id"));
              if (!s.ok()) return LookupError(s, "report");
              p.audit["object_id"] = path.at("id");
              return EmptyResponse();
            });
}

void AddScheduleRoutes(RouteTable& table, RouteDeps deps) {
  table.Add("GET", "/api/v1/report-schedules", Access::kAny,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto list = deps.store.ListReportSchedules(p.tenant.id);
              if (!list) return Err(list.error());
              json items = json::array();
              for (const auto& s : *list) items.push_back(ScheduleJson(s));
              return JsonResponse(200, {{"items", items}});
            });
  table.Add(
      "POST", "/api/v1/report-schedules", Access::kWrite,
      [deps](const HttpRequest& req, const PathParams&, Principal& p) {
        auto body = ParseObjectBody(req.body);
        if (!body) return Err(body.error());
        if (auto e = CheckFields(*body, {{"name", JsonType::kString, true, false, 1, 255},
                                         {"frequency", JsonType::kString, true},
                                         {"kind", JsonType::kString, true},
                                         {"format", JsonType::kString},
                                         {"language", JsonType::kString},
                                         {"recipients", JsonType::kArray},
                                         {"enabled", JsonType::kBool}})) {
          return Err(*e);
        }
        ReportSchedule s;
        s.id = NewId();
        s.tenant_id = p.tenant.id;
        s.name = (*body)["name"];
        s.frequency = (*body)["frequency"];
        if (!rp::ValidFrequency(s.frequency)) {
          return Err(BadRequest("invalid_field", "frequency",
                                "frequency: expected daily, weekly or monthly"));
        }
        s.format = "pdf";
        s.language = UserLanguage(p);
        if (auto e = ReadReportChoice(*body, s.kind, s.format, s.language)) return Err(*e);
        if (auto e = ReadRecipients(*body, s.recipients)) return Err(*e);
        if (body->contains("enabled")) s.enabled = (*body)["enabled"];
        s.created_at = deps.clock.Now();
        s.next_run_at = rp::NextRun(s.frequency, s.created_at);
        Status st = deps.store.CreateReportSchedule(s);
        if (st.code() == StatusCode::kAlreadyExists) {
          return Err(ApiError{409, "conflict", "name: a schedule of this name exists", "name"});
        }
        if (!st.ok()) return Err(st);
        p.audit["object_id"] = s.id;
        return JsonResponse(201, ScheduleJson(s));
      });
  table.Add("GET", "/api/v1/report-schedules/{id}", Access::kAny,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto s = deps.store.GetReportSchedule(p.tenant.id, path.at("id"));
              if (!s) return LookupError(s.error(), "report schedule");
              json out = ScheduleJson(*s);
              // The e-mails of the last report (deleted report: none).
              out["last_mails"] = json::array();
              if (!s->last_report_id.empty()) {
                auto mails = deps.store.ListReportMails(p.tenant.id, s->last_report_id);
                if (mails) {
                  out["last_mails"] = MailsJson(*mails);
                } else if (mails.error().code() != StatusCode::kNotFound) {
                  return LookupError(mails.error(), "report schedule");
                }
              }
              return JsonResponse(200, out);
            });
  table.Add(
      "PATCH", "/api/v1/report-schedules/{id}", Access::kWrite,
      [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
        auto body = ParseObjectBody(req.body);
        if (!body) return Err(body.error());
        if (auto e = CheckFields(*body, {{"name", JsonType::kString, false, false, 1, 255},
                                         {"frequency", JsonType::kString},
                                         {"kind", JsonType::kString},
                                         {"format", JsonType::kString},
                                         {"language", JsonType::kString},
                                         {"recipients", JsonType::kArray},
                                         {"enabled", JsonType::kBool}})) {
          return Err(*e);
        }
        auto s = deps.store.GetReportSchedule(p.tenant.id, path.at("id"));
        if (!s) return LookupError(s.error(), "report schedule");
        if (body->contains("name")) s->name = (*body)["name"];
        if (body->contains("frequency")) {
          std::string f = (*body)["frequency"];
          if (!rp::ValidFrequency(f)) {
            return Err(BadRequest("invalid_field", "frequency",
                                  "frequency: expected daily, weekly or monthly"));
          }
          if (f != s->frequency) s->next_run_at = rp::NextRun(f, deps.clock.Now());
          s->frequency = f;
        }
        if (auto e = ReadReportChoice(*body, s->kind, s->format, s->language)) return Err(*e);
        if (auto e = ReadRecipients(*body, s->recipients)) return Err(*e);
        if (body->contains("enabled")) {
          bool enabled = (*body)["enabled"];
          // Re-enabled: the next period from now, not every period missed while it was off.
          if (enabled && !s->enabled) s->next_run_at = rp::NextRun(s->frequency, deps.clock.Now());
          s->enabled = enabled;
        }
        Status st = deps.store.UpdateReportSchedule(*s);
        if (st.code() == StatusCode::kAlreadyExists) {
          return Err(ApiError{409, "conflict", "name: a schedule of this name exists", "name"});
        }
        if (!st.ok()) return LookupError(st, "report schedule");
        p.audit["object_id"] = s->id;
        return JsonResponse(200, ScheduleJson(*s));
      });
  table.Add("DELETE", "/api/v1/report-schedules/{id}", Access::kWrite,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              Status s = deps.store.DeleteReportSchedule(p.tenant.id, path.at("id"));
              if (!s.ok()) return LookupError(s, "report schedule");
              p.audit["object_id"] = path.at("id");
              return EmptyResponse();
            });
}

}  // namespace

void AddReportRoutes(RouteTable& table, RouteDeps deps) {
  AddReportRunRoutes(table, deps);
  AddScheduleRoutes(table, deps);
}

}  // namespace ward::manager
