#include "agent/modules/integrity/baseline_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/text.h"

namespace ward::agent::integrity {
namespace {

// The baseline table's columns.
constexpr std::string_view kBaselineColumns = R"sql((
  path BLOB PRIMARY KEY, type INTEGER NOT NULL, size INTEGER NOT NULL, mode INTEGER NOT NULL,
  uid INTEGER NOT NULL, gid INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
  inode INTEGER NOT NULL, dev INTEGER NOT NULL, sha256 BLOB, target BLOB, flags INTEGER NOT NULL,
  mac BLOB NOT NULL) WITHOUT ROWID)sql";
constexpr int kColumns = 14;
// A replacement is written to a table of this name plus 16 hex digits, renamed at the end.
constexpr std::string_view kNextTablePrefix = "integrity_baseline_next_";

bool IsNextTableName(std::string_view name) {
  if (name.substr(0, kNextTablePrefix.size()) != kNextTablePrefix) return false;
  std::string_view id = name.substr(kNextTablePrefix.size());
  return id.size() == 16 && id.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::string Schema() {
  return fmt::format(
      "CREATE TABLE IF NOT EXISTS integrity_baseline{};\n"
      "CREATE TABLE IF NOT EXISTS integrity_meta(key TEXT PRIMARY KEY, value BLOB NOT NULL);\n",
      kBaselineColumns);
}

// Rows per INSERT statement when many are written at once: a step per row costs more than the
// B-tree insertion itself.
constexpr size_t kRowsPerInsert = 32;
// Rows per transaction of a replacement: about a quarter of a second of holding the write lock.
constexpr size_t kRowsPerTransaction = 65536;

std::string InsertSql(std::string_view schema, std::string_view table, size_t rows = 1) {
  std::string sql = fmt::format(
      "INSERT INTO {}.{}(path, type, size, mode, uid, gid, mtime_ns, "
      "ctime_ns, inode, dev, sha256, target, flags, mac) VALUES ",
      schema, table);
  for (size_t i = 0; i < rows; ++i) {
    if (i > 0) sql += ',';
    sql += "(?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
  }
  return sql;
}

constexpr int64_t kFlagHashUnstable = 1;
constexpr int64_t kFlagUnreadable = 2;

void AppendField(std::string& out, std::string_view bytes) {
  uint32_t n = static_cast<uint32_t>(bytes.size());
  out.append(reinterpret_cast<const char*>(&n), sizeof n);
  out.append(bytes);
}
void AppendInt(std::string& out, int64_t v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

void XorInto(Sha256Digest& acc, const Sha256Digest& d) {
  for (size_t i = 0; i < acc.size(); ++i) acc[i] ^= d[i];
}

std::string DigestBytes(const Sha256Digest& d) {
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

std::string_view DigestView(const Sha256Digest& d) {
  return std::string_view(reinterpret_cast<const char*>(d.data()), d.size());
}

// RowMacs() uses one thread per this many rows, up to one per core.
constexpr size_t kRowsPerMacThread = 4096;

int64_t Flags(const FileRecord& r) {
  return (r.hash_unstable ? kFlagHashUnstable : 0) | (r.unreadable ? kFlagUnreadable : 0);
}

// Binds one row to the kColumns parameters from `first` (1 for a one-row statement).
void BindRow(SqliteStmt& ins, int first, const FileRecord& r, const Sha256Digest& mac) {
  const int i = first - 1;
  ins.BindBlob(i + 1, r.path)
      .Bind(i + 2, static_cast<int64_t>(r.type))
      .Bind(i + 3, static_cast<int64_t>(r.size))
      .Bind(i + 4, static_cast<int64_t>(r.mode))
      .Bind(i + 5, static_cast<int64_t>(r.uid))
      .Bind(i + 6, static_cast<int64_t>(r.gid))
      .Bind(i + 7, r.mtime_ns)
      .Bind(i + 8, r.ctime_ns)
      .Bind(i + 9, static_cast<int64_t>(r.inode))
      .Bind(i + 10, static_cast<int64_t>(r.dev));
  if (r.has_sha256) {
    ins.BindBlob(i + 11, DigestView(r.sha256));
  } else {
    ins.BindNull(i + 11);
  }
  ins.BindBlob(i + 12, r.target).Bind(i + 13, Flags(r)).BindBlob(i + 14, DigestView(mac));
}

Status InsertRow(SqliteStmt& ins, const FileRecord& r, const Sha256Digest& mac) {
  BindRow(ins, 1, r, mac);
  return ins.Run();
}

// The MAC of one row; `buf` is scratch space, reused from call to call.
Sha256Digest ComputeRowMac(HmacSha256& mac, const FileRecord& r, std::string& buf) {
  buf.clear();
  buf.append("ward.integrity.row.v1");
  AppendField(buf, r.path);
  AppendInt(buf, static_cast<int64_t>(r.type));
  AppendInt(buf, static_cast<int64_t>(r.size));
  AppendInt(buf, r.mode);
  AppendInt(buf, r.uid);
  AppendInt(buf, r.gid);
  AppendInt(buf, r.mtime_ns);
  AppendInt(buf, r.ctime_ns);
  AppendInt(buf, static_cast<int64_t>(r.inode));
  AppendInt(buf, static_cast<int64_t>(r.dev));
  AppendField(buf, r.has_sha256 ? DigestView(r.sha256) : std::string_view());
  AppendField(buf, r.target);
  AppendInt(buf, Flags(r));
  return mac.Compute(buf);
}

}  // namespace

Result<std::vector<uint8_t>> LoadOrCreateKey(const std::filesystem::path& state_dir,
                                             std::string_view name) {
  auto dir = state_dir / "keys";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ErrnoStatus(ec.value(), fmt::format("create {}", dir.string()));
  ::chmod(dir.c_str(), 0700);
  auto file = dir / fmt::format("{}.key", name);
  std::vector<uint8_t> key(32);
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd >= 0) {
    ssize_t n = ::read(fd, key.data(), key.size());
    ::close(fd);
    if (n != static_cast<ssize_t>(key.size())) {
      return DataLoss(fmt::format("{} is damaged (expected 32 bytes)", file.string()));
    }
    return key;
  }
  if (errno != ENOENT) return ErrnoStatus(errno, fmt::format("open {}", file.string()));
  WARD_RETURN_IF_ERROR(RandomBytes(key));
  std::string tmp = file.string() + ".tmp";
  fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoStatus(errno, fmt::format("create {}", tmp));
  bool ok =
      ::write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return ErrnoStatus(errno, fmt::format("write {}", tmp));
  // link() fails if another process created the key first: then use theirs.
  if (::link(tmp.c_str(), file.c_str()) != 0 && errno != EEXIST) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus(err, fmt::format("install {}", file.string()));
  }
  ::unlink(tmp.c_str());
  return LoadOrCreateKey(state_dir, name);
}

