#include "manager/store/soci/statement_cache.h"

#include <fmt/format.h>

#include <cctype>
#include <mutex>

namespace ward::manager::soci_backend {

namespace {

std::mutex& RegistryMutex() {
  static std::mutex mu;
  return mu;
}

std::unordered_map<soci::session*, std::unique_ptr<StatementCache>>& Registry() {
  static auto* registry = new std::unordered_map<soci::session*, std::unique_ptr<StatementCache>>;
  return *registry;
}

}  // namespace

sqlite_api::sqlite3_stmt* PrepareSqlite(sqlite_api::sqlite3* db, const std::string& sql,
                                        std::vector<int>& order, bool persistent) {
  // ":pN" becomes "?" (SQLite resolves named placeholders with a linear search while parsing)
  // and order[j] remembers which value the j-th "?" takes.
  std::string text;
  text.reserve(sql.size());
  order.clear();
  for (size_t i = 0; i < sql.size(); ++i) {
    if (sql[i] == ':' && i + 2 < sql.size() && sql[i + 1] == 'p' &&
        std::isdigit(static_cast<unsigned char>(sql[i + 2]))) {
      int k = 0;
      size_t j = i + 2;
      for (; j < sql.size() && std::isdigit(static_cast<unsigned char>(sql[j])); ++j) {
        k = k * 10 + (sql[j] - '0');
      }
      order.push_back(k);
      text.push_back('?');
      i = j - 1;
    } else {
      text.push_back(sql[i]);
    }
  }
  sqlite_api::sqlite3_stmt* st = nullptr;
  int rc = sqlite_api::sqlite3_prepare_v3(db, text.data(), static_cast<int>(text.size()),
                                          persistent ? SQLITE_PREPARE_PERSISTENT : 0, &st, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = fmt::format("prepare: {} (while preparing \"{}\")",
                                  sqlite_api::sqlite3_errmsg(db), text.substr(0, 200));
    sqlite_api::sqlite3_finalize(st);
    throw soci::sqlite3_soci_error(msg, rc);
  }
  return st;
}

bool StatementCache::Cacheable(std::string_view sql) {
  size_t i = 0;
  while (i < sql.size() && std::isspace(static_cast<unsigned char>(sql[i]))) ++i;
  size_t j = i;
  while (j < sql.size() && std::isalpha(static_cast<unsigned char>(sql[j]))) ++j;
  std::string word;
  for (size_t k = i; k < j; ++k) {
    word.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(sql[k]))));
  }
  return word == "SELECT" || word == "INSERT" || word == "UPDATE" || word == "DELETE" ||
         word == "REPLACE" || word == "WITH";
}

StatementCache::Entry* StatementCache::Get(const std::string& sql) {
  if (auto it = map_.find(sql); it != map_.end()) {
    if (it->second.entry.in_use) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    ++hits_;
    return &it->second.entry;
  }
  if (!Cacheable(sql)) {
    // DDL, PRAGMA, transaction control: run uncached; whatever was prepared may describe a
    // schema that is about to change.
    Clear();
    return nullptr;
  }
  ++misses_;
  while (map_.size() >= capacity_ && !lru_.empty()) {
    // The least recently used statement not in use goes.
    auto victim = std::prev(lru_.end());
    while (victim != lru_.begin() && map_.at(*victim).entry.in_use) --victim;
    auto vit = map_.find(*victim);
    if (vit->second.entry.in_use) break;
    sqlite_api::sqlite3_finalize(vit->second.entry.stmt);
    lru_.erase(victim);
    map_.erase(vit);
  }
  Entry e;
  e.stmt = PrepareSqlite(db_, sql, e.order, true);
  lru_.push_front(sql);
  auto [it, fresh] = map_.emplace(sql, Slot{std::move(e), lru_.begin()});
  (void)fresh;
  return &it->second.entry;
}

void StatementCache::Clear() {
  for (auto& [sql, slot] : map_) {
    // A statement in use is left to its user (it finalizes nothing: the entry stays).
    (void)sql;
    if (!slot.entry.in_use) {
      sqlite_api::sqlite3_finalize(slot.entry.stmt);
      slot.entry.stmt = nullptr;
    }
  }
  std::erase_if(map_, [&](auto& kv) {
    if (kv.second.entry.stmt != nullptr) return false;
    lru_.erase(kv.second.lru);
    return true;
  });
}

void SessionDeleter::operator()(soci::session* s) const {
  std::unique_ptr<StatementCache> cache;
  {
    std::lock_guard lock(RegistryMutex());
    auto it = Registry().find(s);
    if (it != Registry().end()) {
      cache = std::move(it->second);
      Registry().erase(it);
    }
  }
  cache.reset();  // finalizes, before the connection closes
  delete s;
}

void AttachStatementCache(soci::session& s, size_t capacity) {
  auto* db = static_cast<soci::sqlite3_session_backend*>(s.get_backend())->conn_;
  auto cache = std::make_unique<StatementCache>(db, capacity);
  std::lock_guard lock(RegistryMutex());
  Registry()[&s] = std::move(cache);
}

StatementCache* CacheFor(soci::session& s) {
  std::lock_guard lock(RegistryMutex());
  auto it = Registry().find(&s);
  return it == Registry().end() ? nullptr : it->second.get();
}

}  // namespace ward::manager::soci_backend
