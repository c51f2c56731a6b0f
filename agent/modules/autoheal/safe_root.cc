#include "agent/modules/autoheal/safe_root.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <vector>

#include "common/hash.h"

namespace ward::agent::autoheal {
namespace {

std::vector<std::string> Split(const std::string& rel) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= rel.size() && !rel.empty()) {
    size_t slash = rel.find('/', start);
    out.push_back(
        rel.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return out;
}

constexpr int kMaxDepth = 256;

bool BadComponent(std::string_view c) { return c.empty() || c == "." || c == ".."; }

// Every component of rel must be a real name: never "", "." or "..".
Status CheckRelative(const std::string& rel) {
  if (rel.empty()) return InvalidArgument("empty relative path");
  if (rel.find('\0') != std::string::npos) return InvalidArgument("NUL in path");
  for (const auto& c : Split(rel)) {
    if (BadComponent(c)) return InvalidArgument(fmt::format("unsafe path component in {}", rel));
  }
  return Status::Ok();
}

std::string TempName(const std::string& base) {
  uint8_t r[6];
  (void)RandomBytes(r);
  return fmt::format(".{}.ward-heal-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}", base.substr(0, 200),
                     r[0], r[1], r[2], r[3], r[4], r[5]);
}

Status RemoveAt(int dirfd, const std::string& name, int depth = 0) {
  if (BadComponent(name)) return InvalidArgument("refusing to remove . or ..");
  if (depth > kMaxDepth) return FailedPrecondition("directory nesting too deep to remove");
  if (::unlinkat(dirfd, name.c_str(), 0) == 0) return Status::Ok();
  if (errno != EISDIR && errno != EPERM) return ErrnoStatus(errno, fmt::format("unlink {}", name));
  int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, fmt::format("open {}", name));
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    ::close(fd);
    return ErrnoStatus(errno, "fdopendir");
  }
  std::vector<std::string> names;
  while (struct dirent* de = ::readdir(d)) {
    std::string n = de->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  Status st = Status::Ok();
  for (const auto& n : names) {
    Status s = RemoveAt(::dirfd(d), n, depth + 1);
    if (!s.ok() && st.ok()) st = s;
  }
  ::closedir(d);
  WARD_RETURN_IF_ERROR(st);
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0) {
    return ErrnoStatus(errno, fmt::format("rmdir {}", name));
  }
  return Status::Ok();
}

// Copies dirfd/name (file, symlink or directory tree) to the absolute path dest.
Status CopyOut(int dirfd, const std::string& name, const std::string& dest, int depth = 0) {
  if (depth > kMaxDepth) return FailedPrecondition("directory nesting too deep to copy");
  struct stat st {};
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoStatus(errno, fmt::format("stat {}", name));
  }
  if (S_ISLNK(st.st_mode)) {
    std::string target(4096, '\0');
    ssize_t n = ::readlinkat(dirfd, name.c_str(), target.data(), target.size());
    if (n < 0) return ErrnoStatus(errno, "readlink");
    target.resize(static_cast<size_t>(n));
    if (::symlink(target.c_str(), dest.c_str()) != 0) return ErrnoStatus(errno, "symlink");
    return Status::Ok();
  }
  if (S_ISDIR(st.st_mode)) {
    if (::mkdir(dest.c_str(), 0700) != 0) return ErrnoStatus(errno, fmt::format("mkdir {}", dest));
    int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "open dir");
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
      ::close(fd);
      return ErrnoStatus(errno, "fdopendir");
    }
    Status result = Status::Ok();
    while (struct dirent* de = ::readdir(d)) {
      std::string n = de->d_name;
      if (n == "." || n == "..") continue;
      Status s = CopyOut(::dirfd(d), n, dest + "/" + n, depth + 1);
      if (!s.ok() && result.ok()) result = s;
    }
    ::closedir(d);
    return result;
  }
  if (!S_ISREG(st.st_mode)) return Status::Ok();  // devices, FIFOs: nothing to keep
  int in = ::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (in < 0) return ErrnoStatus(errno, fmt::format("open {}", name));
  UniqueFd ig(in);
  int out = ::open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out < 0) return ErrnoStatus(errno, fmt::format("create {}", dest));
  UniqueFd og(out);
  std::vector<char> buf(65536);  // on the heap: this function recurses
  for (;;) {
    ssize_t n = ::read(in, buf.data(), buf.size());
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read");
    }
    if (::write(out, buf.data(), static_cast<size_t>(n)) != n) return ErrnoStatus(errno, "write");
  }
  return Status::Ok();
}

}  // namespace

