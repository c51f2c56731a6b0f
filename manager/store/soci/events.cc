// Events: the batch insert (dispatching to the SQLite group-commit writer and the PostgreSQL
// COPY writer; MySQL/MariaDB use multi-row INSERT IGNORE here), search, counts and retention.
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

namespace {

constexpr const char* kEventCols =
    "id, tenant_id, agent_id, module, action, path, rule, doc, ts, severity, seq";
constexpr const char* kEventSig = "ssssssssiii";
StoredEvent EventFrom(const Row& r, bool raw_doc) {
  StoredEvent e;
  e.id = r.S(0);
  e.tenant_id = r.S(1);
  e.agent_id = r.S(2);
  e.module = r.S(3);
  e.action = r.S(4);
  e.path = r.S(5);
  e.rule = r.S(6);
  if (raw_doc) {
    e.doc_text = r.S(7);
  } else {
    e.doc = ParseJson(r.S(7), json());
  }
  e.timestamp = FromMicros(r.I(8));
  e.severity = static_cast<int>(r.I(9));
  e.seq = r.I(10);
  return e;
}

}  // namespace

Result<IngestResult> SociStore::InsertEvents(const std::vector<StoredEvent>& events) {
  return InsertEventsWithAlerts(events, {}, std::chrono::seconds(0));
}

Result<IngestResult> SociStore::InsertEventsWithAlerts(const std::vector<StoredEvent>& events,
                                                       const std::vector<AlertSignal>& signals,
                                                       std::chrono::seconds window) {
  IngestResult result;
  WARD_RETURN_IF_ERROR(CheckSignals(signals));
  if (events.empty()) {
    if (signals.empty()) return result;
    WARD_ASSIGN_OR_RETURN(result.alerts_counted, RecordAlertSignals(signals, window));
    return result;
  }
  std::set<long long> days;
  std::vector<long long> ts(events.size());
  std::vector<std::string> docs(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    const StoredEvent& e = events[i];
    std::string where = fmt::format("event[{}]", i);
    WARD_RETURN_IF_ERROR(CheckId("tenant_id", e.tenant_id).WithContext(where));
    WARD_RETURN_IF_ERROR(CheckId("event.id", e.id).WithContext(where));
    WARD_RETURN_IF_ERROR(CheckLen("agent.id", e.agent_id, kIdMax).WithContext(where));
    WARD_RETURN_IF_ERROR(CheckLen("event.module", e.module, kIdMax).WithContext(where));
    WARD_RETURN_IF_ERROR(CheckLen("event.action", e.action, kNameMax).WithContext(where));
    ts[i] = Micros(e.timestamp);
    if (ts[i] < 0 || ts[i] >= kMaxMicros) {
      return InvalidArgument(fmt::format("{}: @timestamp outside 1970-01-01 .. 2200-01-01", where));
    }
    days.insert(ts[i] / kMicrosPerDay);
    if (e.doc_text.empty()) {
      docs[i] = DumpJson(e.doc);
    } else {
      // The caller's serialisation, stored as is (it was validated as JSON by the caller).
      if (e.doc_text.find('\0') != std::string::npos) {
        return InvalidArgument(fmt::format("{}: document contains a NUL byte", where));
      }
      if (e.doc_text.size() > kMaxDocText) {
        return InvalidArgument(
            fmt::format("{}: document longer than {} bytes", where, kMaxDocText));
      }
      docs[i] = e.doc_text;
    }
  }
  if (d_ == Dialect::kSqlite) return InsertEventsSqlite(events, ts, docs, signals, window);
  constexpr size_t kRowsPerStatement = 250;
  for (int attempt = 0;; ++attempt) {
    if (d_ == Dialect::kPostgres) WARD_RETURN_IF_ERROR(EnsurePartitions(days));
    auto r = Run("insert events", true, [&](soci::session& sql) -> Result<IngestResult> {
      RollupDelta rollup;
      IngestResult out;
      std::set<std::pair<std::string, std::string>> inserted_ips;  // (tenant, id)
      if (d_ == Dialect::kPostgres) {
        out = InsertEventsCopy(sql, events, ts, docs, rollup, inserted_ips);
      } else {
        // MariaDB's INSERT IGNORE ... RETURNING answers the rows inserted, not the ignored ones.
        long long inserted = 0;
        const auto bases = ReserveSeq(sql, events);
        for (size_t start = 0; start < events.size(); start += kRowsPerStatement) {
          size_t end = std::min(events.size(), start + kRowsPerStatement);
          Params p;
          std::string q = fmt::format(
              "{} INTO events (tenant_id, id, agent_id, ts, module, action, severity, path, "
              "rule, doc, seq) VALUES ",
              InsertIgnore());
          for (size_t i = start; i < end; ++i) {
            const StoredEvent& e = events[i];
            if (i != start) q += ", ";
            q += fmt::format("({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})", p.S(e.tenant_id),
                             p.S(e.id), p.S(e.agent_id), p.I(ts[i]), p.S(NoNul(e.module)),
                             p.S(NoNul(e.action)), p.I(e.severity), p.S(NoNul(e.path)),
                             p.S(NoNul(e.rule)), p.S(docs[i]),
                             p.I(bases.at(e.tenant_id) + 1 + static_cast<long long>(i)));
          }
          q += OnConflictIgnore();
          q += " RETURNING tenant_id, ts, module, severity, action, agent_id, rule, path, id";
          Select(sql, q, p, "sisisssss", [&](const Row& r) {
            ++inserted;
            rollup.Add(r.S(0), r.I(1), r.S(2), static_cast<int>(r.I(3)), r.S(4), r.S(5), r.S(6),
                       r.S(7), 1);
            if (r.S(2) == "ips") inserted_ips.emplace(r.S(0), r.S(8));
          });
        }
        out.accepted = static_cast<int>(inserted);
        out.duplicates = static_cast<int>(events.size()) - out.accepted;
      }
      if (!rollup.empty()) ApplyRollup(sql, rollup);
      if (!inserted_ips.empty()) {
        // The IPS matches of the rows inserted (the first of a batch's duplicates is the one
        // stored), in the same transaction (ips_tuning.cc).
        std::vector<IpsMatchRow> ips;
        for (size_t i = 0; i < events.size(); ++i) {
          if (events[i].module != "ips") continue;
          if (inserted_ips.erase({events[i].tenant_id, events[i].id}) == 0) continue;
          for (auto& row : IpsMatchRowsOf(events[i], ts[i], docs[i])) ips.push_back(std::move(row));
        }
        WriteIpsMatches(sql, ips);
      }
      if (!signals.empty()) out.alerts_counted = RecordSignalsIn(sql, signals, window);
      return out;
    });
    // A partition dropped by another node's retention run: forget what we knew and retry once.
    if (!r.has_value() && d_ == Dialect::kPostgres && attempt == 0 &&
        r.error().message().find("no partition") != std::string::npos) {
      std::lock_guard lock(partitions_mu_);
      known_partitions_.clear();
      continue;
    }
    return r;
  }
}

