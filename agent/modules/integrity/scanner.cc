#include "agent/modules/integrity/scanner.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <thread>

namespace ward::agent::integrity {
namespace {

constexpr size_t kHashBufferSize = 256 * 1024;
constexpr int kHashAttempts = 3;
// Regular files above this size are hashed after the walk, largest first, so that none of them
// is started last and finished long after everything else.
constexpr uint64_t kLargeFile = 8ull << 20;
constexpr uint64_t kNoLimit = std::numeric_limits<uint64_t>::max();
// A directory with more entries than this is shared out between the workers in slices.
constexpr size_t kSliceEntries = 512;
// Queued directories hold an open descriptor up to this many; beyond it they are opened by path
// when their turn comes, so that a wide tree cannot exhaust the descriptor limit.
constexpr int kMaxQueuedDirFds = 64;

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

// Resets `rec` to what `st` says, keeping its path.
void Restat(FileRecord& rec, const FileStat& st) {
  std::string path = std::move(rec.path);
  rec = FromStat(std::move(path), st);
}

struct HashScratch {
  std::vector<uint8_t> buf = std::vector<uint8_t>(kHashBufferSize);
  Sha256 hasher;
};

// Hashes `fd` from its start to its end. A short read that stops at `expected` bytes is taken as
// the end of the file, which is what it means for a regular file, without a read to confirm it;
// a file that changes meanwhile is caught by the caller's second fstat.
Result<Sha256Digest> HashFd(int fd, const std::string& path, uint64_t expected, HashScratch& s,
                            uint64_t& total) {
  s.hasher.Reset();
  total = 0;
  for (;;) {
    ssize_t n = ::read(fd, s.buf.data(), s.buf.size());
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, fmt::format("read {}", path));
    }
    s.hasher.Update(s.buf.data(), static_cast<size_t>(n));
    total += static_cast<uint64_t>(n);
    if (static_cast<size_t>(n) < s.buf.size() && total == expected) break;
  }
  return s.hasher.Finish();
}

// How a hash attempt reaches its file: relative to an open directory (the walk) or by full path
// (large files, hashed after the walk, and a start that is a file).
struct InDirectory {
  Directory& dir;
  const std::string& name;
  Result<UniqueFd> Open() { return dir.OpenForReadAt(name); }
  Result<FileStat> Lstat() { return dir.StatAt(name); }
  Result<std::string> ReadLink() { return dir.ReadLinkAt(name); }
};

struct ByFullPath {
  FileSystem& fs;
  std::string path;
  Result<UniqueFd> Open() { return fs.OpenForRead(path); }
  Result<FileStat> Lstat() { return fs.Lstat(path); }
  Result<std::string> ReadLink() { return fs.ReadLink(path); }
};

enum class Hashed {
  kDone,   // the record is complete (hashed, unreadable, or no longer a regular file)
  kLarge,  // larger than the limit: metadata taken, content left for later
  kGone,   // vanished: drop the record
};

