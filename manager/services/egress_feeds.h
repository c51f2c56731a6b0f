// Egress reputation feeds distributed by the manager (issue #17; docs/egress.md "Managed feeds").
// A tenant uploads feed files (hosts files, domain lists, URLhaus CSV, Spamhaus DROP/DROPv6,
// custom lists) through /api/v1/feeds; they are checked strictly at upload (the first line the
// format cannot read refuses the file, nothing stored) and kept in the store. Each tenant's agents
// get them as the tenant's own "feeds" update bundle — the tenant's feeds plus the primary
// tenant's shared ones — signed with the manager's update key like every bundle
// (docs/updates.md), one file per feed named <name>.<extension of its format>.
//
// FeedBundles keeps one UpdateRepository per tenant under <updates-dir>/tenant-feeds/<tenant>/
// and brings it up to date from the store when a heartbeat asks (Current): a new version only
// when the set of (file, SHA-256) differs from the latest one, so every node sharing the updates
// directory and the database offers the same bundle.
// Thread-safety: all methods may be called from many threads.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/status.h"
#include "manager/services/updates.h"
#include "manager/store/store.h"

namespace ward::manager {

// The feed formats and the strict check of a feed's text (CheckFeed of agent/modules/egress):
// InvalidArgument naming the line. `entries` receives the number of entries read.
Status CheckFeedText(std::string_view format, std::string_view text, int64_t* entries);

// "<name>.<extension>" of a feed in its bundle.
std::string FeedFileName(const EgressFeed& f);

class FeedBundles {
 public:
  // `dir`: where the tenants' repositories live (<updates-dir>/tenant-feeds); `key`: the update
  // key (the same as the other bundles').
  FeedBundles(std::filesystem::path dir, const updates::KeyPair& key)
      : dir_(std::move(dir)), key_(key) {}

  // The tenant's latest "feeds" bundle, made anew from the store when its feeds (own and shared)
  // differ from it; nullopt when the tenant has never had a feed.
  Result<std::optional<UpdateBundle>> Current(Store& store, const std::string& tenant_id,
                                              TimePoint now);
  // A version of the tenant's bundle; kNotFound otherwise.
  Result<UpdateBundle> Get(const std::string& tenant_id, int64_t version);
  // A file of some version of the tenant's bundle, by SHA-256; kNotFound otherwise.
  Result<std::filesystem::path> FilePath(const std::string& tenant_id, std::string_view sha256);

 private:
  struct Tenant {
    std::mutex mu;  // one Current at a time per tenant
    std::unique_ptr<UpdateRepository> repo;
  };
  Result<Tenant*> Open(const std::string& tenant_id);

  std::filesystem::path dir_;
  updates::KeyPair key_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Tenant>, std::less<>> tenants_;
};

}  // namespace ward::manager
