// PostgreSQL event partitions (one per UTC day): created ahead of the batches that need them,
// dropped whole by retention when only the tenant being cleaned has rows in them.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

namespace {

std::string PartitionName(long long day) {
  std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{day}}};
  return fmt::format("events_{:04d}{:02d}{:02d}", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
}
// Parses "events_YYYYMMDD" back to its day number; nullopt for any other name.
std::optional<long long> PartitionDay(const std::string& name) {
  if (name.size() != 15 || name.rfind("events_", 0) != 0) return std::nullopt;
  for (size_t i = 7; i < 15; ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
  }
  int y = std::stoi(name.substr(7, 4));
  unsigned m = static_cast<unsigned>(std::stoi(name.substr(11, 2)));
  unsigned d = static_cast<unsigned>(std::stoi(name.substr(13, 2)));
  std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{m}, std::chrono::day{d}};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days(ymd).time_since_epoch().count();
}

}  // namespace

Status SociStore::EnsurePartitions(const std::set<long long>& days) {
  std::vector<long long> missing;
  {
    std::lock_guard lock(partitions_mu_);
    for (long long d : days) {
      if (!known_partitions_.count(d)) missing.push_back(d);
    }
  }
  if (missing.empty()) return Status::Ok();
  // One day ahead of the newest so the next day's first batch does not wait for DDL.
  missing.push_back(missing.back() + 1);
  Status st = RunStatus("create event partitions", true, [&](soci::session& sql) -> Status {
    sql << "SELECT pg_advisory_xact_lock(7271004120)";
    for (long long d : missing) {
      sql << fmt::format(
          "CREATE TABLE IF NOT EXISTS {} PARTITION OF events FOR VALUES FROM ({}) TO ({})",
          PartitionName(d), d * kMicrosPerDay, (d + 1) * kMicrosPerDay);
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  std::lock_guard lock(partitions_mu_);
  known_partitions_.insert(missing.begin(), missing.end());
  return Status::Ok();
}

// PostgreSQL: events are range-partitioned by day. Partitions wholly before the cutoff that hold
// rows of no other tenant are dropped whole; elsewhere rows go in batches.
Result<int64_t> SociStore::DeletePostgres(const std::string& tenant_id, long long cutoff,
                                          int batch) {
  std::vector<std::pair<long long, std::string>> parts;
  {
    auto r = Run("list event partitions", false, [&](soci::session& sql) -> Status {
      Params p;
      Select(sql,
             "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE "
             "i.inhparent = 'events'::regclass",
             p, "s", [&](const Row& r) {
               std::string name = r.S(0);
               if (auto day = PartitionDay(name)) parts.emplace_back(*day, name);
             });
      return Status::Ok();
    });
    if (!r.ok()) return r;
  }
  std::sort(parts.begin(), parts.end());
  for (const auto& part : parts) {
    // Named copies, not structured bindings: the lambdas below capture them (clang 14, which
    // builds the fuzzers, cannot capture a structured binding).
    const long long day = part.first;
    const std::string& name = part.second;
    long long lo = day * kMicrosPerDay, hi = (day + 1) * kMicrosPerDay;
    if (lo >= cutoff) break;
    if (hi <= cutoff) {
      // Wholly before the cutoff: drop it when no other tenant has rows in it.
      auto probe = [&](soci::session& sql) -> std::pair<bool, bool> {
        Params a, b, m;
        bool mine = SelectInt(sql,
                              fmt::format("SELECT COUNT(*) FROM (SELECT 1 FROM {} WHERE tenant_id "
                                          "= {} LIMIT 1) x",
                                          name, m.S(tenant_id)),
                              m, 0) > 0;
        bool others = SelectInt(sql,
                                fmt::format("SELECT COUNT(*) FROM (SELECT 1 FROM {} WHERE "
                                            "tenant_id < {} LIMIT 1) x",
                                            name, a.S(tenant_id)),
                                a, 0) > 0 ||
                      SelectInt(sql,
                                fmt::format("SELECT COUNT(*) FROM (SELECT 1 FROM {} WHERE "
                                            "tenant_id > {} LIMIT 1) x",
                                            name, b.S(tenant_id)),
                                b, 0) > 0;
        return {mine, others};
      };
      auto dropped = Run("drop event partition", true, [&](soci::session& sql) -> Result<int64_t> {
        auto [mine, others] = probe(sql);
        if (!mine || others) return int64_t{-1};
        Params cnt;
        long long n = SelectInt(sql, fmt::format("SELECT COUNT(*) FROM {}", name), cnt, 0);
        sql << "SET LOCAL lock_timeout = '5s'";
        sql << "LOCK TABLE ONLY events IN ACCESS EXCLUSIVE MODE";
        sql << fmt::format("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", name);
        auto [mine2, others2] = probe(sql);
        if (others2) return int64_t{-1};
        (void)mine2;
        sql << fmt::format("DROP TABLE {}", name);
        // Every event of the tenant in that day was in the partition: its rollup hours go too.
        for (const char* table : {"event_rollup", "event_rollup_values"}) {
          Params r;
          Exec(sql,
               fmt::format("DELETE FROM {} WHERE tenant_id = {} AND hour >= {} AND hour < {}",
                           table, r.S(tenant_id), r.I(lo), r.I(hi)),
               r);
        }
        // And the IPS matches of those events (ips_tuning.cc).
        Params m;
        Exec(sql,
             fmt::format("DELETE FROM ips_matches WHERE tenant_id = {} AND ts >= {} AND ts < {}",
                         m.S(tenant_id), m.I(lo), m.I(hi)),
             m);
        return static_cast<int64_t>(n);
      });
      if (!dropped.has_value()) return dropped;
      if (*dropped >= 0) {
        std::lock_guard lock(partitions_mu_);
        known_partitions_.erase(day);
        return *dropped;
      }
    }
    auto n = Run("delete events", true, [&](soci::session& sql) -> Result<int64_t> {
      Params p;
      return static_cast<int64_t>(DeleteEventsWithRollup(
          sql,
          fmt::format("DELETE FROM {0} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {0} WHERE "
                      "tenant_id = {1} AND ts < {2} LIMIT {3}))",
                      name, p.S(tenant_id), p.I(cutoff), batch),
          p));
    });
    if (!n.has_value() || *n > 0) return n;
  }
  return int64_t{0};
}

}  // namespace ward::manager::soci_backend
