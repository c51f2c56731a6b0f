#include "agent/modules/ips/seclang/persistent.h"

#include <algorithm>
#include <chrono>
#include <iterator>

namespace ward::seclang {
namespace {

constexpr std::string_view kPersistent[] = {"IP", "GLOBAL", "RESOURCE", "SESSION", "USER"};

int64_t MonotonicSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

PersistentCollections::PersistentCollections(Options options, NowFn now)
    : options_(options), now_(std::move(now)) {
  if (options_.default_timeout_s <= 0) options_.default_timeout_s = 3600;
  if (options_.max_entries == 0) options_.max_entries = 1;
}

bool PersistentCollections::IsPersistent(std::string_view collection) {
  return std::find(std::begin(kPersistent), std::end(kPersistent), collection) !=
         std::end(kPersistent);
}

std::string PersistentCollections::Prefix(std::string_view key, std::string_view app) {
  std::string p;
  p.reserve(key.size() + app.size() + 4);
  p.append(key).append("::").append(app).append("::");
  return p;
}

int64_t PersistentCollections::Now() const { return now_ ? now_() : MonotonicSeconds(); }

std::string PersistentCollections::Id(std::string_view collection, std::string_view key) {
  // Keys compare case-insensitively in the collections (CiEqual): so do their entries here.
  std::string id(collection);
  id.push_back('\n');
  for (char c : key) id.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return id;
}

const PersistentMap& PersistentCollections::Get(std::string_view collection) const {
  static const PersistentMap kEmpty;
  auto f = collections_.find(collection);
  return f == collections_.end() ? kEmpty : f->second;
}

PersistentMap& PersistentCollections::Mutable(std::string_view collection) {
  auto f = collections_.find(collection);
  if (f == collections_.end())
    f = collections_.emplace(std::string(collection), PersistentMap()).first;
  return f->second;
}

void PersistentCollections::Remove(const std::string& id) {
  auto m = meta_.find(id);
  if (m == meta_.end()) return;
  by_expiry_.erase({m->second.expires, id});
  by_write_.erase({m->second.written, id});
  meta_.erase(m);
  const size_t nl = id.find('\n');
  auto f = collections_.find(std::string_view(id).substr(0, nl));
  if (f != collections_.end()) f->second.erase(id.substr(nl + 1));
}

void PersistentCollections::Clear() {
  collections_.clear();
  meta_.clear();
  by_expiry_.clear();
  by_write_.clear();
}

void PersistentCollections::Expire() {
  const int64_t now = Now();
  while (!by_expiry_.empty() && by_expiry_.begin()->first <= now) {
    std::string id = by_expiry_.begin()->second;
    Remove(id);
  }
}

void PersistentCollections::Store(std::string_view collection, const std::string& key,
                                  const std::string& value, int64_t timeout_s) {
  PersistentMap& col = Mutable(collection);
  auto f = col.find(key);
  if (f != col.end()) {
    f->second = value;
  } else {
    col.emplace(key, value);
  }
  const std::string id = Id(collection, key);
  const int64_t expires = Now() + (timeout_s > 0 ? timeout_s : options_.default_timeout_s);
  auto [m, added] = meta_.try_emplace(id);
  if (!added) {
    by_expiry_.erase({m->second.expires, id});
    by_write_.erase({m->second.written, id});
  }
  m->second.expires = expires;
  m->second.written = ++writes_;
  by_expiry_.emplace(expires, id);
  by_write_.emplace(m->second.written, id);
  while (meta_.size() > options_.max_entries && !by_write_.empty()) {
    std::string oldest = by_write_.begin()->second;
    Remove(oldest);
  }
}

void PersistentCollections::Erase(std::string_view collection, const std::string& key) {
  const std::string id = Id(collection, key);
  if (meta_.count(id) != 0) {
    Remove(id);
  } else {
    Mutable(collection).erase(key);
  }
}

bool PersistentCollections::ExpireIn(std::string_view collection, const std::string& key,
                                     int64_t seconds) {
  const std::string id = Id(collection, key);
  auto m = meta_.find(id);
  if (m == meta_.end()) return false;
  by_expiry_.erase({m->second.expires, id});
  m->second.expires = Now() + std::max<int64_t>(seconds, 0);
  by_expiry_.emplace(m->second.expires, id);
  return true;
}

}  // namespace ward::seclang
