// PersistentCollections: SecLang's persistent collections (IP, GLOBAL, RESOURCE, SESSION, USER)
// kept across transactions, as libmodsecurity 3.0.9 keeps them per engine object
// (InMemoryPerProcess): one container per collection whose keys are
// "<collection key>::<SecWebAppId>::<name>" — the collection key set by initcol (ip, global,
// resource), setsid, setuid or setrsc, empty before —, so values are found, ordered and named as
// 3.0.9 finds them (a value's name is `IP:<key>::<app>::<name>`; a whole-collection or /regex/
// selection finds nothing).
//
// Bounded, unlike 3.0.9 (which keeps every value for the life of the process and ignores
// expirevar): an entry expires at the time its last expirevar gives, else `default_timeout_s`
// (SecCollectionTimeout, default 3600) after its last write; at most `max_entries` entries are
// kept over all collections, the least recently written going first. Time is whole seconds from
// `now` (default: the monotonic clock), injectable for tests.
//
// Thread-safety: none. One per engine thread (the transactions of a thread use it in turn), as
// libmodsecurity's collections are per engine object (docs/ips.md).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "agent/modules/ips/seclang/evaluator.h"
#include "common/status.h"

namespace ward::seclang {

// One persistent collection: libmodsecurity's container (an unordered_multimap with its hash and
// case-insensitive equality) owning its strings.
using PersistentMap = std::unordered_multimap<std::string, std::string, CiHash, CiEqual>;

class PersistentCollections {
 public:
  struct Options {
    size_t max_entries = 100000;
    int64_t default_timeout_s = 3600;
  };
  using NowFn = std::function<int64_t()>;  // seconds

  PersistentCollections() : PersistentCollections(Options{}) {}
  explicit PersistentCollections(Options options, NowFn now = {});

  // True for the collections kept here (upper case: IP, GLOBAL, RESOURCE, SESSION, USER).
  static bool IsPersistent(std::string_view collection);
  // "<key>::<app>::": the prefix of a collection's entries for a collection key and SecWebAppId.
  static std::string Prefix(std::string_view key, std::string_view app);

  // Removes the entries whose time is up (called when a transaction starts).
  void Expire();
  // The collection's entries (empty when none); valid until the next call that changes it.
  const PersistentMap& Get(std::string_view collection) const;
  // storeOrUpdateFirst: the first value of `key` becomes `value` (or the key is added); the
  // entry's expiry moves to now + `timeout_s` (<= 0: default_timeout_s).
  void Store(std::string_view collection, const std::string& key, const std::string& value,
             int64_t timeout_s = 0);
  // Every value of `key` (setvar:!ip.x).
  void Erase(std::string_view collection, const std::string& key);
  // expirevar: an existing `key` ends `seconds` from now (0 or less: at once, at the next
  // Expire()). False when there is no such entry.
  bool ExpireIn(std::string_view collection, const std::string& key, int64_t seconds);

  // Kept across agent restarts (docs/ips.md, "persistent collections"): every entry in write
  // order with its expiry as a wall-clock time (`wall_now_s`: seconds since the epoch now), in a
  // versioned text form with length-prefixed keys and values:
  //   "ward-ips-collections 1\n" "<entries>\n" then per entry
  //   "<COLLECTION> <key bytes> <value bytes> <expires unix s>\n<key><value>\n", then "end\n".
  std::string Serialize(int64_t wall_now_s) const;
  // Adds the entries of a Serialize() text (after the ones already here, as later writes);
  // entries whose time is up at `wall_now_s` are left out. A text that is not exactly that form
  // (truncated, altered, another version) changes nothing and gives kDataLoss naming what and
  // where. Returns the number of entries added.
  Result<size_t> Restore(std::string_view text, int64_t wall_now_s);
  // Counts every change (store, erase, expiry): a caller saves only when it moved.
  uint64_t changes() const { return changes_; }

  size_t size() const { return meta_.size(); }
  // Forgets every entry.
  void Clear();
  int64_t Now() const;

 private:
  struct Meta {
    int64_t expires = 0;
    uint64_t written = 0;  // write order, for the bound
  };
  void Remove(const std::string& id);
  static std::string Id(std::string_view collection, std::string_view key);
  PersistentMap& Mutable(std::string_view collection);

  Options options_;
  NowFn now_;
  std::map<std::string, PersistentMap, std::less<>> collections_;
  // Per entry ("COLLECTION\n" + lower-cased key): its expiry and write order.
  std::unordered_map<std::string, Meta> meta_;
  std::set<std::pair<int64_t, std::string>> by_expiry_;
  std::set<std::pair<uint64_t, std::string>> by_write_;
  uint64_t writes_ = 0;
  uint64_t changes_ = 0;
};

}  // namespace ward::seclang