std::string BaseName(const std::string& rel) {
  auto slash = rel.rfind('/');
  return slash == std::string::npos ? rel : rel.substr(slash + 1);
}

std::string ParentOf(const std::string& rel) {
  auto slash = rel.rfind('/');
  return slash == std::string::npos ? std::string() : rel.substr(0, slash);
}

Result<UniqueFd> SafeRoot::OpenParent(const std::string& rel, bool create) const {
  WARD_RETURN_IF_ERROR(CheckRelative(rel));
  int fd = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && create && errno == ENOENT) {
    // The root itself was deleted: bring it back (its parent is outside our care, but exists).
    if (::mkdir(root_.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, fmt::format("recreate root {}", root_));
    }
    fd = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (fd < 0) return ErrnoStatus(errno, fmt::format("open root {}", root_));
  UniqueFd cur(fd);
  std::vector<std::string> parts = Split(rel);
  if (parts.empty()) return InvalidArgument("empty relative path");
  parts.pop_back();
  for (const auto& p : parts) {
    int next = ::openat(cur.get(), p.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0 && errno == ENOENT && create) {
      struct stat pst {};
      ::fstat(cur.get(), &pst);
      if (::mkdirat(cur.get(), p.c_str(), 0755) != 0 && errno != EEXIST) {
        return ErrnoStatus(errno, fmt::format("mkdir {}", p));
      }
      next = ::openat(cur.get(), p.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (next >= 0) {
        if (::fchown(next, pst.st_uid, pst.st_gid) != 0) {
          // Keeping root ownership is safe; the web server reads it.
        }
        ::fchmod(next, 0755);
      }
    }
    if (next < 0) {
      if (errno == ELOOP || errno == ENOTDIR) {
        return FailedPrecondition(
            fmt::format("{} is not a directory (symlink or file in the way)", p));
      }
      return ErrnoStatus(errno, fmt::format("open {}", p));
    }
    cur = UniqueFd(next);
  }
  return cur;
}

std::optional<struct stat> SafeRoot::Lstat(const std::string& rel) const {
  struct stat st {};
  if (rel.empty()) {
    if (::lstat(root_.c_str(), &st) != 0) return std::nullopt;
    return st;
  }
  auto dir = OpenParent(rel, false);
  if (!dir) return std::nullopt;
  if (::fstatat(dir->get(), BaseName(rel).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return std::nullopt;
  }
  return st;
}

std::optional<std::string> SafeRoot::BlockingAncestor(const std::string& rel) const {
  std::vector<std::string> parts = Split(rel);
  std::string prefix;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    prefix = prefix.empty() ? parts[i] : prefix + "/" + parts[i];
    auto st = Lstat(prefix);
    if (!st) return std::nullopt;
    if (!S_ISDIR(st->st_mode)) return prefix;
  }
  return std::nullopt;
}

std::optional<std::string> SafeRoot::MissingAncestor(const std::string& rel) const {
  std::vector<std::string> parts = Split(rel);
  std::string prefix;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    prefix = prefix.empty() ? parts[i] : prefix + "/" + parts[i];
    if (!Lstat(prefix)) return prefix;
  }
  return std::nullopt;
}

Status SafeRoot::MakeDirs(const std::string& rel) const {
  if (rel.empty()) {
    WARD_ASSIGN_OR_RETURN(auto fd, OpenParent("x", true));
    return Status::Ok();
  }
  WARD_ASSIGN_OR_RETURN(UniqueFd dir, OpenParent(rel + "/x", true));
  (void)dir;
  return Status::Ok();
}