Result<std::unique_ptr<BaselineStore>> BaselineStore::Open(const std::filesystem::path& state_dir) {
  return OpenFile(state_dir, state_dir / "state.db");
}

Result<std::unique_ptr<BaselineStore>> BaselineStore::OpenFile(
    const std::filesystem::path& state_dir, const std::filesystem::path& db_file) {
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) return ErrnoStatus(ec.value(), fmt::format("create state dir {}", state_dir.string()));
  WARD_ASSIGN_OR_RETURN(auto key, LoadOrCreateKey(state_dir, "integrity"));
  WARD_ASSIGN_OR_RETURN(auto mac, HmacSha256::Create(key));
  WARD_ASSIGN_OR_RETURN(auto db, SqliteDb::Open(db_file.string()));
  ::chmod(db_file.c_str(), 0600);
  WARD_RETURN_IF_ERROR(db->Exec(Schema()));
  return std::unique_ptr<BaselineStore>(
      new BaselineStore(std::move(db), std::move(key), std::move(mac)));
}

Result<BaselineSummary> BaselineStore::Summary() {
  BaselineSummary out;
  auto set_mac = ReadMeta("set_mac");
  if (!set_mac) {
    if (set_mac.error().code() == StatusCode::kNotFound) return out;
    return set_mac.error();
  }
  out.exists = true;
  WARD_ASSIGN_OR_RETURN(auto agg, ReadMeta("aggregate"));
  WARD_ASSIGN_OR_RETURN(auto count, ReadMeta("count"));
  auto at = ReadMeta("recorded_at");
  out.aggregate_hex =
      ToHex(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(agg.data()), agg.size()));
  out.count = std::atoll(count.c_str());
  if (at) out.recorded_at_ns = std::atoll(at->c_str());
  return out;
}

namespace {
// SQL string literal.
std::string Quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

Status FsyncFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return ErrnoStatus(errno, fmt::format("open {}", path));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus(err, fmt::format("fsync {}", path));
  return Status::Ok();
}
}  // namespace

