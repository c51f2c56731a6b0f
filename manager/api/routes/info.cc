// GET /api/v1/info: what an install command needs (the manager's version and the fingerprint of
// its TLS certificate, which agents pin), for the console's activation-token page.
#include "agent/version.h"
#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"

namespace ward::manager {

void AddInfoRoutes(RouteTable& table, RouteDeps, std::string tls_fingerprint) {
  table.Add(
      "GET", "/api/v1/info", Access::kAny,
      [fp = std::move(tls_fingerprint)](const HttpRequest& req, const PathParams&, Principal&) {
        if (auto e = CheckQuery(req, {})) return Err(*e);
        return JsonResponse(200,
                            {{"version", std::string(agent::kVersion)}, {"tls_fingerprint", fp}});
      });
}

}  // namespace ward::manager
