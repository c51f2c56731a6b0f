// The SQLite event writer: one connection with its insert statement prepared once, and group
// commit (docs/manager-store.md, "Events"): concurrent batches share one transaction, each in its
// own savepoint.
#include <fmt/format.h>

#include <tuple>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

namespace {

Status SqliteStatus(sqlite_api::sqlite3* db, int rc, std::string_view what) {
  std::string msg = fmt::format("{}: {}", what, sqlite_api::sqlite3_errmsg(db));
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
      return Unavailable(std::move(msg));
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
      return InvalidArgument(std::move(msg));
    default:
      return Internal(std::move(msg));
  }
}

Status SqliteExec(sqlite_api::sqlite3* db, const char* sql) {
  int rc = sqlite_api::sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(db, rc, sql);
  return Status::Ok();
}

// Binds text that must outlive the step (SQLITE_STATIC); `scratch` holds a NUL-free copy when
// needed.
int BindText(sqlite_api::sqlite3_stmt* st, int pos, const std::string& v, std::string& scratch) {
  const std::string* p = &v;
  if (v.find('\0') != std::string::npos) {
    scratch = NoNul(v);
    p = &scratch;
  }
  return sqlite_api::sqlite3_bind_text(st, pos, p->data(), static_cast<int>(p->size()),
                                       SQLITE_STATIC);
}

}  // namespace

Status SociStore::OpenSqliteWriter() {
  if (sqlite_insert_ != nullptr) return Status::Ok();
  auto s = pool_.Connect();
  if (!s.has_value()) return s.error();
  sqlite_writer_ = std::move(s).value();
  auto* db = static_cast<soci::sqlite3_session_backend*>(sqlite_writer_->get_backend())->conn_;
  // Fewer, larger checkpoints (32 MB of WAL instead of 4 MB): a group commit writes megabytes at
  // once, and each checkpoint ends in an fsync of the database file.
  (void)SqliteExec(db, "PRAGMA wal_autocheckpoint = 8192");
  const char* q =
      "INSERT INTO events (tenant_id, id, agent_id, ts, module, action, severity, path, rule, "
      "doc, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING";
  const char* rollup =
      "INSERT INTO event_rollup (tenant_id, hour, module, severity, action, n) VALUES (?, ?, ?, ?, "
      "?, ?) ON CONFLICT (tenant_id, hour, module, severity, action) DO UPDATE SET n = "
      "event_rollup.n + excluded.n";
  const char* values =
      "INSERT INTO event_rollup_values (tenant_id, hour, field, module, value, n) VALUES (?, ?, ?, "
      "?, ?, ?) ON CONFLICT (tenant_id, hour, field, module, value) DO UPDATE SET n = "
      "event_rollup_values.n + excluded.n";
  for (auto [sql, stmt, what] :
       {std::tuple{q, &sqlite_insert_, "prepare event insert"},
        std::tuple{rollup, &sqlite_rollup_, "prepare rollup upsert"},
        std::tuple{values, &sqlite_rollup_values_, "prepare rollup values upsert"}}) {
    int rc = sqlite_api::sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, nullptr);
    if (rc != SQLITE_OK) {
      Status st = SqliteStatus(db, rc, what);
      CloseSqliteWriter();
      return st;
    }
  }
  return Status::Ok();
}

Status SociStore::ApplyRollupSqlite(const RollupDelta& d) {
  auto* db = static_cast<soci::sqlite3_session_backend*>(sqlite_writer_->get_backend())->conn_;
  std::string scratch;
  auto step = [&](sqlite_api::sqlite3_stmt* st, const std::string& tenant, long long hour,
                  auto&& bind_middle, long long n) -> Status {
    int rc = BindText(st, 1, tenant, scratch);
    if (rc == SQLITE_OK) rc = sqlite_api::sqlite3_bind_int64(st, 2, hour);
    if (rc == SQLITE_OK) rc = bind_middle(st);
    if (rc == SQLITE_OK) rc = sqlite_api::sqlite3_bind_int64(st, 6, n);
    if (rc == SQLITE_OK) rc = sqlite_api::sqlite3_step(st);
    sqlite_api::sqlite3_reset(st);
    sqlite_api::sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? Status::Ok() : SqliteStatus(db, rc, "event rollup upsert");
  };
  // The strings are NUL-free already (RollupDelta keeps the columns as stored).
  auto text = [](sqlite_api::sqlite3_stmt* st, int pos, const std::string& v) {
    return sqlite_api::sqlite3_bind_text(st, pos, v.data(), static_cast<int>(v.size()),
                                         SQLITE_STATIC);
  };
  for (const auto& row : d.counts) {
    const auto& k = row.first;  // not a structured binding: the lambda captures it (clang 14)
    const long long n = row.second;
    if (n == 0) continue;
    WARD_RETURN_IF_ERROR(step(
        sqlite_rollup_, std::get<0>(k), std::get<1>(k),
        [&](sqlite_api::sqlite3_stmt* st) {
          int rc = text(st, 3, std::get<2>(k));
          if (rc == SQLITE_OK) rc = sqlite_api::sqlite3_bind_int64(st, 4, std::get<3>(k));
          if (rc == SQLITE_OK) rc = text(st, 5, std::get<4>(k));
          return rc;
        },
        n));
  }
  for (const auto& row : d.values) {
    const auto& k = row.first;  // not a structured binding: the lambda captures it (clang 14)
    const long long n = row.second;
    if (n == 0) continue;
    WARD_RETURN_IF_ERROR(step(
        sqlite_rollup_values_, std::get<0>(k), std::get<1>(k),
        [&](sqlite_api::sqlite3_stmt* st) {
          int rc = sqlite_api::sqlite3_bind_int64(st, 3, std::get<2>(k));
          if (rc == SQLITE_OK) rc = text(st, 4, std::get<3>(k));
          if (rc == SQLITE_OK) rc = text(st, 5, std::get<4>(k));
          return rc;
        },
        n));
  }
  return Status::Ok();
}

