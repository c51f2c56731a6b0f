#include "agent/modules/ips/seclang/persistent.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <iterator>
#include <vector>

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
  ++changes_;
  const size_t nl = id.find('\n');
  auto f = collections_.find(std::string_view(id).substr(0, nl));
  if (f != collections_.end()) f->second.erase(id.substr(nl + 1));
}

void PersistentCollections::Clear() {
  ++changes_;
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
  ++changes_;
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
  ++changes_;
  m->second.expires = Now() + std::max<int64_t>(seconds, 0);
  by_expiry_.emplace(m->second.expires, id);
  return true;
}

namespace {

constexpr std::string_view kMagic = "ward-ips-collections 1\n";

// Reads "<digits>" followed by `end` from `text` at `*pos`.
bool ReadNumber(std::string_view text, size_t* pos, char end, int64_t* out) {
  const char* first = text.data() + *pos;
  const char* last = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(first, last, *out);
  if (ec != std::errc() || ptr == first || ptr == last || *ptr != end) return false;
  *pos = static_cast<size_t>(ptr - text.data()) + 1;
  return true;
}

}  // namespace

std::string PersistentCollections::Serialize(int64_t wall_now_s) const {
  const int64_t now = Now();
  std::string out(kMagic);
  out += std::to_string(by_write_.size());
  out += '\n';
  for (const auto& [written, id] : by_write_) {
    const size_t nl = id.find('\n');
    const std::string_view collection = std::string_view(id).substr(0, nl);
    const PersistentMap& col = Get(collection);
    auto f = col.find(id.substr(nl + 1));
    if (f == col.end()) continue;  // not reachable: every entry has its meta
    const int64_t expires = wall_now_s + (meta_.at(id).expires - now);
    out.append(collection).append(" ");
    out += std::to_string(f->first.size()) + " " + std::to_string(f->second.size()) + " " +
           std::to_string(expires) + "\n";
    out.append(f->first).append(f->second).append("\n");
  }
  out += "end\n";
  return out;
}

Result<size_t> PersistentCollections::Restore(std::string_view text, int64_t wall_now_s) {
  struct Entry {
    std::string_view collection, key, value;
    int64_t expires;
  };
  auto bad = [](size_t at, const std::string& what) {
    return DataLoss("persistent collections: " + what + " at byte " + std::to_string(at));
  };
  if (text.substr(0, kMagic.size()) != kMagic) {
    return bad(0, "not a collections file of this version (header)");
  }
  size_t pos = kMagic.size();
  int64_t count = 0;
  if (!ReadNumber(text, &pos, '\n', &count) || count < 0) return bad(pos, "bad entry count");
  std::vector<Entry> entries;
  entries.reserve(static_cast<size_t>(std::min<int64_t>(count, 1 << 20)));
  for (int64_t i = 0; i < count; ++i) {
    const size_t start = pos;
    const size_t space = text.find(' ', pos);
    if (space == std::string_view::npos) return bad(start, "truncated entry");
    Entry e;
    e.collection = text.substr(pos, space - pos);
    if (!IsPersistent(e.collection)) return bad(start, "unknown collection");
    pos = space + 1;
    int64_t klen = 0, vlen = 0;
    if (!ReadNumber(text, &pos, ' ', &klen) || !ReadNumber(text, &pos, ' ', &vlen) ||
        !ReadNumber(text, &pos, '\n', &e.expires) || klen < 0 || vlen < 0) {
      return bad(start, "bad entry header");
    }
    const auto k = static_cast<size_t>(klen), v = static_cast<size_t>(vlen);
    if (pos > text.size() || text.size() - pos < k + v + 1 || text[pos + k + v] != '\n') {
      return bad(start, "truncated entry");
    }
    e.key = text.substr(pos, k);
    e.value = text.substr(pos + k, v);
    pos += k + v + 1;
    entries.push_back(e);
  }
  if (text.substr(pos) != "end\n") return bad(pos, "missing end (truncated or trailing bytes)");
  size_t added = 0;
  for (const Entry& e : entries) {
    const int64_t left = e.expires - wall_now_s;
    if (left <= 0) continue;
    Store(e.collection, std::string(e.key), std::string(e.value), left);
    ++added;
  }
  return added;
}

}  // namespace ward::seclang
