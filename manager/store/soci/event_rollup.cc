// The hourly event rollups (docs/manager-store.md, "Event rollups"): the counts the dashboard
// reads, changed in the same transaction as the events they count — by the inserts (only the
// rows actually inserted, so a resent event counts once) and by every delete of events.
#include <fmt/format.h>

#include <algorithm>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

void RollupDelta::Add(const std::string& tenant, long long ts, const std::string& module,
                      int severity, const std::string& action, const std::string& agent,
                      const std::string& rule, const std::string& path, long long n) {
  long long hour = (ts / kHour) * kHour;
  counts[{tenant, hour, module, severity, action}] += n;
  auto value = [&](int field, const std::string& m, const std::string& v) {
    if (v.empty()) return;
    values[{tenant, hour, field, m, v.size() > kMaxValue ? std::string() : v}] += n;
  };
  value(0, module, rule);
  value(1, std::string(), agent);
  if (module == kPathModule) value(2, module, path);
}

std::map<std::string, long long> SociStore::ReserveSeq(soci::session& sql,
                                                       const std::vector<StoredEvent>& events) {
  std::map<std::string, long long> bases;
  for (const StoredEvent& e : events) bases.emplace(e.tenant_id, 0);
  const long long n = static_cast<long long>(events.size());
  for (auto& entry : bases) {
    // Named, not structured bindings: the lambda captures `tenant` (clang 14 builds the fuzzers).
    const std::string& tenant = entry.first;
    long long& base = entry.second;
    auto bump = [&] {
      Params p;
      return Exec(sql,
                  fmt::format("UPDATE ingest_seq SET seq = seq + {} WHERE tenant_id = {}", p.I(n),
                              p.S(tenant)),
                  p);
    };
    if (bump() == 0) {
      Params p;
      Exec(sql,
           fmt::format("{} INTO ingest_seq (tenant_id, seq) VALUES ({}, 0){}", InsertIgnore(),
                       p.S(tenant), OnConflictIgnore()),
           p);
      bump();
    }
    Params p;
    base =
        SelectInt(sql, fmt::format("SELECT seq FROM ingest_seq WHERE tenant_id = {}", p.S(tenant)),
                  p, n) -
        n;
  }
  return bases;
}

void SociStore::ApplyRollup(soci::session& sql, const RollupDelta& d) {
  // SQLite: one row per statement, the same text every time, so the session's statement cache
  // prepares it once (parsing a 200-row statement per batch cost more than writing its rows);
  // the servers: up to 200 rows per statement (one round trip).
  const size_t kRows = d_ == Dialect::kSqlite ? 1 : 200;
  bool negative = false;
  auto upsert = [&](const std::string& table, const std::string& cols, const std::string& key,
                    const auto& rows, auto&& values_of) {
    auto it = rows.begin();
    while (it != rows.end()) {
      Params p;
      std::string q = fmt::format("INSERT INTO {} ({}, n) VALUES ", table, cols);
      for (size_t k = 0; k < kRows && it != rows.end(); ++it) {
        if (it->second == 0) continue;
        if (it->second < 0) negative = true;
        if (k++ != 0) q += ", ";
        q += "(" + values_of(p, it->first) + fmt::format(", {})", p.I(it->second));
      }
      if (q.back() != ')') break;
      q += d_ == Dialect::kMysql
               ? " ON DUPLICATE KEY UPDATE n = n + VALUES(n)"
               : fmt::format(" ON CONFLICT ({}) DO UPDATE SET n = {}.n + excluded.n", key, table);
      Exec(sql, q, p);
    }
  };
  upsert("event_rollup", "tenant_id, hour, module, severity, action",
         "tenant_id, hour, module, severity, action", d.counts, [](Params& p, const auto& k) {
           return fmt::format("{}, {}, {}, {}, {}", p.S(std::get<0>(k)), p.I(std::get<1>(k)),
                              p.S(std::get<2>(k)), p.I(std::get<3>(k)), p.S(std::get<4>(k)));
         });
  upsert("event_rollup_values", "tenant_id, hour, field, module, value",
         "tenant_id, hour, field, module, value", d.values, [](Params& p, const auto& k) {
           return fmt::format("{}, {}, {}, {}, {}", p.S(std::get<0>(k)), p.I(std::get<1>(k)),
                              p.I(std::get<2>(k)), p.S(std::get<3>(k)), p.S(std::get<4>(k)));
         });
  if (!negative) return;
  // Rows counted down to zero go, within the hours this delta touched (per tenant).
  std::map<std::string, std::pair<long long, long long>> hours;
  for (const auto& [k, n] : d.counts) {
    auto [it, fresh] = hours.try_emplace(std::get<0>(k), std::get<1>(k), std::get<1>(k));
    if (!fresh) {
      it->second.first = std::min(it->second.first, std::get<1>(k));
      it->second.second = std::max(it->second.second, std::get<1>(k));
    }
  }
  for (const auto& [tenant, range] : hours) {
    for (const char* table : {"event_rollup", "event_rollup_values"}) {
      Params p;
      Exec(sql,
           fmt::format("DELETE FROM {} WHERE tenant_id = {} AND hour >= {} AND hour <= {} AND n "
                       "<= 0",
                       table, p.S(tenant), p.I(range.first), p.I(range.second)),
           p);
    }
  }
}

long long SociStore::DeleteEventsWithRollup(soci::session& sql, const std::string& delete_stmt,
                                            Params& p) {
  RollupDelta d;
  long long deleted = 0;
  std::vector<std::pair<std::string, std::string>> ips;  // (tenant, id): their IPS matches go too
  Select(
      sql,
      delete_stmt + " RETURNING tenant_id, ts, module, severity, action, agent_id, rule, path, id",
      p, "sisisssss", [&](const Row& r) {
        ++deleted;
        d.Add(r.S(0), r.I(1), r.S(2), static_cast<int>(r.I(3)), r.S(4), r.S(5), r.S(6), r.S(7), -1);
        if (r.S(2) == "ips") ips.emplace_back(r.S(0), r.S(8));
      });
  if (!d.empty()) ApplyRollup(sql, d);
  if (!ips.empty()) DeleteIpsMatches(sql, ips);
  return deleted;
}

}  // namespace ward::manager::soci_backend