std::string SociStore::EventWhere(const std::string& tenant_id, const EventQuery& q,
                                  Params& p) const {
  std::string w = fmt::format(" WHERE tenant_id = {}", p.S(tenant_id));
  if (q.from) w += fmt::format(" AND ts >= {}", p.I(Micros(*q.from)));
  if (q.to) w += fmt::format(" AND ts < {}", p.I(Micros(*q.to)));
  if (q.agent_id) w += fmt::format(" AND agent_id = {}", p.S(*q.agent_id));
  if (q.module) w += fmt::format(" AND module = {}", p.S(*q.module));
  if (q.min_severity) w += fmt::format(" AND severity >= {}", p.I(*q.min_severity));
  if (q.action) w += fmt::format(" AND action = {}", p.S(*q.action));
  if (q.text && !q.text->empty()) {
    std::string t = NoNul(*q.text);
    switch (d_) {
      case Dialect::kSqlite:
        w += fmt::format(" AND (instr(path, {}) > 0 OR instr(rule, {}) > 0)", p.S(t), p.S(t));
        break;
      case Dialect::kPostgres:
        w += fmt::format(" AND (strpos(path, {}) > 0 OR strpos(rule, {}) > 0)", p.S(t), p.S(t));
        break;
      case Dialect::kMysql:
        w += fmt::format(" AND (LOCATE({}, path) > 0 OR LOCATE({}, rule) > 0)", p.S(t), p.S(t));
        break;
    }
  }
  return w;
}

Result<std::vector<StoredEvent>> SociStore::QueryEvents(const std::string& tenant_id,
                                                        const EventQuery& q) {
  int limit = std::clamp(q.limit, 1, 10000);
  return Run("query events", false, [&](soci::session& sql) -> Result<std::vector<StoredEvent>> {
    Params p;
    std::string s = fmt::format("SELECT {} FROM events", kEventCols) + EventWhere(tenant_id, q, p);
    if (q.after_seq) {
      s += fmt::format(" AND seq > {} ORDER BY seq LIMIT {}", p.I(*q.after_seq), limit);
    } else if (q.after) {
      long long at = Micros(q.after->first);
      const char* cmp = q.descending ? "<" : ">";
      s += fmt::format(" AND ts {}= {} AND (ts {} {} OR id {} {})", cmp, p.I(at), cmp, p.I(at), cmp,
                       p.S(q.after->second));
    }
    if (!q.after_seq) {
      s += q.descending ? " ORDER BY ts DESC, id DESC" : " ORDER BY ts, id";
      s += fmt::format(" LIMIT {}", limit);
    }
    std::vector<StoredEvent> out;
    out.reserve(static_cast<size_t>(limit));
    Select(sql, s, p, kEventSig, [&](const Row& r) { out.push_back(EventFrom(r, q.raw_docs)); });
    return out;
  });
}

Result<int64_t> SociStore::LatestEventSeq(const std::string& tenant_id) {
  return Run("latest event seq", false, [&](soci::session& sql) -> Result<int64_t> {
    Params p;
    return static_cast<int64_t>(SelectInt(
        sql, fmt::format("SELECT seq FROM ingest_seq WHERE tenant_id = {}", p.S(tenant_id)), p, 0));
  });
}

Result<int64_t> SociStore::DeleteEventsBefore(const std::string& tenant_id, TimePoint cutoff,
                                              int batch) {
  batch = std::clamp(batch, 1, 1'000'000);
  long long c = Micros(cutoff);
  if (d_ == Dialect::kPostgres) return DeletePostgres(tenant_id, c, batch);
  return Run("delete events", true, [&](soci::session& sql) -> Result<int64_t> {
    Params p;
    std::string q =
        d_ == Dialect::kSqlite
            ? fmt::format(
                  "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE "
                  "tenant_id = {} AND ts < {} LIMIT {})",
                  p.S(tenant_id), p.I(c), batch)
            : fmt::format("DELETE FROM events WHERE tenant_id = {} AND ts < {} LIMIT {}",
                          p.S(tenant_id), p.I(c), batch);
    // The rollups lose what the batch deleted, in the same transaction.
    return static_cast<int64_t>(DeleteEventsWithRollup(sql, q, p));
  });
}

}  // namespace ward::manager::soci_backend
