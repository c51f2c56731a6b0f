#include "agent/modules/integrity/scanner.h"

#include <sys/stat.h>
#include <sys/statfs.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>

namespace ward::agent::integrity {
namespace {

constexpr size_t kHashBufferSize = 256 * 1024;
constexpr int kHashAttempts = 3;

std::string Join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

bool IsPseudoFs(const std::string& dir) {
  struct statfs sf {};
  if (::statfs(dir.c_str(), &sf) != 0) return false;
  switch (static_cast<unsigned long>(sf.f_type)) {
    case PROC_SUPER_MAGIC:
    case SYSFS_MAGIC:
    case CGROUP_SUPER_MAGIC:
    case CGROUP2_SUPER_MAGIC:
    case DEBUGFS_MAGIC:
    case TRACEFS_MAGIC:
    case SECURITYFS_MAGIC:
    case BPF_FS_MAGIC:
    case DEVPTS_SUPER_MAGIC:
      return true;
    default:
      return false;
  }
}

FileRecord FromStat(std::string path, const FileStat& st) {
  FileRecord r;
  r.path = std::move(path);
  r.type = st.type;
  r.size = st.type == FileType::kDirectory ? 0 : st.size;
  r.mode = st.mode;
  r.uid = st.uid;
  r.gid = st.gid;
  r.mtime_ns = st.mtime_ns;
  r.ctime_ns = st.ctime_ns;
  r.inode = st.inode;
  r.dev = st.dev;
  return r;
}

}  // namespace

Scanner::Scanner(FileSystem& fs, const PathFilter& filter, int threads)
    : fs_(fs), filter_(filter), threads_(threads) {
  if (threads_ <= 0) threads_ = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

ScanOutput Scanner::ScanAll() {
  ScanOutput out;
  for (const auto& root : filter_.roots()) Walk(root.path, root.recursive ? -1 : 1, out);
  HashAll(out);
  return out;
}

ScanOutput Scanner::ScanPath(const std::string& path, bool subtree) {
  ScanOutput out;
  int depth = 0;
  if (subtree) {
    const WatchedPath* root = filter_.RootOf(path);
    if (root != nullptr) depth = root->recursive ? -1 : (root->path == path ? 1 : 0);
  }
  Walk(path, depth, out);
  if (subtree) {
    // Roots nested below `path` are walked on their own, with their own settings, as in ScanAll.
    for (const auto& r : filter_.roots()) {
      if (r.path != path && IsUnder(r.path, path)) Walk(r.path, r.recursive ? -1 : 1, out);
    }
  }
  HashAll(out);
  return out;
}

void Scanner::Walk(const std::string& start, int depth, ScanOutput& out) {
  const WatchedPath* start_root = filter_.RootOf(start);
  if (start_root == nullptr || filter_.Excluded(*start_root, start)) return;
  auto st = fs_.Lstat(start);
  if (!st) {
    bool is_root = false;
    for (const auto& r : filter_.roots()) is_root = is_root || r.path == start;
    if (is_root || st.error().code() != StatusCode::kNotFound) {
      out.warnings.push_back({start, st.error().message()});
    }
    return;
  }
  out.records.push_back(FromStat(start, *st));
  if (st->type == FileType::kSymlink) {
    auto t = fs_.ReadLink(start);
    if (t) out.records.back().target = std::move(*t);
  }
  if (st->type != FileType::kDirectory) return;
  if (depth == 0) return;

  struct Item {
    std::string dir;
    uint64_t dev;
  };
  std::vector<Item> stack{{start, st->dev}};
  std::set<std::pair<uint64_t, uint64_t>> visited{{st->dev, st->inode}};
  bool first = true;
  while (!stack.empty()) {
    Item item = std::move(stack.back());
    stack.pop_back();
    bool children_only = depth == 1 && first;
    first = false;
    auto entries = fs_.ListDir(item.dir);
    if (!entries) {
      out.warnings.push_back({item.dir, entries.error().message()});
      continue;
    }
    for (auto& e : *entries) {
      std::string path = Join(item.dir, e.name);
      const WatchedPath* root = filter_.RootOf(path);
      if (root == nullptr || filter_.Excluded(*root, path)) continue;
      // A nested root is walked on its own (with its own settings), unless that is where we are.
      if (root->path == path && path != start) continue;
      auto cst = fs_.Lstat(path);
      if (!cst) {
        if (cst.error().code() != StatusCode::kNotFound) {
          out.warnings.push_back({path, cst.error().message()});
        }
        continue;
      }
      FileRecord rec = FromStat(path, *cst);
      if (cst->type == FileType::kSymlink) {
        auto t = fs_.ReadLink(path);
        if (t) rec.target = std::move(*t);
      }
      out.records.push_back(std::move(rec));
      if (cst->type == FileType::kDirectory && !children_only &&
          root->recursive) {
        if (!visited.insert({cst->dev, cst->inode}).second) continue;  // bind-mount loop
        if (cst->dev != item.dev && IsPseudoFs(path)) continue;
        stack.push_back({std::move(path), cst->dev});
      }
    }
  }
}

void Scanner::HashRecord(FileRecord& rec, std::vector<uint8_t>& buf, Sha256& hasher,
                         std::vector<ScanWarning>& warnings) {
  for (int attempt = 0; attempt < kHashAttempts; ++attempt) {
    auto fd = fs_.OpenForRead(rec.path);
    if (!fd) {
      if (fd.error().code() == StatusCode::kNotFound) {
        rec.vanished = true;  // deleted meanwhile: its deletion is reported by the next look
        return;
      }
      rec.unreadable = true;
      warnings.push_back({rec.path, fd.error().message()});
      return;
    }
    struct stat before {};
    if (::fstat(fd->get(), &before) != 0 || !S_ISREG(before.st_mode)) {
      // Replaced by something else since it was listed: record what is there now.
      auto now = fs_.Lstat(rec.path);
      if (!now) {
        rec.vanished = true;
        return;
      }
      std::string path = std::move(rec.path);
      rec = FromStat(std::move(path), *now);
      if (now->type == FileType::kSymlink) {
        if (auto t = fs_.ReadLink(rec.path)) rec.target = std::move(*t);
      }
      if (now->type != FileType::kRegular) return;
      continue;
    }
    FileStat b = FileStatFromStat(before);
    // Take the metadata of what we actually hash.
    rec.size = b.size;
    rec.mode = b.mode;
    rec.uid = b.uid;
    rec.gid = b.gid;
    rec.mtime_ns = b.mtime_ns;
    rec.ctime_ns = b.ctime_ns;
    rec.inode = b.inode;
    rec.dev = b.dev;
    uint64_t n = 0;
    if (b.size > 64 * 1024) ::posix_fadvise(fd->get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    auto digest = Sha256Fd(fd->get(), buf, hasher, &n);
    if (!digest) {
      rec.unreadable = true;
      warnings.push_back({rec.path, digest.error().message()});
      return;
    }
    struct stat after {};
    if (::fstat(fd->get(), &after) != 0) return;
    FileStat a = FileStatFromStat(after);
    rec.sha256 = *digest;
    rec.has_sha256 = true;
    if (a.size == b.size && a.mtime_ns == b.mtime_ns && a.ctime_ns == b.ctime_ns && n == b.size) {
      rec.hash_unstable = false;
      return;
    }
    rec.hash_unstable = true;
  }
}

void Scanner::HashAll(ScanOutput& out) {
  std::sort(out.records.begin(), out.records.end(),
            [](const FileRecord& a, const FileRecord& b) { return a.path < b.path; });
  out.records.erase(std::unique(out.records.begin(), out.records.end(),
                                [](const FileRecord& a, const FileRecord& b) {
                                  return a.path == b.path;
                                }),
                    out.records.end());
  std::vector<size_t> work;
  for (size_t i = 0; i < out.records.size(); ++i) {
    const FileRecord& r = out.records[i];
    if (r.type != FileType::kRegular) continue;
    const WatchedPath* root = filter_.RootOf(r.path);
    if (root == nullptr || !(root->attributes & kAttrSha256)) continue;
    work.push_back(i);
  }
  // Biggest first, so one large file does not finish last on a single thread.
  std::sort(work.begin(), work.end(), [&](size_t a, size_t b) {
    return out.records[a].size > out.records[b].size;
  });
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> bytes{0};
  std::mutex warn_mu;
  auto worker = [&] {
    std::vector<uint8_t> buf(kHashBufferSize);
    Sha256 hasher;
    std::vector<ScanWarning> warnings;
    uint64_t local_bytes = 0;
    for (size_t k; (k = next.fetch_add(1)) < work.size();) {
      FileRecord& r = out.records[work[k]];
      HashRecord(r, buf, hasher, warnings);
      if (r.has_sha256) local_bytes += r.size;
    }
    bytes += local_bytes;
    std::lock_guard lock(warn_mu);
    for (auto& w : warnings) out.warnings.push_back(std::move(w));
  };
  size_t nthreads = std::min<size_t>(static_cast<size_t>(threads_), std::max<size_t>(1, work.size() / 16));
  if (nthreads <= 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    for (size_t i = 0; i < nthreads; ++i) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
  }
  out.bytes_hashed = bytes;
  std::erase_if(out.records, [](const FileRecord& r) { return r.vanished; });
}

}  // namespace ward::agent::integrity