void SociStore::CloseSqliteWriter() {
  for (auto* stmt : {&sqlite_insert_, &sqlite_rollup_, &sqlite_rollup_values_}) {
    if (*stmt != nullptr) sqlite_api::sqlite3_finalize(*stmt);
    *stmt = nullptr;
  }
  sqlite_writer_.reset();
}

// Every caller queues its batch; whoever finds no writer at work becomes the writer and commits
// everything queued so far (its own batch included) in one transaction, each batch inside its
// own savepoint. Each caller returns only once the transaction holding its batch has committed,
// so a success still means "on disk" (WAL, synchronous=NORMAL), and a batch that fails is rolled
// back to its savepoint without touching the others.
Result<IngestResult> SociStore::InsertEventsSqlite(const std::vector<StoredEvent>& events,
                                                   const std::vector<long long>& ts,
                                                   const std::vector<std::string>& docs,
                                                   const std::vector<AlertSignal>& signals,
                                                   std::chrono::seconds window) {
  constexpr size_t kMaxGroupEvents = 20'000;
  PendingInsert me{&events, &ts, &docs, &signals, window, std::nullopt};
  std::unique_lock lock(group_mu_);
  group_queue_.push_back(&me);
  while (!me.result.has_value()) {
    if (group_leader_) {
      group_cv_.wait(lock);
      continue;
    }
    group_leader_ = true;
    std::vector<PendingInsert*> group;
    size_t rows = 0;
    while (!group_queue_.empty() &&
           (group.empty() || rows + group_queue_.front()->events->size() <= kMaxGroupEvents)) {
      rows += group_queue_.front()->events->size();
      group.push_back(group_queue_.front());
      group_queue_.pop_front();
    }
    lock.unlock();
    std::vector<Result<IngestResult>> results;
    try {
      results = WriteSqliteGroup(group);
    } catch (const std::exception& e) {
      // Never leave the queue without a writer (its callers would wait forever), nor the
      // writer inside a transaction: closing its connection rolls the group back.
      {
        std::lock_guard write_lock(sqlite_write_mu_);
        CloseSqliteWriter();
      }
      results.assign(group.size(),
                     Result<IngestResult>(Internal(fmt::format("insert events: {}", e.what()))));
    }
    lock.lock();
    for (size_t i = 0; i < group.size(); ++i) group[i]->result = std::move(results[i]);
    group_leader_ = false;
    group_cv_.notify_all();
  }
  return std::move(*me.result);
}