Status BaselineStore::SaveCopy(const std::filesystem::path& file) {
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  ::chmod(file.parent_path().c_str(), 0700);
  std::string tmp = file.string() + ".tmp";
  ::unlink(tmp.c_str());
  // Created 0600 first: VACUUM INTO writes into an empty existing file.
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoStatus(errno, fmt::format("create {}", tmp));
  ::close(fd);
  Status s = db_->Exec(fmt::format("VACUUM main INTO {}", Quoted(tmp)));
  if (s.ok()) s = FsyncFile(tmp);
  if (s.ok() && ::rename(tmp.c_str(), file.c_str()) != 0) {
    s = ErrnoStatus(errno, fmt::format("rename {}", tmp));
  }
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

Status BaselineStore::WriteAnchor(const std::filesystem::path& file, const BaselineAnchor& a) {
  nlohmann::json body = {{"count", a.count},
                         {"aggregate", a.aggregate_hex},
                         {"roots", a.roots},
                         {"recorded_at_ns", a.recorded_at_ns},
                         {"saved_at_ns", a.saved_at_ns},
                         {"incident", a.incident},
                         {"incident_at_ns", a.incident_at_ns}};
  std::string text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  Sha256Digest mac = mac_->Compute("ward.integrity.anchor.v1" + text);
  std::string out = fmt::format("{{\"anchor\":{},\"mac\":\"{}\"}}\n", text,
                                ToHex(std::span<const uint8_t>(mac.data(), mac.size())));
  std::string tmp = file.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoStatus(errno, fmt::format("create {}", tmp));
  bool ok =
      ::write(fd, out.data(), out.size()) == static_cast<ssize_t>(out.size()) && ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0) {
    if (ok) err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus(err, fmt::format("write {}", file.string()));
  }
  return Status::Ok();
}

Result<std::optional<BaselineAnchor>> BaselineStore::ReadAnchor(const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<BaselineAnchor>();
    return ErrnoStatus(errno, fmt::format("open {}", file.string()));
  }
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0 && text.size() < (1 << 20);) {
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  auto damaged = [&](std::string_view why) {
    return DataLoss(fmt::format("{} is damaged: {}", file.string(), why));
  };
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("anchor") || !doc.contains("mac") ||
      !doc["anchor"].is_object() || !doc["mac"].is_string()) {
    return damaged("not an anchor document");
  }
  const nlohmann::json& body = doc["anchor"];
  Sha256Digest mac =
      mac_->Compute("ward.integrity.anchor.v1" +
                    body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (doc["mac"].get<std::string>() != ToHex(std::span<const uint8_t>(mac.data(), mac.size()))) {
    return damaged("its MAC does not verify with the agent key");
  }
  BaselineAnchor a;
  a.count = body.value("count", int64_t{0});
  a.aggregate_hex = body.value("aggregate", std::string());
  a.recorded_at_ns = body.value("recorded_at_ns", int64_t{0});
  a.saved_at_ns = body.value("saved_at_ns", int64_t{0});
  a.incident = body.value("incident", std::string());
  a.incident_at_ns = body.value("incident_at_ns", int64_t{0});
  if (body.contains("roots") && body["roots"].is_array()) {
    for (const auto& r : body["roots"]) {
      if (r.is_string()) a.roots.push_back(r.get<std::string>());
    }
  }
  return std::optional<BaselineAnchor>(std::move(a));
}

Sha256Digest BaselineStore::RowMac(const FileRecord& r) {
  std::string buf;
  return ComputeRowMac(*mac_, r, buf);
}

Result<std::vector<Sha256Digest>> BaselineStore::RowMacs(
    const std::vector<const FileRecord*>& rows) {
  std::vector<Sha256Digest> out(rows.size());
  size_t nthreads = std::clamp<size_t>(rows.size() / kRowsPerMacThread, 1,
                                       std::max(1u, std::thread::hardware_concurrency()));
  // One HMAC context per thread; the calling thread uses the store's own.
  std::vector<std::unique_ptr<HmacSha256>> macs;
  for (size_t i = 1; i < nthreads; ++i) {
    WARD_ASSIGN_OR_RETURN(auto m, HmacSha256::Create(key_));
    macs.push_back(std::move(m));
  }
  constexpr size_t kBatch = 512;
  std::atomic<size_t> next{0};
  auto work = [&](HmacSha256& mac) {
    std::string buf;
    for (size_t begin; (begin = next.fetch_add(kBatch)) < rows.size();) {
      size_t end = std::min(rows.size(), begin + kBatch);
      for (size_t i = begin; i < end; ++i) out[i] = ComputeRowMac(mac, *rows[i], buf);
    }
  };
  std::vector<std::thread> pool;
  for (auto& m : macs) pool.emplace_back(work, std::ref(*m));
  work(*mac_);
  for (auto& t : pool) t.join();
  return out;
}

