// The schema version and the migrations (manager/store/schema.h), under a lock across nodes.
#include "manager/store/schema.h"

#include <fmt/format.h>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

Result<int> SociStore::SchemaVersion() {
  return Run("schema version", false, [&](soci::session& sql) -> Result<int> {
    return static_cast<int>(CurrentVersion(sql));
  });
}

long long SociStore::CurrentVersion(soci::session& sql) {
  Params p;
  std::string exists;
  switch (d_) {
    case Dialect::kSqlite:
      exists =
          "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'";
      break;
    case Dialect::kPostgres:
      exists =
          "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() "
          "AND table_name = 'schema_version'";
      break;
    case Dialect::kMysql:
      exists =
          "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND "
          "table_name = 'schema_version'";
      break;
  }
  if (SelectInt(sql, exists, p, 0) == 0) return 0;
  Params q;
  return SelectInt(sql, "SELECT COALESCE(MAX(version), 0) FROM schema_version", q, 0);
}

Status SociStore::Migrate() {
  auto lease = pool_.Acquire();
  if (!lease.has_value()) return lease.error().WithContext("migrate");
  soci::session& sql = lease->session();
  bool mysql_locked = false;
  try {
    if (d_ == Dialect::kMysql) {
      Params p;
      if (SelectInt(sql, "SELECT GET_LOCK('ward_migrate', 120)", p, 0) != 1) {
        return Unavailable("migrate: another node holds the migration lock");
      }
      mysql_locked = true;
    } else {
      Begin(sql);
      if (d_ == Dialect::kPostgres) sql << "SELECT pg_advisory_xact_lock(7271004119)";
    }
    for (const auto& stmt : SchemaVersionTable(d_)) sql << stmt;
    long long current = CurrentVersion(sql);
    const auto& migrations = Migrations();
    if (current > static_cast<long long>(migrations.size())) {
      if (d_ != Dialect::kMysql) sql.rollback();
      if (mysql_locked) sql << "SELECT RELEASE_LOCK('ward_migrate')";
      return FailedPrecondition(
          fmt::format("migrate: the database is at schema version {}, newer than this build ({})",
                      current, migrations.size()));
    }
    for (size_t v = static_cast<size_t>(current) + 1; v <= migrations.size(); ++v) {
      const Migration& m = migrations[v - 1];
      for (const auto& stmt : m.statements(d_)) sql << stmt;
      Params p;
      Exec(sql,
           fmt::format("INSERT INTO schema_version (version, description, applied_at) VALUES ({}, "
                       "{}, {})",
                       p.I(static_cast<long long>(v)), p.S(m.description),
                       p.I(Micros(std::chrono::system_clock::now()))),
           p);
    }
    // VIpsMatches left a marker: fill ips_matches from the events already stored, once, under
    // the migration's lock (and, but on MySQL, in its transaction).
    {
      Params p;
      if (SelectInt(sql, "SELECT COUNT(*) FROM ips_matches_backfill", p, 0) > 0) {
        BackfillIpsMatches(sql);
        Params q;
        Exec(sql, "DELETE FROM ips_matches_backfill", q);
      }
    }
    if (d_ == Dialect::kMysql) {
      sql << "SELECT RELEASE_LOCK('ward_migrate')";
    } else {
      sql.commit();
    }
    return Status::Ok();
  } catch (const std::exception& e) {
    DbError err = Classify(d_, e, &sql);
    try {
      if (d_ == Dialect::kMysql) {
        if (mysql_locked) sql << "SELECT RELEASE_LOCK('ward_migrate')";
      } else {
        sql.rollback();
      }
    } catch (...) {
      lease->MarkBroken();
    }
    if (err.broken) lease->MarkBroken();
    return err.status.WithContext("migrate");
  }
}

}  // namespace ward::manager::soci_backend