Status SafeRoot::WriteFile(const std::string& rel, std::string_view content, mode_t mode, uid_t uid,
                           gid_t gid, const std::function<void(const std::string&)>& on_temp,
                           uint64_t* inode_out) const {
  WARD_ASSIGN_OR_RETURN(UniqueFd dir, OpenParent(rel, true));
  std::string base = BaseName(rel);
  std::string tmp = TempName(base);
  std::string parent = ParentOf(rel);
  if (on_temp) on_temp(Abs(parent.empty() ? tmp : parent + "/" + tmp));
  int fd =
      ::openat(dir.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, fmt::format("create temp for {}", rel));
  UniqueFd out(fd);
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::unlinkat(dir.get(), tmp.c_str(), 0);
      return ErrnoStatus(err, fmt::format("write {}", rel));
    }
    done += static_cast<size_t>(n);
  }
  if (::fchown(fd, uid, gid) != 0) {
    // Not fatal: root-owned content is still served.
  }
  if (::fchmod(fd, mode) != 0) {
    int err = errno;
    ::unlinkat(dir.get(), tmp.c_str(), 0);
    return ErrnoStatus(err, "fchmod");
  }
  if (inode_out != nullptr) {
    struct stat st {};
    *inode_out = ::fstat(fd, &st) == 0 ? st.st_ino : 0;
  }
  out.Reset();
  // A directory where the file belongs cannot be renamed over: the caller moves it away first.
  if (::renameat(dir.get(), tmp.c_str(), dir.get(), base.c_str()) != 0) {
    int err = errno;
    ::unlinkat(dir.get(), tmp.c_str(), 0);
    return ErrnoStatus(err, fmt::format("rename into place {}", rel));
  }
  return Status::Ok();
}

Status SafeRoot::WriteSymlink(const std::string& rel, const std::string& target,
                              const std::function<void(const std::string&)>& on_temp) const {
  WARD_ASSIGN_OR_RETURN(UniqueFd dir, OpenParent(rel, true));
  std::string base = BaseName(rel);
  std::string tmp = TempName(base);
  std::string parent = ParentOf(rel);
  if (on_temp) on_temp(Abs(parent.empty() ? tmp : parent + "/" + tmp));
  if (::symlinkat(target.c_str(), dir.get(), tmp.c_str()) != 0) {
    return ErrnoStatus(errno, fmt::format("symlink {}", rel));
  }
  if (::renameat(dir.get(), tmp.c_str(), dir.get(), base.c_str()) != 0) {
    int err = errno;
    ::unlinkat(dir.get(), tmp.c_str(), 0);
    return ErrnoStatus(err, fmt::format("rename into place {}", rel));
  }
  return Status::Ok();
}

Status SafeRoot::Chmod(const std::string& rel, mode_t mode) const {
  WARD_ASSIGN_OR_RETURN(UniqueFd dir, OpenParent(rel, false));
  int fd =
      ::openat(dir.get(), BaseName(rel).c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, fmt::format("open {}", rel));
  UniqueFd g(fd);
  // Only a regular file with no other name: a hard link would carry the change outside the root.
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
    return FailedPrecondition(fmt::format("{} is not a singly-linked regular file", rel));
  }
  if (::fchmod(fd, mode) != 0) return ErrnoStatus(errno, fmt::format("chmod {}", rel));
  return Status::Ok();
}

Status SafeRoot::RemoveEmptyDir(const std::string& rel) const {
  WARD_ASSIGN_OR_RETURN(UniqueFd dir, OpenParent(rel, false));
  if (::unlinkat(dir.get(), BaseName(rel).c_str(), AT_REMOVEDIR) != 0) {
    return ErrnoStatus(errno, fmt::format("rmdir {}", rel));
  }
  return Status::Ok();
}

Status SafeRoot::Remove(const std::string& rel) const {
  WARD_ASSIGN_OR_RETURN(UniqueFd dir, OpenParent(rel, false));
  return RemoveAt(dir.get(), BaseName(rel));
}

Status SafeRoot::MoveOut(const std::string& rel, const std::string& dest) const {
  WARD_ASSIGN_OR_RETURN(UniqueFd dir, OpenParent(rel, false));
  std::string base = BaseName(rel);
  if (::renameat(dir.get(), base.c_str(), AT_FDCWD, dest.c_str()) == 0) return Status::Ok();
  if (errno != EXDEV) return ErrnoStatus(errno, fmt::format("move {} to {}", rel, dest));
  WARD_RETURN_IF_ERROR(CopyOut(dir.get(), base, dest));
  return RemoveAt(dir.get(), base);
}

Result<std::string> SafeRoot::ReadFile(const std::string& rel, uint64_t max) const {
  WARD_ASSIGN_OR_RETURN(UniqueFd dir, OpenParent(rel, false));
  int fd =
      ::openat(dir.get(), BaseName(rel).c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, fmt::format("open {}", rel));
  UniqueFd g(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return FailedPrecondition(fmt::format("{} is not a regular file", rel));
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, fmt::format("read {}", rel));
    }
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max)
      return FailedPrecondition(fmt::format("{} is larger than {} bytes", rel, max));
  }
  return out;
}

}  // namespace ward::agent::autoheal
