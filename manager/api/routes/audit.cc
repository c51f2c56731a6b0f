// The audit trail of the tenant: every mutating /api/v1 call (ManagerApi appends it).
#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"

namespace ward::manager {

using json = nlohmann::json;

void AddAuditRoutes(RouteTable& table, RouteDeps deps) {
  table.Add("GET", "/api/v1/audit", Access::kAudit,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              if (auto e = CheckQuery(req, {"limit", "cursor"})) return Err(*e);
              auto limit = ReadLimit(req, 100, 1000);
              if (!limit) return Err(limit.error());
              std::optional<std::pair<TimePoint, std::string>> after;
              if (auto c = QueryParam(req, "cursor")) {
                after = DecodeCursor(*c);
                if (!after) {
                  return Err(BadRequest("invalid_pagination", "cursor",
                                        "cursor: not a cursor this API returned"));
                }
              }
              auto entries = deps.store.QueryAudit(p.tenant.id, after, *limit);
              if (!entries) return Err(entries.error());
              json items = json::array();
              for (const auto& e : *entries) items.push_back(AuditJson(e));
              json next = nullptr;
              if (static_cast<int>(entries->size()) == *limit && !entries->empty()) {
                next = EncodeCursor(entries->back().at, entries->back().id);
              }
              return JsonResponse(200, {{"items", items}, {"next_cursor", next}});
            });
}

}  // namespace ward::manager
