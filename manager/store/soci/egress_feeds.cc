// Egress reputation feeds (issue #17, s9-feeds; docs/egress.md "Managed feeds"): a tenant's feed
// files with their text, distributed as the tenant's "feeds" update bundle.
#include <fmt/format.h>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

namespace {

constexpr size_t kFeedNameMax = 64;
constexpr size_t kFeedContentMax = size_t{32} << 20;

constexpr const char* kMetaCols =
    "tenant_id, id, name, format, shared, sha256, size, entries, created_at, updated_at";
constexpr const char* kMetaSig = "ssssisiiii";

EgressFeed FeedFrom(const Row& r) {
  EgressFeed f;
  f.tenant_id = r.S(0);
  f.id = r.S(1);
  f.name = r.S(2);
  f.format = r.S(3);
  f.shared = r.I(4) != 0;
  f.sha256 = r.S(5);
  f.size = r.I(6);
  f.entries = r.I(7);
  f.created_at = FromMicros(r.I(8));
  f.updated_at = FromMicros(r.I(9));
  return f;
}

Status CheckFeed(const EgressFeed& f) {
  WARD_RETURN_IF_ERROR(CheckId("egress_feed.id", f.id));
  WARD_RETURN_IF_ERROR(CheckId("egress_feed.tenant_id", f.tenant_id));
  if (f.name.empty()) return InvalidArgument("egress_feed.name: must not be empty");
  WARD_RETURN_IF_ERROR(CheckLen("egress_feed.name", f.name, kFeedNameMax));
  if (f.format.empty()) return InvalidArgument("egress_feed.format: must not be empty");
  WARD_RETURN_IF_ERROR(CheckLen("egress_feed.format", f.format, kNameMax));
  WARD_RETURN_IF_ERROR(CheckLen("egress_feed.sha256", f.sha256, 64));
  WARD_RETURN_IF_ERROR(CheckLen("egress_feed.content", f.content, kFeedContentMax));
  return Status::Ok();
}

}  // namespace

Status SociStore::CreateEgressFeed(const EgressFeed& f) {
  WARD_RETURN_IF_ERROR(CheckFeed(f));
  return RunStatus("create egress feed", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(GetTenantIn(sql, f.tenant_id, false).status());
    Params p;
    Exec(sql,
         fmt::format("INSERT INTO egress_feeds ({}, content) VALUES ({}, {}, {}, {}, {}, {}, {}, "
                     "{}, {}, {}, {})",
                     kMetaCols, p.S(f.tenant_id), p.S(f.id), p.S(f.name), p.S(f.format),
                     p.I(f.shared ? 1 : 0), p.S(f.sha256), p.I(f.size), p.I(f.entries),
                     p.I(Micros(f.created_at)), p.I(Micros(f.updated_at)), p.S(f.content)),
         p);
    return Status::Ok();
  });
}

Result<EgressFeed> SociStore::GetEgressFeed(const std::string& tenant_id, const std::string& id,
                                            bool with_content) {
  return Run("get egress feed", false, [&](soci::session& sql) -> Result<EgressFeed> {
    Params p;
    std::optional<EgressFeed> found;
    Select(sql,
           fmt::format("SELECT {}{} FROM egress_feeds WHERE tenant_id = {} AND id = {}", kMetaCols,
                       with_content ? ", content" : "", p.S(tenant_id), p.S(id)),
           p, with_content ? "ssssisiiiis" : kMetaSig, [&](const Row& r) {
             found = FeedFrom(r);
             if (with_content) found->content = r.S(10);
           });
    if (!found) return NotFound("no such feed");
    return *found;
  });
}

Result<std::vector<EgressFeed>> SociStore::ListEgressFeeds(const std::string& tenant_id) {
  return Run("list egress feeds", false,
             [&](soci::session& sql) -> Result<std::vector<EgressFeed>> {
               Params p;
               std::vector<EgressFeed> out;
               Select(sql,
                      fmt::format("SELECT {} FROM egress_feeds WHERE tenant_id = {} ORDER BY name",
                                  kMetaCols, p.S(tenant_id)),
                      p, kMetaSig, [&](const Row& r) { out.push_back(FeedFrom(r)); });
               return out;
             });
}

Result<std::vector<EgressFeed>> SociStore::ListSharedEgressFeeds() {
  return Run("list shared egress feeds", false,
             [&](soci::session& sql) -> Result<std::vector<EgressFeed>> {
               Params p;
               std::vector<EgressFeed> out;
               Select(sql,
                      fmt::format("SELECT {} FROM egress_feeds WHERE shared = {} ORDER BY "
                                  "tenant_id, name",
                                  kMetaCols, p.I(1)),
                      p, kMetaSig, [&](const Row& r) { out.push_back(FeedFrom(r)); });
               return out;
             });
}

Status SociStore::UpdateEgressFeed(const EgressFeed& f) {
  WARD_RETURN_IF_ERROR(CheckFeed(f));
  return RunStatus("update egress feed", true, [&](soci::session& sql) -> Status {
    Params p;
    long long n = Exec(sql,
                       fmt::format("UPDATE egress_feeds SET format = {}, shared = {}, sha256 = {}, "
                                   "size = {}, entries = {}, content = {}, updated_at = {} WHERE "
                                   "tenant_id = {} AND id = {}",
                                   p.S(f.format), p.I(f.shared ? 1 : 0), p.S(f.sha256), p.I(f.size),
                                   p.I(f.entries), p.S(f.content), p.I(Micros(f.updated_at)),
                                   p.S(f.tenant_id), p.S(f.id)),
                       p);
    if (n == 0) return NotFound("no such feed");
    return Status::Ok();
  });
}

Status SociStore::DeleteEgressFeed(const std::string& tenant_id, const std::string& id) {
  return RunStatus("delete egress feed", true, [&](soci::session& sql) -> Status {
    Params p;
    long long n = Exec(sql,
                       fmt::format("DELETE FROM egress_feeds WHERE tenant_id = {} AND id = {}",
                                   p.S(tenant_id), p.S(id)),
                       p);
    if (n == 0) return NotFound("no such feed");
    return Status::Ok();
  });
}

}  // namespace ward::manager::soci_backend
