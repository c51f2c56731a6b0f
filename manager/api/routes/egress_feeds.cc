// /api/v1/feeds: egress reputation feeds the manager distributes (issue #17; docs/egress.md
// "Managed feeds", docs/api.md "Egress feeds"). The body of POST and PUT is the feed file itself;
// it is read strictly before anything is stored: a line its format cannot read answers 400 naming
// the line, and nothing is stored. Agents get the tenant's feeds as its "feeds" update bundle
// (manager/services/egress_feeds.h).
#include "manager/services/egress_feeds.h"

#include <fmt/format.h>

#include "agent/updates/layout.h"
#include "common/hash.h"
#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"
#include "manager/auth/secrets.h"

namespace ward::manager {

using json = nlohmann::json;

namespace {

constexpr size_t kFeedMaxBytes = size_t{32} << 20;

json FeedJson(const EgressFeed& f) {
  return {{"id", f.id},
          {"name", f.name},
          {"format", f.format},
          {"shared", f.shared},
          {"file", FeedFileName(f)},
          {"reference", fmt::format("managed:feeds/{}", f.name)},
          {"sha256", f.sha256},
          {"size", f.size},
          {"entries", f.entries},
          {"created_at", TimeJson(f.created_at)},
          {"updated_at", TimeJson(f.updated_at)}};
}

// The query's value of `key`, or nullopt.
std::optional<std::string> QueryValue(const HttpRequest& req, std::string_view key) {
  for (const auto& [k, v] : req.query) {
    if (k == key) return v;
  }
  return std::nullopt;
}

std::optional<ApiError> ReadBool(const HttpRequest& req, std::string_view key, bool& out) {
  auto v = QueryValue(req, key);
  if (!v) return std::nullopt;
  if (*v == "true" || *v == "1") {
    out = true;
  } else if (*v == "false" || *v == "0") {
    out = false;
  } else {
    return BadRequest("invalid", std::string(key), fmt::format("{}: true or false", key));
  }
  return std::nullopt;
}

// Format, shared flag and the body checked into `f` (content, sha256, size, entries).
std::optional<ApiError> ReadFeedBody(const HttpRequest& req, const Principal& p, EgressFeed& f) {
  if (auto format = QueryValue(req, "format")) f.format = *format;
  if (updates::FeedExtension(f.format).empty()) {
    return BadRequest("invalid", "format",
                      "format: hosts, domains, urlhaus_csv, spamhaus_drop or custom");
  }
  if (auto e = ReadBool(req, "shared", f.shared)) return e;
  if (f.shared && !p.tenant.primary) {
    return ApiError{403, "forbidden",
                    "shared: only the primary tenant shares feeds with every tenant", "shared"};
  }
  if (req.body.empty()) return BadRequest("invalid", "body", "body: the feed file is required");
  if (req.body.size() > kFeedMaxBytes) {
    return BadRequest("invalid", "body", "body: a feed has at most 32 MiB");
  }
  if (Status s = CheckFeedText(f.format, req.body, &f.entries); !s.ok()) {
    return BadRequest("invalid_feed", "body", fmt::format("body: {}", s.message()));
  }
  f.content = req.body;
  f.sha256 = DigestHex(Sha256::Of(req.body));
  f.size = static_cast<int64_t>(req.body.size());
  return std::nullopt;
}

HttpResponse StoreError(const Status& s) {
  if (s.code() == StatusCode::kAlreadyExists) {
    return Err(ApiError{409, "conflict", "name: a feed of this name exists", "name"});
  }
  return LookupError(s, "feed");
}

}  // namespace

void AddEgressFeedRoutes(RouteTable& table, RouteDeps deps) {
  table.Add("GET", "/api/v1/feeds", Access::kAny,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto list = deps.store.ListEgressFeeds(p.tenant.id);
              if (!list) return Err(list.error());
              json items = json::array();
              for (const auto& f : *list) items.push_back(FeedJson(f));
              return JsonResponse(200, {{"items", items}});
            });
  // POST /api/v1/feeds?name=N&format=F[&shared=true], the file as the body.
  table.Add("POST", "/api/v1/feeds", Access::kWrite,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              if (auto e = CheckQuery(req, {"name", "format", "shared"})) return Err(*e);
              EgressFeed f;
              f.name = QueryValue(req, "name").value_or("");
              if (!updates::ValidFeedName(f.name)) {
                return Err(BadRequest("invalid", "name",
                                      "name: 1-64 of a-z, 0-9, '_', '-', starting with a letter "
                                      "or digit"));
              }
              if (!QueryValue(req, "format")) {
                return Err(BadRequest("invalid", "format", "format: required"));
              }
              if (auto e = ReadFeedBody(req, p, f)) return Err(*e);
              f.id = NewId();
              f.tenant_id = p.tenant.id;
              f.created_at = f.updated_at = deps.clock.Now();
              if (Status s = deps.store.CreateEgressFeed(f); !s.ok()) return StoreError(s);
              p.audit["object_id"] = f.id;
              p.audit["name"] = f.name;
              p.audit["sha256"] = f.sha256;
              return JsonResponse(201, FeedJson(f));
            });
  table.Add("GET", "/api/v1/feeds/{id}", Access::kAny,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto f = deps.store.GetEgressFeed(p.tenant.id, path.at("id"), false);
              if (!f) return LookupError(f.error(), "feed");
              return JsonResponse(200, FeedJson(*f));
            });
  table.Add("GET", "/api/v1/feeds/{id}/content", Access::kAny,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto f = deps.store.GetEgressFeed(p.tenant.id, path.at("id"), true);
              if (!f) return LookupError(f.error(), "feed");
              HttpResponse r;
              r.content_type = "text/plain; charset=utf-8";
              r.body = std::move(f->content);
              return r;
            });
  // PUT /api/v1/feeds/{id}[?format=F&shared=B], the new file as the body: a new version of it.
  table.Add("PUT", "/api/v1/feeds/{id}", Access::kWrite,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {"format", "shared"})) return Err(*e);
              auto f = deps.store.GetEgressFeed(p.tenant.id, path.at("id"), false);
              if (!f) return LookupError(f.error(), "feed");
              if (auto e = ReadFeedBody(req, p, *f)) return Err(*e);
              f->updated_at = deps.clock.Now();
              if (Status s = deps.store.UpdateEgressFeed(*f); !s.ok()) return StoreError(s);
              p.audit["object_id"] = f->id;
              p.audit["sha256"] = f->sha256;
              return JsonResponse(200, FeedJson(*f));
            });
  table.Add("DELETE", "/api/v1/feeds/{id}", Access::kWrite,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              if (Status s = deps.store.DeleteEgressFeed(p.tenant.id, path.at("id")); !s.ok()) {
                return LookupError(s, "feed");
              }
              p.audit["object_id"] = path.at("id");
              return EmptyResponse();
            });
}

}  // namespace ward::manager
