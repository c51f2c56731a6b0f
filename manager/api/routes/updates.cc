// /api/v1/updates: the manager's update bundles (docs/updates.md). Listing is open to every
// role of every tenant (agents of every tenant receive them); publishing is for the primary
// tenant's admins, since bundles are the manager's, not a tenant's.
#include "manager/services/updates.h"

#include <fmt/format.h>

#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"

namespace ward::manager {
namespace {

using json = nlohmann::json;

json BundleJson(const UpdateBundle& b) {
  json files = json::array();
  uint64_t bytes = 0;
  for (const auto& f : b.manifest.files) {
    files.push_back({{"name", f.name}, {"sha256", f.sha256}, {"size", f.size}});
    bytes += f.size;
  }
  return {{"kind", b.manifest.kind},
          {"version", b.manifest.version},
          {"created", b.manifest.created},
          {"files", files},
          {"bytes", bytes},
          {"signature", b.signed_manifest.signature}};
}

HttpResponse NoRepository() {
  return ErrorResponse(
      {503, "unavailable", "update bundles are not configured on this manager", ""});
}

}  // namespace

void AddUpdateRoutes(RouteTable& table, RouteDeps deps, UpdateRepository* repo) {
  table.Add("GET", "/api/v1/updates", Access::kAny,
            [repo](const HttpRequest& req, const PathParams&, Principal&) {
              if (auto e = CheckQuery(req, {"kind", "all"})) return Err(*e);
              if (repo == nullptr) return NoRepository();
              std::string kind;
              bool all = false;
              for (const auto& [k, v] : req.query) {
                if (k == "kind") kind = v;
                if (k == "all") all = v == "true" || v == "1";
              }
              if (!kind.empty() && !updates::IsKind(kind)) {
                return Err(BadRequest("invalid", "kind", "kind: one of clamav, yara, crs, rules"));
              }
              json out = json::array();
              auto bundles = all ? repo->List(kind) : repo->Latest();
              for (const auto& b : bundles) {
                if (kind.empty() || b.manifest.kind == kind) out.push_back(BundleJson(b));
              }
              return JsonResponse(200, {{"key", repo->PublicKeyBase64()}, {"bundles", out}});
            });
  // The body is the file's bytes; the new version holds the latest one's files plus this one.
  table.Add("PUT", "/api/v1/updates/{kind}/files/{name}", Access::kPrimaryAdmin,
            [repo, deps](const HttpRequest& req, const PathParams& params, Principal& p) {
              if (auto e = CheckQuery(req, {"replace_all"})) return Err(*e);
              if (repo == nullptr) return NoRepository();
              const std::string& kind = params.at("kind");
              const std::string& name = params.at("name");
              if (!updates::IsKind(kind)) {
                return Err(BadRequest("invalid", "kind", "kind: one of clamav, yara, crs, rules"));
              }
              if (kind == "feeds") {
                return Err(BadRequest("invalid", "kind",
                                      "kind: feeds are each tenant's, uploaded with POST "
                                      "/api/v1/feeds"));
              }
              if (Status s = updates::CheckFileName(kind, name); !s.ok()) {
                return Err(BadRequest("invalid", "name", fmt::format("name: {}", s.message())));
              }
              if (req.body.empty()) {
                return Err(BadRequest("invalid", "body", "body: the file's bytes are required"));
              }
              bool replace_all = false;
              for (const auto& [k, v] : req.query) {
                if (k == "replace_all") replace_all = v == "true" || v == "1";
              }
              auto b = repo->Publish(kind, {{name, req.body}}, replace_all, deps.clock.Now());
              if (!b) return Err(b.error());
              p.audit["object_id"] = fmt::format("{}/v{}", kind, b->manifest.version);
              p.audit["file"] = name;
              p.audit["bytes"] = req.body.size();
              return JsonResponse(201, BundleJson(*b));
            });
}

}  // namespace ward::manager
