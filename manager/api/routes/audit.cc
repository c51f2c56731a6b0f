// The audit trail of the tenant: every mutating /api/v1 call (ManagerApi appends it), filtered
// server-side (actor, method, path text, status, time range) with cursor paging either way.
#include <fmt/format.h>

#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"

namespace ward::manager {

using json = nlohmann::json;

namespace {

std::optional<ApiError> ReadAuditTime(const HttpRequest& req, const char* name,
                                      std::optional<TimePoint>& out) {
  auto v = QueryParam(req, name);
  if (!v) return std::nullopt;
  out = ParseTimestamp(*v);
  if (!out) {
    return BadRequest(
        "invalid_query", name,
        fmt::format("{}: expected an RFC 3339 timestamp like 2026-11-25T20:50:51Z", name));
  }
  return std::nullopt;
}

// status=200 (exact, 100..599), 2xx..5xx, or "failed" (400..599).
std::optional<ApiError> ReadAuditStatus(const HttpRequest& req, AuditQuery& q) {
  auto v = QueryParam(req, "status");
  if (!v) return std::nullopt;
  const std::string& s = *v;
  if (s == "failed") {
    q.status_min = 400;
    q.status_max = 599;
    return std::nullopt;
  }
  if (s.size() == 3 && s[0] >= '1' && s[0] <= '5' && s[1] == 'x' && s[2] == 'x') {
    q.status_min = (s[0] - '0') * 100;
    q.status_max = q.status_min.value() + 99;
    return std::nullopt;
  }
  if (s.size() == 3 && s[0] >= '1' && s[0] <= '5' &&
      std::isdigit(static_cast<unsigned char>(s[1])) &&
      std::isdigit(static_cast<unsigned char>(s[2]))) {
    q.status_min = q.status_max = std::stoi(s);
    return std::nullopt;
  }
  return BadRequest("invalid_query", "status",
                    "status: expected a code (e.g. 403), 1xx..5xx, or failed (400..599)");
}

std::optional<ApiError> ReadAuditFilters(const HttpRequest& req, AuditQuery& q) {
  if (auto e = ReadAuditTime(req, "from", q.from)) return e;
  if (auto e = ReadAuditTime(req, "to", q.to)) return e;
  if (q.from && q.to && *q.from > *q.to) {
    return BadRequest("invalid_query", "from", "from: later than to");
  }
  if (auto e = ReadTextParam(req, "actor", q.actor)) return e;
  if (auto e = ReadTextParam(req, "method", q.method)) return e;
  if (auto e = ReadTextParam(req, "path", q.path)) return e;
  if (q.method) {
    for (char& c : *q.method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (auto e = ReadAuditStatus(req, q)) return e;
  return ReadOrder(req, q.descending);
}

}  // namespace

void AddAuditRoutes(RouteTable& table, RouteDeps deps) {
  table.Add("GET", "/api/v1/audit", Access::kAudit,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              if (auto e = CheckQuery(req, {"limit", "cursor", "actor", "method", "path", "status",
                                            "from", "to", "order"})) {
                return Err(*e);
              }
              AuditQuery q;
              if (auto e = ReadAuditFilters(req, q)) return Err(*e);
              auto limit = ReadLimit(req, 100, 1000);
              if (!limit) return Err(limit.error());
              q.limit = *limit;
              if (auto e = ReadCursor(req, q.after)) return Err(*e);
              auto entries = deps.store.SearchAudit(p.tenant.id, q);
              if (!entries) return Err(entries.error());
              json items = json::array();
              for (const auto& e : *entries) items.push_back(AuditJson(e));
              json next = nullptr;
              if (static_cast<int>(entries->size()) == q.limit && !entries->empty()) {
                next = EncodeCursor(entries->back().at, entries->back().id);
              }
              return JsonResponse(200, {{"items", items}, {"next_cursor", next}});
            });
}

}  // namespace ward::manager
