// The SQLite event writer: one connection (its statements prepared once, by its statement cache),
// and group commit (docs/manager-store.md, "Events"): concurrent batches share one transaction,
// each in its own savepoint.
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

}  // namespace

Status SociStore::OpenSqliteWriter() {
  if (sqlite_writer_ != nullptr) return Status::Ok();
  auto s = pool_.Connect();
  if (!s.has_value()) return s.error();
  sqlite_writer_ = std::move(s).value();
  auto* db = static_cast<soci::sqlite3_session_backend*>(sqlite_writer_->get_backend())->conn_;
  // Fewer, larger checkpoints (32 MB of WAL instead of 4 MB): a group commit writes megabytes at
  // once, and each checkpoint ends in an fsync of the database file.
  (void)SqliteExec(db, "PRAGMA wal_autocheckpoint = 8192");
  return Status::Ok();
}

void SociStore::CloseSqliteWriter() { sqlite_writer_.reset(); }

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
  if (Status st = SqliteExec(db, "BEGIN IMMEDIATE"); !st.ok()) return all(st);
  out.reserve(group.size());
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
    // One row per statement, prepared once on this connection (its statement cache).
    static const std::string kInsert =
        "INSERT INTO events (tenant_id, id, agent_id, ts, module, action, severity, path, rule, "
        "doc, seq) VALUES (:p1, :p2, :p3, :p4, :p5, :p6, :p7, :p8, :p9, :p10, :p11) ON CONFLICT "
        "DO NOTHING";
    for (size_t i = 0; st.ok() && i < p->events->size(); ++i) {
      const StoredEvent& e = (*p->events)[i];
      const std::string& doc = (*p->docs)[i];
      Params v;
      v.S(NoNul(e.tenant_id));
      v.S(NoNul(e.id));
      v.S(NoNul(e.agent_id));
      v.I((*p->ts)[i]);
      v.S(NoNul(e.module));
      v.S(NoNul(e.action));
      v.I(e.severity);
      v.S(NoNul(e.path));
      v.S(NoNul(e.rule));
      v.S(doc);
      v.I(bases[e.tenant_id] + 1 + static_cast<long long>(i));
      try {
        if (Exec(*sqlite_writer_, kInsert, v) > 0) {
          ++inserted;
          rollup.Add(e.tenant_id, (*p->ts)[i], NoNul(e.module), e.severity, NoNul(e.action),
                     NoNul(e.agent_id), NoNul(e.rule), NoNul(e.path), 1);
          if (e.module == "ips") {
            for (auto& row : IpsMatchRowsOf(e, (*p->ts)[i], doc)) ips.push_back(std::move(row));
          }
        }
      } catch (const std::exception& ex) {
        st = Classify(d_, ex, nullptr).status.WithContext(fmt::format("event[{}]", i));
      }
    }
    if (st.ok() && !rollup.empty()) {
      // The rows inserted, counted into the hourly rollups in the batch's savepoint (only
      // positive counts here: the deletes go through ApplyRollup too).
      try {
        ApplyRollup(*sqlite_writer_, rollup);
      } catch (const std::exception& ex) {
        st = Classify(d_, ex, nullptr).status.WithContext("event rollup");
      }
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
