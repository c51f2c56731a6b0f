#include "agent/transport/spool.h"

#include <fmt/format.h>

#include "common/log.h"

namespace ward::agent::transport {
namespace {

// Room kept free for the spool_dropped event itself, so the count it states stays exact.
constexpr uint64_t kDropEventReserve = 1024;

}  // namespace

Result<std::unique_ptr<Spool>> Spool::Open(const std::string& path, uint64_t max_bytes,
                                           const Clock& clock) {
  WARD_ASSIGN_OR_RETURN(auto db, SqliteDb::Open(path));
  std::unique_ptr<Spool> spool(new Spool(std::move(db), max_bytes, clock));
  WARD_RETURN_IF_ERROR(spool->Init().WithContext(fmt::format("spool {}", path)));
  return spool;
}

Status Spool::Init() {
  // FULL: the WAL is fsynced at every commit, so an event the spool took survives power loss as
  // well as kill -9 (NORMAL would survive kill -9 only). Appends are batched per dispatch round.
  WARD_RETURN_IF_ERROR(db_->Exec("PRAGMA synchronous=FULL"));
  WARD_RETURN_IF_ERROR(
      db_->Exec("CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                "severity INTEGER NOT NULL, size INTEGER NOT NULL, body BLOB NOT NULL);"
                "CREATE INDEX IF NOT EXISTS events_by_severity ON events (severity, seq);"
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"));
  WARD_ASSIGN_OR_RETURN(auto q,
                        db_->Prepare("SELECT count(*), coalesce(sum(size), 0) FROM events"));
  WARD_ASSIGN_OR_RETURN(bool row, q.Step());
  if (row) {
    depth_ = static_cast<uint64_t>(q.ColumnInt(0));
    bytes_ = static_cast<uint64_t>(q.ColumnInt(1));
  }
  WARD_ASSIGN_OR_RETURN(auto d, db_->Prepare("SELECT value FROM meta WHERE key = 'dropped'"));
  WARD_ASSIGN_OR_RETURN(row, d.Step());
  if (row) dropped_ = static_cast<uint64_t>(d.ColumnInt(0));
  return Status::Ok();
}

Status Spool::Insert(const Event& e, const std::string& json) {
  WARD_ASSIGN_OR_RETURN(auto ins,
                        db_->Prepare("INSERT INTO events (severity, size, body) VALUES (?, ?, ?)"));
  ins.Bind(1, static_cast<int64_t>(e.severity()))
      .Bind(2, static_cast<int64_t>(json.size()))
      .BindBlob(3, json);
  WARD_RETURN_IF_ERROR(ins.Run());
  ++depth_;
  bytes_ += json.size();
  return Status::Ok();
}

Result<uint64_t> Spool::MakeRoom(uint64_t incoming) {
  uint64_t evicted = 0;
  uint64_t limit = max_bytes_ > kDropEventReserve ? max_bytes_ - kDropEventReserve : 0;
  WARD_ASSIGN_OR_RETURN(
      auto sel, db_->Prepare("SELECT seq, size FROM events ORDER BY severity, seq LIMIT 512"));
  WARD_ASSIGN_OR_RETURN(auto del, db_->Prepare("DELETE FROM events WHERE seq = ?"));
  while (bytes_ + incoming > limit && depth_ > 0) {
    std::vector<std::pair<int64_t, uint64_t>> victims;
    for (;;) {
      WARD_ASSIGN_OR_RETURN(bool row, sel.Step());
      if (!row) break;
      victims.emplace_back(sel.ColumnInt(0), static_cast<uint64_t>(sel.ColumnInt(1)));
    }
    sel.Reset();
    if (victims.empty()) break;
    for (const auto& [seq, size] : victims) {
      if (bytes_ + incoming <= limit) break;
      del.Bind(1, seq);
      WARD_RETURN_IF_ERROR(del.Run());
      --depth_;
      bytes_ -= size;
      ++evicted;
    }
  }
  return evicted;
}

Status Spool::Append(const std::vector<Event>& events) {
  if (events.empty()) return Status::Ok();
  std::lock_guard lock(mu_);
  const uint64_t saved_depth = depth_, saved_bytes = bytes_, saved_dropped = dropped_;
  auto restore = [&](Status s) {
    depth_ = saved_depth;
    bytes_ = saved_bytes;
    dropped_ = saved_dropped;
    return s;
  };
  auto txn = SqliteTransaction::Begin(*db_);
  if (!txn) return txn.error();
  uint64_t dropped = 0;
  for (const Event& e : events) {
    std::string json = e.ToJson();
    if (json.size() + kDropEventReserve > max_bytes_) {
      ++dropped;  // larger than the whole spool: it can never be stored
      continue;
    }
    if (Status s = Insert(e, json); !s.ok()) return restore(s);
  }
  auto evicted = MakeRoom(0);
  if (!evicted) return restore(evicted.error());
  dropped += *evicted;
  if (dropped > 0) {
    Event note = Event::Make(clock_, "ward", "info", "spool_dropped", Severity::kHigh);
    note.Set("message",
             fmt::format("the event spool was full ({} bytes); {} event(s) of the lowest "
                         "severity were dropped, oldest first",
                         max_bytes_, dropped));
    note.Set("ward.dropped_events", dropped);
    if (Status s = Insert(note, note.ToJson()); !s.ok()) return restore(s);
    dropped_ += dropped;
    auto meta = db_->Prepare(
        "INSERT INTO meta (key, value) VALUES ('dropped', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    if (!meta) return restore(meta.error());
    meta->Bind(1, static_cast<int64_t>(dropped_));
    if (Status s = meta->Run(); !s.ok()) return restore(s);
  }
  if (Status s = (*txn)->Commit(); !s.ok()) return restore(s);
  if (dropped > 0) spdlog::warn("event spool full: {} event(s) dropped", dropped);
  return Status::Ok();
}

Result<std::vector<SpooledEvent>> Spool::Peek(size_t max_events, size_t max_bytes) {
  std::lock_guard lock(mu_);
  WARD_ASSIGN_OR_RETURN(auto q, db_->Prepare("SELECT seq, body FROM events ORDER BY seq LIMIT ?"));
  q.Bind(1, static_cast<int64_t>(max_events));
  std::vector<SpooledEvent> out;
  size_t bytes = 0;
  for (;;) {
    WARD_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    SpooledEvent e{q.ColumnInt(0), q.ColumnBlob(1)};
    if (!out.empty() && bytes + e.json.size() > max_bytes) break;
    bytes += e.json.size();
    out.push_back(std::move(e));
  }
  return out;
}

Status Spool::Ack(int64_t first_seq, int64_t last_seq) {
  std::lock_guard lock(mu_);
  auto txn = SqliteTransaction::Begin(*db_);
  if (!txn) return txn.error();
  WARD_ASSIGN_OR_RETURN(auto sum, db_->Prepare("SELECT count(*), coalesce(sum(size), 0) FROM "
                                               "events WHERE seq BETWEEN ? AND ?"));
  sum.Bind(1, first_seq).Bind(2, last_seq);
  WARD_ASSIGN_OR_RETURN(bool row, sum.Step());
  uint64_t n = row ? static_cast<uint64_t>(sum.ColumnInt(0)) : 0;
  uint64_t b = row ? static_cast<uint64_t>(sum.ColumnInt(1)) : 0;
  sum.Reset();
  WARD_ASSIGN_OR_RETURN(auto del, db_->Prepare("DELETE FROM events WHERE seq BETWEEN ? AND ?"));
  del.Bind(1, first_seq).Bind(2, last_seq);
  WARD_RETURN_IF_ERROR(del.Run());
  WARD_RETURN_IF_ERROR((*txn)->Commit());
  depth_ -= std::min(depth_, n);
  bytes_ -= std::min(bytes_, b);
  return Status::Ok();
}

SpoolStats Spool::Stats() const {
  std::lock_guard lock(mu_);
  return {depth_, bytes_, dropped_};
}

void Spool::set_max_bytes(uint64_t max_bytes) {
  std::lock_guard lock(mu_);
  max_bytes_ = max_bytes;
}

uint64_t Spool::max_bytes() const {
  std::lock_guard lock(mu_);
  return max_bytes_;
}

}  // namespace ward::agent::transport
