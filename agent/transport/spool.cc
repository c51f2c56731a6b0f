#include "agent/transport/spool.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "common/log.h"

namespace ward::agent::transport {
namespace {

// Room kept free for the spool_dropped event itself, so the count it states stays exact.
constexpr uint64_t kDropEventReserve = 1024;

}  // namespace

Result<std::unique_ptr<Spool>> Spool::Open(const std::string& path, uint64_t max_bytes,
                                           const Clock& clock) {
  WARD_ASSIGN_OR_RETURN(auto db, SqliteDb::Open(path));
  std::unique_ptr<Spool> spool(new Spool(std::move(db), path, max_bytes, clock));
  WARD_RETURN_IF_ERROR(spool->Init().WithContext(fmt::format("spool {}", path)));
  std::lock_guard lock(spool->mu_);
  spool->EnsureReserveLocked();
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
  WARD_ASSIGN_OR_RETURN(auto u, db_->Prepare("SELECT value FROM meta WHERE key = 'unreported'"));
  WARD_ASSIGN_OR_RETURN(row, u.Step());
  if (row) unreported_ = static_cast<uint64_t>(u.ColumnInt(0));
  return Status::Ok();
}

void Spool::EnsureReserveLocked() {
  if (reserve_present_) return;
  // At most every few seconds: on a nearly full disk (or where posix_fallocate writes the bytes)
  // each attempt costs.
  auto now = std::chrono::steady_clock::now();
  if (reserve_attempted_ && now - last_reserve_attempt_ < std::chrono::seconds(5)) return;
  reserve_attempted_ = true;
  last_reserve_attempt_ = now;
  std::string reserve = path_ + "-reserve";
  int fd = ::open(reserve.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return;
  int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(kSpoolReserveBytes));
  ::close(fd);
  if (rc != 0) {
    ::unlink(reserve.c_str());  // a partial reserve only takes space the spool needs now
    return;
  }
  reserve_present_ = true;
}

bool Spool::ReleaseReserveLocked() {
  std::string reserve = path_ + "-reserve";
  bool freed = ::unlink(reserve.c_str()) == 0;
  reserve_present_ = false;
  if (freed) spdlog::warn("event spool: the disk is full; released the {} reserve", reserve);
  return freed;
}

void Spool::ReleaseReserve() {
  std::lock_guard lock(mu_);
  ReleaseReserveLocked();
}

Status Spool::DeleteAckedLocked() {
  if (!acked_pending_delete_) return Status::Ok();
  WARD_ASSIGN_OR_RETURN(auto del, db_->Prepare("DELETE FROM events WHERE seq <= ?"));
  del.Bind(1, acked_through_);
  return del.Run();
}

Status Spool::PersistDroppedLocked() {
  WARD_ASSIGN_OR_RETURN(auto meta, db_->Prepare("INSERT INTO meta (key, value) VALUES (?, ?) "
                                                "ON CONFLICT (key) DO UPDATE SET value = "
                                                "excluded.value"));
  meta.Bind(1, std::string_view("dropped")).Bind(2, static_cast<int64_t>(dropped_));
  WARD_RETURN_IF_ERROR(meta.Run());
  meta.Reset();
  meta.Bind(1, std::string_view("unreported")).Bind(2, static_cast<int64_t>(unreported_));
  return meta.Run();
}

void Spool::CountUnstored(uint64_t n) {
  if (n == 0) return;
  std::lock_guard lock(mu_);
  dropped_ += n;
  unreported_ += n;
  spdlog::error("event spool: {} event(s) could not be stored and are lost ({} in all)", n,
                dropped_);
  // Best effort: on a full disk this may fail; the count is in memory (heartbeat) either way.
  auto txn = SqliteTransaction::Begin(*db_);
  if (!txn) return;
  if (PersistDroppedLocked().ok()) (void)(*txn)->Commit();
}

void Spool::SetUnstored(uint64_t n, std::string error) {
  std::lock_guard lock(mu_);
  unstored_ = n;
  write_error_ = std::move(error);
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
  if (Status s = DeleteAckedLocked(); !s.ok()) return restore(s);
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
  const uint64_t unreported = unreported_;
  if (dropped > 0 || unreported > 0) {
    Event note = Event::Make(clock_, "ward", "info", "spool_dropped", Severity::kHigh);
    std::string why;
    if (dropped > 0) {
      why = fmt::format(
          "the event spool was full ({} bytes); {} event(s) of the lowest "
          "severity were dropped, oldest first",
          max_bytes_, dropped);
    }
    if (unreported > 0) {
      if (!why.empty()) why += "; ";
      why += fmt::format("{} event(s) could not be stored (the disk refused them) and were lost",
                         unreported);
    }
    note.Set("message", why);
    note.Set("ward.dropped_events", dropped + unreported);
    if (unreported > 0) note.Set("ward.unstored_events", unreported);
    if (Status s = Insert(note, note.ToJson()); !s.ok()) return restore(s);
    dropped_ += dropped;
    unreported_ = 0;
    if (Status s = PersistDroppedLocked(); !s.ok()) {
      unreported_ = unreported;
      return restore(s);
    }
  }
  if (Status s = (*txn)->Commit(); !s.ok()) {
    unreported_ = unreported;
    return restore(s);
  }
  acked_pending_delete_ = false;
  EnsureReserveLocked();
  if (dropped > 0) spdlog::warn("event spool full: {} event(s) dropped", dropped);
  return Status::Ok();
}

Result<std::vector<SpooledEvent>> Spool::Peek(size_t max_events, size_t max_bytes) {
  std::lock_guard lock(mu_);
  WARD_ASSIGN_OR_RETURN(
      auto q, db_->Prepare("SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?"));
  q.Bind(1, acked_through_).Bind(2, static_cast<int64_t>(max_events));
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
  if (last_seq <= acked_through_) return Status::Ok();
  // Reading needs no free space: the batch's count and size come off the stats at once.
  WARD_ASSIGN_OR_RETURN(auto sum, db_->Prepare("SELECT count(*), coalesce(sum(size), 0) FROM "
                                               "events WHERE seq BETWEEN ? AND ?"));
  sum.Bind(1, std::max(first_seq, acked_through_ + 1)).Bind(2, last_seq);
  WARD_ASSIGN_OR_RETURN(bool row, sum.Step());
  uint64_t n = row ? static_cast<uint64_t>(sum.ColumnInt(0)) : 0;
  uint64_t b = row ? static_cast<uint64_t>(sum.ColumnInt(1)) : 0;
  sum.Reset();
  // From here the batch is delivered: Peek() never returns it again, whether or not the delete
  // can be written now.
  acked_through_ = last_seq;
  acked_pending_delete_ = true;
  depth_ -= std::min(depth_, n);
  bytes_ -= std::min(bytes_, b);
  auto try_delete = [&]() -> Status {
    auto txn = SqliteTransaction::Begin(*db_);
    if (!txn) return txn.error();
    WARD_RETURN_IF_ERROR(DeleteAckedLocked());
    return (*txn)->Commit();
  };
  Status s = try_delete();
  if (!s.ok() && ReleaseReserveLocked()) s = try_delete();
  if (!s.ok()) {
    spdlog::warn("event spool: delivered events not deleted yet ({}); deleted at the next write",
                 s.ToString());
    return Status::Ok();
  }
  acked_pending_delete_ = false;
  EnsureReserveLocked();
  return Status::Ok();
}

SpoolStats Spool::Stats() const {
  std::lock_guard lock(mu_);
  return {depth_, bytes_, dropped_, unstored_, write_error_};
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