Sha256Digest BaselineStore::SetMac(const Sha256Digest& xor_of_rows, int64_t count,
                                   const std::string& roots_json) {
  std::string buf = "ward.integrity.set.v1";
  AppendField(buf, DigestBytes(xor_of_rows));
  AppendInt(buf, count);
  AppendField(buf, roots_json);
  return mac_->Compute(buf);
}

Result<std::string> BaselineStore::ReadMeta(const std::string& key) {
  WARD_ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT value FROM integrity_meta WHERE key = ?"));
  st.Bind(1, key);
  WARD_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return NotFound(key);
  return st.ColumnBlob(0);
}

Status BaselineStore::WriteMeta(const Sha256Digest& agg, int64_t count,
                                const std::string& roots_json) {
  WARD_ASSIGN_OR_RETURN(
      auto st, db_->Prepare("INSERT OR REPLACE INTO integrity_meta(key, value) VALUES (?, ?)"));
  auto put = [&](std::string_view k, std::string_view v) {
    st.Bind(1, k).BindBlob(2, v);
    return st.Run();
  };
  WARD_RETURN_IF_ERROR(put("aggregate", DigestBytes(agg)));
  WARD_RETURN_IF_ERROR(put("count", std::to_string(count)));
  WARD_RETURN_IF_ERROR(put("roots", roots_json));
  WARD_RETURN_IF_ERROR(put("set_mac", DigestBytes(SetMac(agg, count, roots_json))));
  return Status::Ok();
}

Result<LoadedBaseline> BaselineStore::Load(const std::function<void(FileRecord&&)>& rows) {
  LoadedBaseline out;
  auto set_mac = ReadMeta("set_mac");
  auto agg_stored = ReadMeta("aggregate");
  auto count_stored = ReadMeta("count");
  auto roots_stored = ReadMeta("roots");
  auto at = ReadMeta("recorded_at");
  out.exists = set_mac.has_value();
  if (at) out.recorded_at_ns = std::atoll(at->c_str());
  std::string roots_json = roots_stored ? *roots_stored : "[]";
  try {
    auto j = nlohmann::json::parse(roots_json);
    for (const auto& r : j) out.roots.push_back(r.get<std::string>());
  } catch (const nlohmann::json::exception&) {
    out.set_intact = false;
  }

  WARD_ASSIGN_OR_RETURN(
      auto st,
      db_->Prepare("SELECT path, type, size, mode, uid, gid, mtime_ns, ctime_ns, inode, "
                   "dev, sha256, target, flags, mac FROM integrity_baseline ORDER BY path"));
  Sha256Digest agg{};
  int64_t count = 0;
  std::string buf;
  for (;;) {
    WARD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    FileRecord r;
    r.path = st.ColumnBlob(0);
    r.type = static_cast<FileType>(st.ColumnInt(1));
    r.size = static_cast<uint64_t>(st.ColumnInt(2));
    r.mode = static_cast<uint32_t>(st.ColumnInt(3));
    r.uid = static_cast<uint32_t>(st.ColumnInt(4));
    r.gid = static_cast<uint32_t>(st.ColumnInt(5));
    r.mtime_ns = st.ColumnInt(6);
    r.ctime_ns = st.ColumnInt(7);
    r.inode = static_cast<uint64_t>(st.ColumnInt(8));
    r.dev = static_cast<uint64_t>(st.ColumnInt(9));
    std::string sha = st.ColumnBlob(10);
    if (sha.size() == r.sha256.size()) {
      r.has_sha256 = true;
      std::copy(sha.begin(), sha.end(), r.sha256.begin());
    }
    r.target = st.ColumnBlob(11);
    int64_t flags = st.ColumnInt(12);
    r.hash_unstable = flags & kFlagHashUnstable;
    r.unreadable = flags & kFlagUnreadable;
    std::string mac = st.ColumnBlob(13);
    Sha256Digest expect = ComputeRowMac(*mac_, r, buf);
    ++count;
    XorInto(agg, expect);
    if (mac != DigestView(expect)) {
      out.tampered_rows.push_back(r.path);
      continue;
    }
    if (rows) {
      rows(std::move(r));
    } else {
      out.records.emplace_hint(out.records.end(), std::move(r));  // in order: at the end
    }
  }
  if (out.exists) {
    bool meta_ok = agg_stored && count_stored && *agg_stored == DigestBytes(agg) &&
                   std::atoll(count_stored->c_str()) == count &&
                   *set_mac == DigestBytes(SetMac(agg, count, roots_json));
    if (!meta_ok) out.set_intact = false;
  } else if (count > 0) {
    out.set_intact = false;  // rows without the authenticated summary
  }
  return out;
}