// Opens the regular file `rec` names and hashes it, taking the metadata of what was actually
// hashed (so `rec` may arrive with its path only). An open that fails is followed by a fresh
// look: gone, replaced by something else (recorded as what it is now), or unreadable (recorded
// with a warning). A file that changes while it is hashed is hashed again, up to 3 times.
template <typename Access>
Hashed HashFile(Access&& at, FileRecord& rec, uint64_t limit, HashScratch& s,
                std::vector<ScanWarning>& warnings) {
  for (int attempt = 0; attempt < kHashAttempts; ++attempt) {
    auto fd = at.Open();
    bool regular = false;
    struct stat before {};
    if (fd) regular = ::fstat(fd->get(), &before) == 0 && S_ISREG(before.st_mode);
    if (!regular) {
      if (!fd && fd.error().code() == StatusCode::kNotFound) return Hashed::kGone;
      auto now = at.Lstat();
      if (!now) return Hashed::kGone;
      Restat(rec, *now);
      if (now->type == FileType::kSymlink) {
        if (auto t = at.ReadLink()) rec.target = std::move(*t);
      }
      if (now->type != FileType::kRegular) return Hashed::kDone;  // replaced since it was listed
      if (!fd) {
        rec.unreadable = true;
        warnings.push_back({rec.path, fd.error().message()});
        return Hashed::kDone;
      }
      continue;
    }
    FileStat b = FileStatFromStat(before);
    Restat(rec, b);
    if (b.size > limit) return Hashed::kLarge;
    if (b.size > 64 * 1024) ::posix_fadvise(fd->get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    uint64_t n = 0;
    auto digest = HashFd(fd->get(), rec.path, b.size, s, n);
    if (!digest) {
      rec.unreadable = true;
      warnings.push_back({rec.path, digest.error().message()});
      return Hashed::kDone;
    }
    struct stat after {};
    if (::fstat(fd->get(), &after) != 0) return Hashed::kDone;
    FileStat a = FileStatFromStat(after);
    rec.sha256 = *digest;
    rec.has_sha256 = true;
    rec.hash_unstable =
        !(a.size == b.size && a.mtime_ns == b.mtime_ns && a.ctime_ns == b.ctime_ns && n == b.size);
    if (!rec.hash_unstable) return Hashed::kDone;
  }
  return Hashed::kDone;
}

// A directory being walked and the directories above it, by (dev, inode): a directory met again
// below itself (through a bind mount) is not entered a second time.
struct Lineage {
  uint64_t dev = 0;
  uint64_t inode = 0;
  std::shared_ptr<const Lineage> parent;
};

bool InLineage(const Lineage* l, const FileStat& st) {
  for (; l != nullptr; l = l->parent.get()) {
    if (l->dev == st.dev && l->inode == st.inode) return true;
  }
  return false;
}

// One directory of the walk.
struct DirJob {
  std::string path;
  std::unique_ptr<Directory> dir;          // null until opened
  std::shared_ptr<const Lineage> parent;   // null where a walk starts
  std::shared_ptr<const Lineage> lineage;  // its own, once entered
  bool descend = true;                     // its subdirectories are walked too
  std::vector<DirEntry> entries;           // once listed; read-only from then on
};

// A directory to open and list, or a slice of the entries of one listed already.
struct Task {
  std::shared_ptr<DirJob> job;
  bool listed = false;
  size_t begin = 0;
  size_t end = 0;
};

// A few records found by one worker, handed over together.
struct Batch {
  static constexpr size_t kSize = 256;
  std::vector<FileRecord> records;
  std::vector<bool> large;  // per record: its hash is to come
};

// What the workers found. The records go into one deque, which grows without moving them and
// becomes the output as it is: nothing is held twice.
struct Found {
  std::mutex mu;
  std::deque<FileRecord> records;  // guarded by mu
  std::vector<size_t> large;       // guarded by mu; indexes of records whose hash is to come

  void Take(Batch& batch) {
    std::lock_guard lock(mu);
    for (size_t i = 0; i < batch.records.size(); ++i) {
      if (batch.large[i]) large.push_back(records.size());
      records.push_back(std::move(batch.records[i]));
    }
    batch.records.clear();
    batch.large.clear();
  }
};

// What one worker keeps to itself until the end.
struct WorkerOut {
  Batch batch;
  std::vector<ScanWarning> warnings;
  uint64_t bytes_hashed = 0;
};

// The walk shared by the worker threads: a stack of tasks (depth first, so that few directories
// are open at once) and a count of the workers busy with one, so that all know when it is over.
class Walk {
 public:
  Walk(FileSystem& fs, const WatchedRoots& filter, Found& found)
      : fs_(fs), filter_(filter), found_(found) {}

  // Records `start` itself and queues it when it is a directory to look into. Before Run().
  void AddStart(const std::string& start, int depth, WorkerOut& out);
  bool HasWork() const { return !stack_.empty(); }
  // Works until every queued directory is done; called by each worker thread.
  void Run(WorkerOut& out);

 private:
  void Process(Task& task, WorkerOut& out, HashScratch& scratch);
  void Visit(DirJob& job, const DirEntry& entry, WorkerOut& out, HashScratch& scratch);
  void QueueSubdir(DirJob& parent, const std::string& name, const std::string& path,
                   const FileStat& st, WorkerOut& out);
  void Add(FileRecord rec, bool large, WorkerOut& out);
  // Decides whether the directory just opened is walked: not a loop, not a pseudo file system.
  bool Enter(DirJob& job, WorkerOut& out);
  void Push(std::vector<Task> tasks);

  FileSystem& fs_;
  const WatchedRoots& filter_;
  Found& found_;
  std::atomic<int> queued_fds_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Task> stack_;  // guarded by mu_
  int busy_ = 0;             // guarded by mu_
};

void Walk::AddStart(const std::string& start, int depth, WorkerOut& out) {
  const WatchedPath* root = filter_.RootOf(start);
  if (root == nullptr || filter_.Excluded(*root, start)) return;
  auto st = fs_.Lstat(start);
  if (!st) {
    bool is_root = false;
    for (const auto& r : filter_.roots()) is_root = is_root || r.path == start;
    if (is_root || st.error().code() != StatusCode::kNotFound) {
      out.warnings.push_back({start, st.error().message()});
    }
    return;
  }
  FileRecord rec = FromStat(start, *st);
  if (st->type == FileType::kSymlink) {
    if (auto t = fs_.ReadLink(start)) rec.target = std::move(*t);
  }
  // A file is hashed by path, with the large files.
  Add(std::move(rec), st->type == FileType::kRegular && (root->attributes & kAttrSha256), out);
  found_.Take(out.batch);
  if (st->type != FileType::kDirectory || depth == 0) return;
  auto job = std::make_shared<DirJob>();
  job->path = start;
  job->descend = depth != 1;
  stack_.push_back({std::move(job)});
}

void Walk::Run(WorkerOut& out) {
  HashScratch scratch;
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return !stack_.empty() || busy_ == 0; });
    if (stack_.empty()) break;  // and nobody busy: nothing more can come
    Task task = std::move(stack_.back());
    stack_.pop_back();
    ++busy_;
    lock.unlock();
    Process(task, out, scratch);
    task = {};  // the last reference closes the directory, outside the lock
    lock.lock();
    if (--busy_ == 0 && stack_.empty()) cv_.notify_all();
  }
  lock.unlock();
  found_.Take(out.batch);
}