std::vector<Result<IngestResult>> SociStore::WriteSqliteGroup(
    const std::vector<PendingInsert*>& group) {
  std::vector<Result<IngestResult>> out;
  auto all = [&](const Status& st) {
    out.assign(group.size(), Result<IngestResult>(st.WithContext("insert events")));
    return out;
  };
  std::lock_guard write_lock(sqlite_write_mu_);
  if (Status st = OpenSqliteWriter(); !st.ok()) return all(st);
  auto* db = static_cast<soci::sqlite3_session_backend*>(sqlite_writer_->get_backend())->conn_;
  sqlite_api::sqlite3_stmt* ins = sqlite_insert_;
  if (Status st = SqliteExec(db, "BEGIN IMMEDIATE"); !st.ok()) return all(st);
  out.reserve(group.size());
  std::string scratch[5];
  for (const PendingInsert* p : group) {
    Status st = SqliteExec(db, "SAVEPOINT ward_batch");
    long long inserted = 0;
    RollupDelta rollup;
    std::vector<IpsMatchRow> ips;
    std::map<std::string, long long> bases;
    if (st.ok()) {
      // The batch's ingest sequence numbers, reserved in its savepoint.
      try {
        bases = ReserveSeq(*sqlite_writer_, *p->events);
      } catch (const std::exception& e) {
        st = Classify(d_, e, nullptr).status.WithContext("ingest sequence");
      }
    }
    for (size_t i = 0; st.ok() && i < p->events->size(); ++i) {
      const StoredEvent& e = (*p->events)[i];
      const std::string& doc = (*p->docs)[i];
      int rc = SQLITE_OK;
      auto bind = [&](int r) {
        if (rc == SQLITE_OK) rc = r;
      };
      bind(BindText(ins, 1, e.tenant_id, scratch[0]));
      bind(BindText(ins, 2, e.id, scratch[0]));
      bind(BindText(ins, 3, e.agent_id, scratch[0]));
      bind(sqlite_api::sqlite3_bind_int64(ins, 4, (*p->ts)[i]));
      bind(BindText(ins, 5, e.module, scratch[1]));
      bind(BindText(ins, 6, e.action, scratch[2]));
      bind(sqlite_api::sqlite3_bind_int64(ins, 7, e.severity));
      bind(BindText(ins, 8, e.path, scratch[3]));
      bind(BindText(ins, 9, e.rule, scratch[4]));
      bind(sqlite_api::sqlite3_bind_text(ins, 10, doc.data(), static_cast<int>(doc.size()),
                                         SQLITE_STATIC));
      bind(sqlite_api::sqlite3_bind_int64(ins, 11,
                                          bases[e.tenant_id] + 1 + static_cast<long long>(i)));
      if (rc == SQLITE_OK) rc = sqlite_api::sqlite3_step(ins);
      if (rc == SQLITE_DONE) {
        if (sqlite_api::sqlite3_changes(db) > 0) {
          ++inserted;
          rollup.Add(e.tenant_id, (*p->ts)[i], NoNul(e.module), e.severity, NoNul(e.action),
                     NoNul(e.agent_id), NoNul(e.rule), NoNul(e.path), 1);
          if (e.module == "ips") {
            for (auto& row : IpsMatchRowsOf(e, (*p->ts)[i], doc)) ips.push_back(std::move(row));
          }
        }
      } else {
        st = SqliteStatus(db, rc, fmt::format("event[{}]", i));
      }
      sqlite_api::sqlite3_reset(ins);
      sqlite_api::sqlite3_clear_bindings(ins);
    }
    if (st.ok() && !rollup.empty()) {
      // The rows inserted, counted into the hourly rollups in the batch's savepoint (only
      // positive counts here: the deletes go through ApplyRollup).
      st = ApplyRollupSqlite(rollup);
    }
    if (st.ok() && !ips.empty()) {
      // The IPS matches of the rows inserted, in the batch's savepoint (ips_tuning.cc).
      try {
        WriteIpsMatches(*sqlite_writer_, ips);
      } catch (const std::exception& e) {
        st = Classify(d_, e, nullptr).status.WithContext("ips matches");
      }
    }
    int alerts_counted = 0;
    if (st.ok() && !p->signals->empty()) {
      // The batch's alerts, in its savepoint: stored with its events or not at all.
      try {
        alerts_counted = RecordSignalsIn(*sqlite_writer_, *p->signals, p->window);
      } catch (const std::exception& e) {
        st = Classify(d_, e, nullptr).status.WithContext("record alert signals");
      }
    }
    if (sqlite_api::sqlite3_get_autocommit(db) != 0) {
      // The error ended the whole transaction (e.g. disk full, I/O error): nothing of the group
      // was kept, so every batch gets the error.
      if (st.ok()) st = Internal("transaction ended unexpectedly");
      return all(st);
    }
    if (st.ok()) {
      st = SqliteExec(db, "RELEASE ward_batch");
    } else {
      Status undo = SqliteExec(db, "ROLLBACK TO ward_batch");
      if (undo.ok()) undo = SqliteExec(db, "RELEASE ward_batch");
      if (!undo.ok()) {
        (void)SqliteExec(db, "ROLLBACK");
        return all(undo);
      }
    }
    if (st.ok()) {
      IngestResult r;
      r.accepted = static_cast<int>(inserted);
      r.duplicates = static_cast<int>(p->events->size()) - r.accepted;
      r.alerts_counted = alerts_counted;
      out.emplace_back(r);
    } else {
      out.emplace_back(st.WithContext("insert events"));
    }
  }
  if (Status st = SqliteExec(db, "COMMIT"); !st.ok()) {
    (void)SqliteExec(db, "ROLLBACK");
    CloseSqliteWriter();
    return all(Unavailable(fmt::format("commit: {}", st.message())));
  }
  return out;
}

}  // namespace ward::manager::soci_backend