Status BaselineStore::Replace(const std::vector<FileRecord>& records,
                              const std::vector<std::string>& roots, int64_t now_ns) {
  std::vector<const FileRecord*> rows;
  rows.reserve(records.size());
  for (const auto& r : records) rows.push_back(&r);
  if (!std::is_sorted(records.begin(), records.end(), ByPath())) {
    std::sort(rows.begin(), rows.end(),
              [](const FileRecord* a, const FileRecord* b) { return a->path < b->path; });
  }
  return ReplaceRows(rows, roots, now_ns);
}

Status BaselineStore::ReplaceRows(const std::vector<const FileRecord*>& rows,
                                  const std::vector<std::string>& roots, int64_t now_ns) {
  WARD_ASSIGN_OR_RETURN(auto replacement, BeginReplace());
  WARD_RETURN_IF_ERROR(replacement->Add(rows));
  return replacement->Commit(roots, now_ns);
}

Result<std::unique_ptr<BaselineReplacement>> BaselineStore::BeginReplace() {
  std::array<uint8_t, 8> id{};
  WARD_RETURN_IF_ERROR(RandomBytes(id));
  return std::unique_ptr<BaselineReplacement>(
      new BaselineReplacement(*this, std::string(kNextTablePrefix) + ToHex(id)));
}

BaselineReplacement::~BaselineReplacement() {
  if (created_ && !committed_) {
    (void)store_.db_->Exec(fmt::format("DROP TABLE IF EXISTS main.{}", table_));
  }
  // The pages cached for the bulk write are not needed again.
  (void)store_.db_->Exec("PRAGMA shrink_memory");
}

Status BaselineReplacement::Add(const std::vector<const FileRecord*>& rows) {
  WARD_CHECK(!committed_);
  if (rows.empty()) return Status::Ok();
  WARD_ASSIGN_OR_RETURN(std::vector<Sha256Digest> macs, store_.RowMacs(rows));
  SqliteDb& db = *store_.db_;
  // In transactions of bounded size, so that other writers never wait long.
  for (size_t begin = 0; begin < rows.size(); begin += kRowsPerTransaction) {
    const size_t end = std::min(rows.size(), begin + kRowsPerTransaction);
    WARD_ASSIGN_OR_RETURN(auto tx, SqliteTransaction::Begin(db));
    if (!created_) WARD_RETURN_IF_ERROR(CreateTable());
    size_t i = begin;
    if (end - i >= kRowsPerInsert) {
      WARD_ASSIGN_OR_RETURN(auto many, db.Prepare(InsertSql("main", table_, kRowsPerInsert)));
      for (; i + kRowsPerInsert <= end; i += kRowsPerInsert) {
        for (size_t k = 0; k < kRowsPerInsert; ++k) {
          BindRow(many, static_cast<int>(k * kColumns + 1), *rows[i + k], macs[i + k]);
        }
        WARD_RETURN_IF_ERROR(many.Run());
      }
    }
    if (i < end) {
      WARD_ASSIGN_OR_RETURN(auto one, db.Prepare(InsertSql("main", table_)));
      for (; i < end; ++i) WARD_RETURN_IF_ERROR(InsertRow(one, *rows[i], macs[i]));
    }
    WARD_RETURN_IF_ERROR(tx->Commit());
    created_ = true;
    for (size_t k = begin; k < end; ++k) XorInto(agg_, macs[k]);
    count_ += static_cast<int64_t>(end - begin);
  }
  return Status::Ok();
}

Status BaselineReplacement::CreateTable() {
  SqliteDb& db = *store_.db_;
  // Tables left by replacements that crashed, or that run now (which then fail).
  WARD_ASSIGN_OR_RETURN(auto others, db.Prepare("SELECT name FROM main.sqlite_schema WHERE "
                                                "type = 'table' AND name GLOB ?"));
  others.Bind(1, fmt::format("{}*", kNextTablePrefix));
  std::vector<std::string> drop;
  for (;;) {
    WARD_ASSIGN_OR_RETURN(bool row, others.Step());
    if (!row) break;
    drop.push_back(others.ColumnText(0));
  }
  for (const auto& t : drop) {
    if (IsNextTableName(t)) WARD_RETURN_IF_ERROR(db.Exec(fmt::format("DROP TABLE main.{}", t)));
  }
  return db.Exec(fmt::format("CREATE TABLE main.{}{}", table_, kBaselineColumns));
}