void Walk::Push(std::vector<Task> tasks) {
  {
    std::lock_guard lock(mu_);
    for (auto& t : tasks) stack_.push_back(std::move(t));
  }
  if (tasks.size() == 1) {
    cv_.notify_one();
  } else {
    cv_.notify_all();
  }
}

bool Walk::Enter(DirJob& job, WorkerOut& out) {
  auto st = job.dir->Stat();
  if (!st) {
    out.warnings.push_back({job.path, st.error().message()});
    return false;
  }
  if (InLineage(job.parent.get(), *st)) return false;
  if (job.parent != nullptr && st->dev != job.parent->dev && job.dir->IsPseudoFs()) return false;
  job.lineage = std::make_shared<const Lineage>(Lineage{st->dev, st->inode, job.parent});
  return true;
}

void Walk::Process(Task& task, WorkerOut& out, HashScratch& scratch) {
  DirJob& job = *task.job;
  if (!task.listed) {
    if (job.dir != nullptr) {
      --queued_fds_;
    } else {
      auto dir = fs_.OpenDir(job.path);
      if (!dir) {
        out.warnings.push_back({job.path, dir.error().message()});
        return;
      }
      job.dir = std::move(*dir);
      if (!Enter(job, out)) return;
    }
    auto entries = job.dir->List();
    if (!entries) {
      out.warnings.push_back({job.path, entries.error().message()});
      return;
    }
    job.entries = std::move(*entries);
    // A directory changing while it is read may list a name twice: each is looked at once.
    std::sort(job.entries.begin(), job.entries.end(),
              [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
    job.entries.erase(
        std::unique(job.entries.begin(), job.entries.end(),
                    [](const DirEntry& a, const DirEntry& b) { return a.name == b.name; }),
        job.entries.end());
    task.begin = 0;
    task.end = std::min(job.entries.size(), kSliceEntries);
    if (job.entries.size() > kSliceEntries) {
      std::vector<Task> slices;
      for (size_t b = kSliceEntries; b < job.entries.size(); b += kSliceEntries) {
        slices.push_back({task.job, true, b, std::min(job.entries.size(), b + kSliceEntries)});
      }
      Push(std::move(slices));
    }
  }
  for (size_t i = task.begin; i < task.end; ++i) Visit(job, job.entries[i], out, scratch);
}

void Walk::Visit(DirJob& job, const DirEntry& entry, WorkerOut& out, HashScratch& scratch) {
  const std::string& name = entry.name;
  FileRecord rec;
  rec.path = JoinPath(job.path, name);
  const WatchedPath* root = filter_.RootOf(rec.path);
  if (root == nullptr || filter_.Excluded(*root, rec.path)) return;
  if (root->path == rec.path) return;  // a nested root is walked on its own, with its settings
  const bool hash = root->attributes & kAttrSha256;
  Hashed h = Hashed::kDone;
  if (hash && entry.type == FileType::kRegular) {
    // Listed as a regular file: opened straight away, its descriptor gives the metadata.
    h = HashFile(InDirectory{*job.dir, name}, rec, kLargeFile, scratch, out.warnings);
  } else {
    auto st = job.dir->StatAt(name);
    if (!st) {
      if (st.error().code() != StatusCode::kNotFound) {
        out.warnings.push_back({rec.path, st.error().message()});
      }
      return;
    }
    Restat(rec, *st);
    if (st->type == FileType::kSymlink) {
      if (auto t = job.dir->ReadLinkAt(name)) rec.target = std::move(*t);
    } else if (st->type == FileType::kRegular && hash) {
      h = HashFile(InDirectory{*job.dir, name}, rec, kLargeFile, scratch, out.warnings);
    } else if (st->type == FileType::kDirectory && job.descend && root->recursive) {
      QueueSubdir(job, name, rec.path, *st, out);
    }
  }
  if (h == Hashed::kGone) return;
  if (rec.has_sha256) out.bytes_hashed += rec.size;
  Add(std::move(rec), h == Hashed::kLarge, out);
}

void Walk::Add(FileRecord rec, bool large, WorkerOut& out) {
  out.batch.records.push_back(std::move(rec));
  out.batch.large.push_back(large);
  if (out.batch.records.size() == Batch::kSize) found_.Take(out.batch);
}

void Walk::QueueSubdir(DirJob& parent, const std::string& name, const std::string& path,
                       const FileStat& st, WorkerOut& out) {
  if (InLineage(parent.lineage.get(), st)) return;  // a bind-mount loop: not entered again
  auto job = std::make_shared<DirJob>();
  job->path = path;
  job->parent = parent.lineage;
  // Opened relative to its parent now, unless too many are open already (then by path later);
  // always when it crosses a mount, to tell a pseudo file system before it is queued.
  if (st.dev != parent.lineage->dev || queued_fds_ < kMaxQueuedDirFds) {
    auto dir = parent.dir->OpenDirAt(name);
    if (!dir) {
      out.warnings.push_back({path, dir.error().message()});
      return;
    }
    job->dir = std::move(*dir);
    if (!Enter(*job, out)) return;
    ++queued_fds_;
  }
  std::vector<Task> one;
  one.push_back({std::move(job)});
  Push(std::move(one));
}

// Rearranges `records` into `order` (indexes into it, each at most once), dropping the others.
void Reorder(std::deque<FileRecord>& records, std::vector<size_t> order) {
  const size_t keep = order.size();
  if (keep < records.size()) {
    std::vector<bool> kept(records.size());
    for (size_t i : order) kept[i] = true;
    for (size_t i = 0; i < records.size(); ++i) {
      if (!kept[i]) order.push_back(i);
    }
  }
  // Follow each cycle of the permutation: position j takes the record at order[j].
  for (size_t i = 0; i < order.size(); ++i) {
    if (order[i] == i) continue;
    FileRecord held = std::move(records[i]);
    size_t j = i;
    for (;;) {
      size_t from = order[j];
      order[j] = j;
      if (from == i) {
        records[j] = std::move(held);
        break;
      }
      records[j] = std::move(records[from]);
      j = from;
    }
  }
  records.resize(keep);
}

}  // namespace

Scanner::Scanner(FileSystem& fs, const WatchedRoots& filter, int threads)
    : fs_(fs), filter_(filter), threads_(threads) {
  if (threads_ <= 0) threads_ = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

ScanOutput Scanner::ScanAll(const SettledFn& settled) {
  std::vector<Start> starts;
  for (const auto& root : filter_.roots()) starts.push_back({root.path, root.recursive ? -1 : 1});
  return Scan(starts, settled);
}

ScanOutput Scanner::ScanPath(const std::string& path, bool subtree) {
  int depth = 0;
  if (subtree) {
    const WatchedPath* root = filter_.RootOf(path);
    if (root != nullptr) depth = root->recursive ? -1 : (root->path == path ? 1 : 0);
  }
  std::vector<Start> starts{{path, depth}};
  if (subtree) {
    // Roots nested below `path` are walked on their own, with their own settings, as in ScanAll.
    for (const auto& r : filter_.roots()) {
      if (r.path != path && watch::IsUnder(r.path, path))
        starts.push_back({r.path, r.recursive ? -1 : 1});
    }
  }
  return Scan(starts, {});
}

ScanOutput Scanner::Scan(const std::vector<Start>& starts, const SettledFn& settled) {
  // Each path is met by the walk of its most specific root only, so the records are unique as
  // long as no start is given twice.
  std::vector<const Start*> unique_starts;
  for (const auto& s : starts) {
    bool seen = false;
    for (const Start* u : unique_starts) seen = seen || u->path == s.path;
    if (!seen) unique_starts.push_back(&s);
  }

  // First pass: the walk, hashing all but the large files on the way.
  Found found;
  std::vector<WorkerOut> outs(static_cast<size_t>(threads_));
  {
    Walk walk(fs_, filter_, found);
    for (const Start* s : unique_starts) walk.AddStart(s->path, s->depth, outs[0]);
    if (walk.HasWork()) {
      std::vector<std::thread> pool;
      for (size_t i = 1; i < outs.size(); ++i) {
        pool.emplace_back([&walk, &out = outs[i]] { walk.Run(out); });
      }
      walk.Run(outs[0]);
      for (auto& t : pool) t.join();
    }
  }
  std::deque<FileRecord>& records = found.records;

  // Second pass: the large files, largest first, each on whichever thread is free.
  std::vector<size_t>& large = found.large;
  std::sort(large.begin(), large.end(),
            [&](size_t a, size_t b) { return records[a].size > records[b].size; });
  std::atomic<size_t> next{0};
  auto hash_large = [&](WorkerOut& out) {
    HashScratch scratch;
    for (size_t k; (k = next.fetch_add(1)) < large.size();) {
      FileRecord& r = records[large[k]];
      if (HashFile(ByFullPath{fs_, r.path}, r, kNoLimit, scratch, out.warnings) == Hashed::kGone) {
        r.vanished = true;
      } else if (r.has_sha256) {
        out.bytes_hashed += r.size;
      }
    }
  };
  const size_t nthreads = std::min(static_cast<size_t>(threads_), large.size());
  // The calling thread hashes too, unless it has work of its own meanwhile: putting a large scan
  // in order, and handing settled records over.
  const bool caller_hashes = !settled && records.size() <= kSliceEntries;
  std::vector<std::thread> pool;
  for (size_t i = caller_hashes ? 1 : 0; i < nthreads; ++i) {
    pool.emplace_back(hash_large, std::ref(outs[i]));
  }
  if (caller_hashes && nthreads > 0) hash_large(outs[0]);

  // Meanwhile the rest is put in path order: an order of indexes is sorted, then applied, so that
  // each record moves once. The large files are not touched until they are done.
  auto by_path = [&](size_t a, size_t b) { return records[a].path < records[b].path; };
  std::vector<char> is_large(records.size());
  for (size_t i : large) is_large[i] = 1;
  std::vector<size_t> order;
  order.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    if (!is_large[i]) order.push_back(i);
  }
  std::sort(order.begin(), order.end(), by_path);
  auto pointers = [&](const std::vector<size_t>& indexes) {
    std::vector<const FileRecord*> out;
    out.reserve(indexes.size());
    for (size_t i : indexes) out.push_back(&records[i]);
    return out;
  };
  if (settled) settled(pointers(order));
  for (auto& t : pool) t.join();

  std::vector<size_t> done;
  for (size_t i : large) {
    if (!records[i].vanished) done.push_back(i);
  }
  std::sort(done.begin(), done.end(), by_path);
  ScanOutput out;
  if (settled) {
    if (!done.empty()) settled(pointers(done));
  } else {
    std::vector<size_t> all;
    all.reserve(order.size() + done.size());
    std::merge(order.begin(), order.end(), done.begin(), done.end(), std::back_inserter(all),
               by_path);
    std::vector<size_t>().swap(order);
    Reorder(records, std::move(all));
    out.records = std::move(records);
  }
  for (auto& o : outs) {
    for (auto& w : o.warnings) out.warnings.push_back(std::move(w));
    out.bytes_hashed += o.bytes_hashed;
  }
  std::stable_sort(out.warnings.begin(), out.warnings.end(),
                   [](const ScanWarning& a, const ScanWarning& b) { return a.path < b.path; });
  return out;
}

}  // namespace ward::agent::integrity
