#include "agent/modules/loginspect/file_source.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/hash.h"

namespace ward::agent::loginspect {
namespace {

constexpr size_t kChunk = 64 * 1024;

std::string HeadHash(std::string_view bytes) {
  auto d = Sha256::Of(bytes);
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

// The first `len` bytes of fd (fewer when the file is shorter).
std::string ReadHead(int fd, uint64_t len) {
  std::string buf(len, '\0');
  size_t got = 0;
  while (got < len) {
    ssize_t n = ::pread(fd, buf.data() + got, len - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  buf.resize(got);
  return buf;
}

std::string BaseName(const std::string& path) { return path.substr(path.rfind('/') + 1); }
std::string DirName(const std::string& path) {
  size_t s = path.rfind('/');
  return s == 0 ? "/" : path.substr(0, s);
}

}  // namespace

bool IsCompressedName(const std::string& name) {
  for (std::string_view ext : {".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip", ".Z", ".tgz"}) {
    if (name.size() > ext.size() && name.compare(name.size() - ext.size(), ext.size(), ext) == 0) {
      return true;
    }
  }
  return false;
}

bool HasCompressedMagic(std::string_view h) {
  auto starts = [&](std::string_view m) { return h.substr(0, m.size()) == m; };
  return starts("\x1f\x8b") || starts("BZh") ||
         starts(std::string_view("\xfd"
                                 "7zXZ\0",
                                 6)) ||
         starts("\x28\xb5\x2f\xfd") || starts("\x04\x22\x4d\x18") || starts("PK\x03\x04");
}

struct FileSource::Reader {
  int fd = -1;
  uint64_t inode = 0;
  uint64_t dev = 0;
  std::string name;  // the path it was opened as
  LineSplitter splitter;
  uint64_t head_len = 0;
  std::string head_hash;

  Reader(int f, const struct stat& st, std::string n, uint64_t max_line, uint64_t offset)
      : fd(f), inode(st.st_ino), dev(st.st_dev), name(std::move(n)), splitter(max_line, offset) {
    UpdateHead(static_cast<uint64_t>(st.st_size));
  }
  ~Reader() {
    if (fd >= 0) ::close(fd);
  }
  void UpdateHead(uint64_t size) {
    uint64_t want = std::min<uint64_t>(size, kHeadBytes);
    if (want <= head_len) return;
    std::string head = ReadHead(fd, want);
    head_len = head.size();
    head_hash = head_len == 0 ? std::string() : HeadHash(head);
  }
  // True when the file's first head_len bytes are still the ones hashed.
  bool HeadStill() const {
    if (head_len == 0) return true;
    std::string head = ReadHead(fd, head_len);
    return head.size() == head_len && HeadHash(head) == head_hash;
  }
  FileBookmark Bookmark(uint64_t offset) const { return {inode, dev, offset, head_len, head_hash}; }
};

struct FileSource::Tail {
  std::string path;
  std::unique_ptr<Reader> cur;
  std::unique_ptr<Reader> drain;  // a rotated-away file or a copy, read to its end first
  std::unique_ptr<MultilineJoiner> joiner;
  bool opened_once = false;
};

FileSource::FileSource(FileSpec spec, uint64_t max_backlog, bool from_end_at_start)
    : spec_(std::move(spec)), max_backlog_(max_backlog), from_end_at_start_(from_end_at_start) {}

FileSource::~FileSource() = default;

void FileSource::Restore(std::map<std::string, FileBookmark> bookmarks) {
  restored_ = std::move(bookmarks);
}

std::vector<std::string> FileSource::TakeNotices() { return std::exchange(notices_, {}); }

std::vector<std::string> FileSource::Paths() const {
  std::vector<std::string> out;
  for (const auto& [p, t] : tails_) out.push_back(p);
  return out;
}

void FileSource::Discover() {
  glob_t g{};
  int rc = ::glob(spec_.path.c_str(), GLOB_NOSORT, nullptr, &g);
  std::vector<std::string> found;
  if (rc == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) found.emplace_back(g.gl_pathv[i]);
  }
  ::globfree(&g);
  std::sort(found.begin(), found.end());
  for (const auto& p : found) {
    if (tails_.count(p) != 0) continue;
    if (IsCompressedName(BaseName(p))) continue;
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    auto t = std::make_unique<Tail>();
    t->path = p;
    if (spec_.format == LogFormat::kMultiline) {
      t->joiner = MultilineJoiner::Create(spec_.multiline_start, spec_.max_line);
    }
    tails_.emplace(p, std::move(t));
  }
}

std::unique_ptr<FileSource::Reader> FileSource::FindSibling(const std::string& path,
                                                            const FileBookmark& want,
                                                            bool match_inode) {
  std::string dir = DirName(path);
  std::string base = BaseName(path);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return nullptr;
  std::unique_ptr<Reader> found;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == base || name.compare(0, base.size(), base) != 0 || IsCompressedName(name)) {
      continue;
    }
    std::string full = dir == "/" ? "/" + name : dir + "/" + name;
    int fd = ::open(full.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<uint64_t>(st.st_size) < want.offset ||
        (match_inode && (st.st_ino != want.inode || st.st_dev != want.dev)) ||
        (!match_inode && st.st_ino == want.inode && st.st_dev == want.dev)) {
      ::close(fd);
      continue;
    }
    std::string head = ReadHead(fd, want.head_len);
    if (head.size() != want.head_len || (want.head_len > 0 && HeadHash(head) != want.head_hash) ||
        HasCompressedMagic(head)) {
      ::close(fd);
      continue;
    }
    found = std::make_unique<Reader>(fd, st, full, spec_.max_line, want.offset);
    break;
  }
  ::closedir(d);
  return found;
}

void FileSource::OpenTail(Tail& t) {
  int fd = ::open(t.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return;
  }
  if (HasCompressedMagic(ReadHead(fd, 8))) {
    ::close(fd);
    return;
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  uint64_t start = 0;
  auto it = restored_.find(t.path);
  if (it != restored_.end()) {
    const FileBookmark& b = it->second;
    std::string head = ReadHead(fd, b.head_len);
    bool head_same =
        head.size() == b.head_len && (b.head_len == 0 || HeadHash(head) == b.head_hash);
    bool same_file = st.st_ino == b.inode && st.st_dev == b.dev;
    if (same_file && size >= b.offset && head_same) {
      start = b.offset;
    } else {
      // Rotated (renamed, or copied and truncated) while the agent was down: finish the old
      // file first, found by its inode or by its first bytes.
      auto sib = FindSibling(t.path, b, !same_file);
      if (sib) {
        notices_.push_back(
            fmt::format("{} was rotated while the agent was stopped; read the "
                        "rest of {} from offset {}",
                        t.path, sib->name, b.offset));
        t.drain = std::move(sib);
        ++(same_file ? counters_.truncations : counters_.rotations);
      } else if (!same_file && head_same && size >= b.offset) {
        start = b.offset;
      } else if (b.offset > 0) {
        notices_.push_back(fmt::format(
            "{}: the bookmarked file (inode {}, offset {}) was not found; reading from the start",
            t.path, b.inode, b.offset));
      }
    }
    restored_.erase(it);
  } else if (!t.opened_once && first_poll_ && from_end_at_start_) {
    start = size;
  }
  // A path that names a file another tail is reading or has read to its end (a glob matching
  // rotated names): start at its end, so nothing is read twice.
  for (const auto& f : finished_) {
    if (f.inode == static_cast<uint64_t>(st.st_ino) && f.dev == static_cast<uint64_t>(st.st_dev)) {
      start = std::max(start, std::min(size, f.offset));
    }
  }
  for (const auto& [p, other] : tails_) {
    for (const Reader* r : {other->cur.get(), other->drain.get()}) {
      if (r != nullptr && other.get() != &t && r->inode == st.st_ino && r->dev == st.st_dev) {
        start = std::max(start, size);
      }
    }
  }
  t.cur = std::make_unique<Reader>(fd, st, t.path, spec_.max_line, start);
  t.opened_once = true;
}

void FileSource::Remember(const Reader& r) {
  finished_.push_back({r.inode, r.dev, r.splitter.offset(), 0, {}});
  if (finished_.size() > 64) finished_.erase(finished_.begin());
}

void FileSource::Emit(Tail& t, std::vector<Line>& lines, std::vector<SourceLine>& out, bool join) {
  std::vector<Line> records;
  std::vector<Line>* src = &lines;
  if (t.joiner && join) {
    for (auto& l : lines) t.joiner->Push(std::move(l), records);
    src = &records;
  }
  for (auto& l : *src) {
    ++counters_.lines;
    counters_.bytes += l.end - l.start;
    if (l.truncated) ++counters_.truncated;
    out.push_back({std::move(l.text), l.truncated, t.path, l.start});
  }
  lines.clear();
}

bool FileSource::ReadFrom(Reader& r, Tail& t, size_t budget, std::vector<SourceLine>& out) {
  std::string buf(kChunk, '\0');
  std::vector<Line> lines;
  while (out.size() < budget) {
    ssize_t n = ::pread(r.fd, buf.data(), buf.size(), static_cast<off_t>(r.splitter.offset()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    r.splitter.Feed(std::string_view(buf.data(), static_cast<size_t>(n)), lines);
    if (r.head_len < kHeadBytes) r.UpdateHead(r.splitter.offset());
    Emit(t, lines, out);
  }
  return true;
}

void FileSource::CheckRotation(Tail& t) {
  Reader& cur = *t.cur;
  struct stat st {};
  bool gone = ::stat(t.path.c_str(), &st) != 0;
  if (gone || st.st_ino != cur.inode || st.st_dev != cur.dev) {
    // Renamed away or deleted: what is left in the old file is read first, then the new one.
    if (t.drain) return;  // one at a time; the next poll comes back here
    ++counters_.rotations;
    t.drain = std::move(t.cur);
    return;
  }
  struct stat fst {};
  if (::fstat(cur.fd, &fst) != 0) return;
  uint64_t size = static_cast<uint64_t>(fst.st_size);
  // Shorter than what was read: truncated. As long or longer: it may have been truncated and
  // written again (even to the same size, within the file system's time granularity), so the
  // first bytes tell (one read of at most kHeadBytes per look).
  if (size >= cur.splitter.offset() && cur.HeadStill()) return;
  // Truncated (copy-truncate), maybe already written again: the copy holds the rest.
  ++counters_.truncations;
  uint64_t from = cur.splitter.consumed();
  if (t.joiner && t.joiner->pending()) from = std::min(from, t.joiner->pending_start());
  FileBookmark b = cur.Bookmark(from);
  if (!t.drain && from > 0) {
    if (auto sib = FindSibling(t.path, b, false)) {
      t.drain = std::move(sib);
      if (t.joiner) {
        // The pending record is read again from the copy.
        std::vector<Line> dropped;
        t.joiner->Flush(dropped);
      }
    } else if (size < from) {
      notices_.push_back(fmt::format(
          "{} was truncated at offset {} and no copy of it was found; reading from the start",
          t.path, from));
    }
  }
  int fd = ::dup(cur.fd);
  if (fd < 0) return;
  t.cur = std::make_unique<Reader>(fd, fst, t.path, spec_.max_line, 0);
}

bool FileSource::ReadTail(Tail& t, size_t budget, std::vector<SourceLine>& out, bool quiet) {
  std::vector<Line> lines;
  if (t.drain) {
    if (ReadFrom(*t.drain, t, budget, out)) return true;
    t.drain->splitter.Finish(lines);
    Emit(t, lines, out);
    if (t.joiner) t.joiner->Flush(lines);
    Emit(t, lines, out, /*join=*/false);
    Remember(*t.drain);
    t.drain.reset();
  }
  if (!t.cur) {
    OpenTail(t);
    if (!t.cur) return t.drain != nullptr;
    if (t.drain) return true;
  }
  // Rotated or truncated since the last look: found before reading, so that no byte of a new
  // or rewritten file is read at an old offset.
  CheckRotation(t);
  if (t.drain || !t.cur) return true;
  if (max_backlog_ > 0) {
    struct stat st {};
    if (::fstat(t.cur->fd, &st) == 0 &&
        static_cast<uint64_t>(st.st_size) > t.cur->splitter.offset() + max_backlog_) {
      uint64_t to = static_cast<uint64_t>(st.st_size) - max_backlog_;
      uint64_t dropped = t.cur->splitter.SkipTo(to);
      counters_.dropped_bytes += dropped;
      notices_.push_back(
          fmt::format("{}: more than max_backlog ({} bytes) was unread; skipped {} bytes", t.path,
                      max_backlog_, dropped));
    }
  }
  if (ReadFrom(*t.cur, t, budget, out)) return true;
  if (quiet && t.joiner && t.joiner->pending()) {
    t.joiner->Flush(lines);
    Emit(t, lines, out, /*join=*/false);
  }
  return false;
}

bool FileSource::Poll(size_t budget, std::vector<SourceLine>& out, bool quiet) {
  Discover();
  bool more = false;
  for (auto it = tails_.begin(); it != tails_.end();) {
    Tail& t = *it->second;
    if (!t.cur && !t.drain) OpenTail(t);
    if (!t.cur && !t.drain) {
      // Gone and fully read: forget it (a file created there later is new, read from 0).
      if (t.opened_once) {
        it = tails_.erase(it);
        continue;
      }
      ++it;
      continue;
    }
    if (out.size() < budget) {
      more = ReadTail(t, budget, out, quiet) || more;
    } else {
      more = true;
    }
    ++it;
  }
  first_poll_ = false;
  return more;
}

std::map<std::string, FileBookmark> FileSource::Bookmarks() const {
  std::map<std::string, FileBookmark> out;
  for (const auto& [path, t] : tails_) {
    const Reader* r = t->drain ? t->drain.get() : t->cur.get();
    if (r == nullptr) continue;
    uint64_t off = r->splitter.consumed();
    if (t->joiner && t->joiner->pending()) off = std::min(off, t->joiner->pending_start());
    out[path] = r->Bookmark(off);
  }
  return out;
}

}  // namespace ward::agent::loginspect
