#include "manager/services/egress_feeds.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <utility>
#include <vector>

#include "agent/modules/egress/reputation.h"
#include "agent/updates/layout.h"

namespace ward::manager {

namespace fs = std::filesystem;

Status CheckFeedText(std::string_view format, std::string_view text, int64_t* entries) {
  auto f = agent::egress::FeedFormatFromName(format);
  if (!f) {
    return InvalidArgument(fmt::format(
        "format: expected hosts, domains, urlhaus_csv, spamhaus_drop or custom, got \"{}\"",
        format));
  }
  size_t n = 0;
  WARD_RETURN_IF_ERROR(agent::egress::CheckFeed(*f, text, &n));
  if (entries != nullptr) *entries = static_cast<int64_t>(n);
  return Status::Ok();
}

std::string FeedFileName(const EgressFeed& f) {
  return fmt::format("{}.{}", f.name, updates::FeedExtension(f.format));
}

Result<FeedBundles::Tenant*> FeedBundles::Open(const std::string& tenant_id) {
  // Tenant ids are the store's (letters, digits, '-'); anything else never names a directory.
  if (tenant_id.empty() || tenant_id.size() > 64 ||
      !std::all_of(tenant_id.begin(), tenant_id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_';
      })) {
    return NotFound("no such tenant");
  }
  std::lock_guard lock(mu_);
  auto it = tenants_.find(tenant_id);
  if (it != tenants_.end()) return it->second.get();
  WARD_ASSIGN_OR_RETURN(auto repo, UpdateRepository::Open(dir_ / tenant_id, key_));
  auto t = std::make_unique<Tenant>();
  t->repo = std::move(repo);
  Tenant* out = t.get();
  tenants_.emplace(tenant_id, std::move(t));
  return out;
}

Result<std::optional<UpdateBundle>> FeedBundles::Current(Store& store, const std::string& tenant_id,
                                                         TimePoint now) {
  WARD_ASSIGN_OR_RETURN(auto own, store.ListEgressFeeds(tenant_id));
  WARD_ASSIGN_OR_RETURN(auto shared, store.ListSharedEgressFeeds());
  // The files the bundle should hold: the tenant's feeds, then the shared feeds of others whose
  // name the tenant does not use (a tenant's own feed of a name wins).
  std::set<std::string> names;
  std::vector<const EgressFeed*> feeds;
  for (const auto& f : own) {
    names.insert(f.name);
    feeds.push_back(&f);
  }
  for (const auto& f : shared) {
    if (f.tenant_id == tenant_id || !names.insert(f.name).second) continue;
    feeds.push_back(&f);
  }
  std::map<std::string, std::string> want;  // file -> sha256
  for (const EgressFeed* f : feeds) want[FeedFileName(*f)] = f->sha256;

  std::error_code ec;
  if (want.empty() && !fs::exists(dir_ / tenant_id, ec)) return std::optional<UpdateBundle>();
  WARD_ASSIGN_OR_RETURN(Tenant * t, Open(tenant_id));
  std::lock_guard lock(t->mu);
  std::optional<UpdateBundle> latest;
  for (auto& b : t->repo->Latest()) {
    if (b.manifest.kind == "feeds") latest = std::move(b);
  }
  if (!latest && want.empty()) return std::optional<UpdateBundle>();
  if (latest) {
    std::map<std::string, std::string> have;
    for (const auto& f : latest->manifest.files) have[f.name] = f.sha256;
    if (have == want) return latest;
  }
  std::vector<std::pair<std::string, std::string>> files;
  for (const EgressFeed* f : feeds) {
    WARD_ASSIGN_OR_RETURN(auto full, store.GetEgressFeed(f->tenant_id, f->id, true));
    if (full.sha256 != f->sha256) {
      // Replaced between the two reads: the next heartbeat publishes what is there then.
      return latest;
    }
    files.emplace_back(FeedFileName(full), std::move(full.content));
  }
  WARD_ASSIGN_OR_RETURN(auto b, t->repo->Publish("feeds", files, true, now));
  return std::optional<UpdateBundle>(std::move(b));
}

Result<UpdateBundle> FeedBundles::Get(const std::string& tenant_id, int64_t version) {
  WARD_ASSIGN_OR_RETURN(Tenant * t, Open(tenant_id));
  return t->repo->Get("feeds", version);
}

Result<fs::path> FeedBundles::FilePath(const std::string& tenant_id, std::string_view sha256) {
  WARD_ASSIGN_OR_RETURN(Tenant * t, Open(tenant_id));
  return t->repo->FilePath("feeds", sha256);
}

}  // namespace ward::manager