Status BaselineReplacement::Commit(const std::vector<std::string>& roots, int64_t now_ns) {
  WARD_CHECK(!committed_);
  SqliteDb& db = *store_.db_;
  WARD_ASSIGN_OR_RETURN(auto tx, SqliteTransaction::Begin(db));
  if (!created_) WARD_RETURN_IF_ERROR(CreateTable());
  // The swap: the rows are written already, so this is short (but for freeing the old pages).
  WARD_RETURN_IF_ERROR(db.Exec(fmt::format(
      "DROP TABLE main.integrity_baseline; ALTER TABLE main.{} RENAME TO integrity_baseline",
      table_)));
  nlohmann::json j = roots;
  WARD_RETURN_IF_ERROR(store_.WriteMeta(agg_, count_, j.dump()));
  WARD_ASSIGN_OR_RETURN(
      auto at, db.Prepare("INSERT OR REPLACE INTO integrity_meta(key, value) VALUES (?, ?)"));
  at.Bind(1, std::string_view("recorded_at")).BindBlob(2, std::to_string(now_ns));
  WARD_RETURN_IF_ERROR(at.Run());
  WARD_RETURN_IF_ERROR(tx->Commit());
  committed_ = true;
  return Status::Ok();
}

Status BaselineStore::Apply(const std::vector<FileRecord>& upserts,
                            const std::vector<std::string>& deletes,
                            const std::vector<std::string>& add_roots) {
  if (upserts.empty() && deletes.empty() && add_roots.empty()) return Status::Ok();
  WARD_ASSIGN_OR_RETURN(auto tx, SqliteTransaction::Begin(*db_));
  auto agg_stored = ReadMeta("aggregate");
  auto count_stored = ReadMeta("count");
  auto roots_stored = ReadMeta("roots");
  Sha256Digest agg{};
  if (agg_stored && agg_stored->size() == agg.size())
    std::copy(agg_stored->begin(), agg_stored->end(), agg.begin());
  int64_t count = count_stored ? std::atoll(count_stored->c_str()) : 0;
  std::vector<std::string> roots;
  try {
    if (roots_stored) roots = nlohmann::json::parse(*roots_stored).get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception&) {
  }
  for (const auto& r : add_roots) {
    if (std::find(roots.begin(), roots.end(), r) == roots.end()) roots.push_back(r);
  }

  WARD_ASSIGN_OR_RETURN(auto get,
                        db_->Prepare("SELECT mac FROM integrity_baseline WHERE path = ?"));
  WARD_ASSIGN_OR_RETURN(auto del, db_->Prepare("DELETE FROM integrity_baseline WHERE path = ?"));
  WARD_ASSIGN_OR_RETURN(
      auto ins, db_->Prepare("INSERT OR REPLACE INTO integrity_baseline(path, type, size, mode, "
                             "uid, gid, mtime_ns, ctime_ns, inode, dev, sha256, target, flags, "
                             "mac) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
  auto remove_old = [&](const std::string& path) -> Result<bool> {
    get.BindBlob(1, path);
    auto row = get.Step();
    if (!row) return row.error();
    bool found = *row;
    if (found) {
      std::string mac = get.ColumnBlob(0);
      Sha256Digest d{};
      if (mac.size() == d.size()) std::copy(mac.begin(), mac.end(), d.begin());
      XorInto(agg, d);
      --count;
    }
    get.Reset();
    return found;
  };
  for (const auto& p : deletes) {
    WARD_ASSIGN_OR_RETURN(bool found, remove_old(p));
    if (!found) continue;
    del.BindBlob(1, p);
    WARD_RETURN_IF_ERROR(del.Run());
  }
  for (const auto& r : upserts) {
    WARD_ASSIGN_OR_RETURN(bool found, remove_old(r.path));
    (void)found;
    Sha256Digest mac = RowMac(r);
    XorInto(agg, mac);
    ++count;
    WARD_RETURN_IF_ERROR(InsertRow(ins, r, mac));
  }
  nlohmann::json j = roots;
  WARD_RETURN_IF_ERROR(WriteMeta(agg, count, j.dump()));
  return tx->Commit();
}

}  // namespace ward::agent::integrity
