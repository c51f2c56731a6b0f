// The PostgreSQL event writer: each batch is streamed with COPY into a per-session staging table,
// then moved into the partitioned events table with one INSERT ... SELECT ... ON CONFLICT DO
// NOTHING (duplicates counted from the rows inserted). libpq directly, under SOCI's session.
#include <fmt/format.h>

#include <cstdlib>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

namespace {

// Appends `v` as one field of COPY's text format: backslash, tab, newline and carriage return
// escaped; NUL bytes dropped (TEXT cannot hold them; the columns are NUL-free already). Runs of
// plain bytes are appended at once (a document is ~1 KB; byte-wise push_back cost ~1 µs/event).
void CopyField(std::string& out, std::string_view v) {
  size_t plain = 0;  // start of the run not yet appended
  for (size_t i = 0; i < v.size(); ++i) {
    std::string_view escaped;
    switch (v[i]) {
      case '\\':
        escaped = "\\\\";
        break;
      case '\t':
        escaped = "\\t";
        break;
      case '\n':
        escaped = "\\n";
        break;
      case '\r':
        escaped = "\\r";
        break;
      case '\0':
        break;  // dropped
      default:
        continue;
    }
    out.append(v.data() + plain, i - plain);
    out.append(escaped);
    plain = i + 1;
  }
  out.append(v.data() + plain, v.size() - plain);
}

[[noreturn]] void ThrowPq(PGconn* conn, PGresult* res, std::string_view what) {
  std::string msg = fmt::format("{}: {}", what, PQerrorMessage(conn));
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string st = state != nullptr ? state : (PQstatus(conn) == CONNECTION_OK ? "XX000" : "08006");
  if (res != nullptr) PQclear(res);
  throw soci::postgresql_soci_error(msg, st.c_str());
}

// Runs one command that returns no rows; returns its affected-row count.
long long PqCommand(PGconn* conn, const char* sql) {
  PGresult* res = PQexec(conn, sql);
  if (PQresultStatus(res) != PGRES_COMMAND_OK) ThrowPq(conn, res, "query");
  const char* n = PQcmdTuples(res);
  long long count = (n != nullptr && *n != '\0') ? std::atoll(n) : 0;
  PQclear(res);
  return count;
}

}  // namespace

IngestResult SociStore::InsertEventsCopy(soci::session& sql, const std::vector<StoredEvent>& events,
                                         const std::vector<long long>& ts,
                                         const std::vector<std::string>& docs, RollupDelta& rollup,
                                         std::set<std::pair<std::string, std::string>>& ips) {
  PGconn* conn = static_cast<soci::postgresql_session_backend*>(sql.get_backend())->conn_;
  // Per session (temporary tables are), emptied by every commit; IF NOT EXISTS makes it cheap
  // after the first batch.
  PqCommand(conn,
            "CREATE TEMP TABLE IF NOT EXISTS ward_events_stage2 (ord INTEGER, tenant_id TEXT, id "
            "TEXT, agent_id TEXT, ts BIGINT, module TEXT, action TEXT, severity INTEGER, path "
            "TEXT, rule TEXT, doc TEXT) ON COMMIT DELETE ROWS");
  PGresult* res = PQexec(conn,
                         "COPY ward_events_stage2 (ord, tenant_id, id, agent_id, ts, module, "
                         "action, severity, path, rule, doc) FROM STDIN");
  if (PQresultStatus(res) != PGRES_COPY_IN) ThrowPq(conn, res, "COPY");
  PQclear(res);
  std::string buf;
  buf.reserve(256 * 1024);
  auto flush = [&] {
    if (PQputCopyData(conn, buf.data(), static_cast<int>(buf.size())) != 1) {
      ThrowPq(conn, nullptr, "COPY data");
    }
    buf.clear();
  };
  for (size_t i = 0; i < events.size(); ++i) {
    const StoredEvent& e = events[i];
    buf += std::to_string(i);
    buf += '\t';
    CopyField(buf, e.tenant_id);
    buf += '\t';
    CopyField(buf, e.id);
    buf += '\t';
    CopyField(buf, e.agent_id);
    buf += '\t';
    buf += std::to_string(ts[i]);
    buf += '\t';
    CopyField(buf, e.module);
    buf += '\t';
    CopyField(buf, e.action);
    buf += '\t';
    buf += std::to_string(e.severity);
    buf += '\t';
    CopyField(buf, e.path);
    buf += '\t';
    CopyField(buf, e.rule);
    buf += '\t';
    CopyField(buf, docs[i]);
    buf += '\n';
    if (buf.size() >= 200 * 1024) flush();
  }
  if (!buf.empty()) flush();
  if (PQputCopyEnd(conn, nullptr) != 1) ThrowPq(conn, nullptr, "COPY end");
  bool failed = false;
  PGresult* last_error = nullptr;
  while ((res = PQgetResult(conn)) != nullptr) {
    if (PQresultStatus(res) != PGRES_COMMAND_OK && !failed) {
      failed = true;
      last_error = res;
      continue;
    }
    PQclear(res);
  }
  if (failed) ThrowPq(conn, last_error, "COPY");
  // The rows inserted (not the duplicates) come back and are counted into the hourly rollups in
  // the same transaction. The stage empties at commit (a rollback empties it too).
  // The ingest sequence numbers are reserved only now, so the counter row stays locked for the
  // INSERT and the commit, not for the COPY: row i gets base + 1 + i.
  std::string seq = "CASE tenant_id";
  for (const auto& [tenant, base] : ReserveSeq(sql, events)) {
    char* lit = PQescapeLiteral(conn, tenant.data(), tenant.size());
    if (lit == nullptr) ThrowPq(conn, nullptr, "escape tenant id");
    seq += fmt::format(" WHEN {} THEN {}", lit, base + 1);
    PQfreemem(lit);
  }
  seq += " END + ord";
  res = PQexec(conn,
               fmt::format("INSERT INTO events (tenant_id, id, agent_id, ts, module, action, "
                           "severity, path, rule, doc, seq) SELECT tenant_id, id, agent_id, ts, "
                           "module, action, severity, path, rule, doc, {} FROM ward_events_stage2 "
                           "ORDER BY ord ON CONFLICT DO NOTHING RETURNING tenant_id, ts, module, "
                           "severity, action, agent_id, rule, path, id",
                           seq)
                   .c_str());
  if (PQresultStatus(res) != PGRES_TUPLES_OK) ThrowPq(conn, res, "insert events");
  const int rows = PQntuples(res);
  long long inserted = rows;
  for (int r = 0; r < rows; ++r) {
    auto text = [&](int c) { return std::string(PQgetvalue(res, r, c), PQgetlength(res, r, c)); };
    rollup.Add(text(0), std::atoll(PQgetvalue(res, r, 1)), text(2),
               std::atoi(PQgetvalue(res, r, 3)), text(4), text(5), text(6), text(7), 1);
    if (text(2) == "ips") ips.emplace(text(0), text(8));
  }
  PQclear(res);
  IngestResult out;
  out.accepted = static_cast<int>(inserted);
  out.duplicates = static_cast<int>(events.size()) - out.accepted;
  return out;
}

}  // namespace ward::manager::soci_backend
