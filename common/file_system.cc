#include "common/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

namespace ward {

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

std::string_view FileTypeName(FileType t) {
  switch (t) {
    case FileType::kRegular:
      return "file";
    case FileType::kDirectory:
      return "dir";
    case FileType::kSymlink:
      return "symlink";
    case FileType::kFifo:
      return "fifo";
    case FileType::kSocket:
      return "socket";
    case FileType::kCharDevice:
      return "char_device";
    case FileType::kBlockDevice:
      return "block_device";
    case FileType::kUnknown:
      return "unknown";
  }
  return "unknown";
}

FileType FileTypeFromMode(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return FileType::kRegular;
    case S_IFDIR:
      return FileType::kDirectory;
    case S_IFLNK:
      return FileType::kSymlink;
    case S_IFIFO:
      return FileType::kFifo;
    case S_IFSOCK:
      return FileType::kSocket;
    case S_IFCHR:
      return FileType::kCharDevice;
    case S_IFBLK:
      return FileType::kBlockDevice;
    default:
      return FileType::kUnknown;
  }
}

FileStat FileStatFromStat(const struct stat& st) {
  FileStat s;
  s.type = FileTypeFromMode(st.st_mode);
  s.dev = st.st_dev;
  s.inode = st.st_ino;
  s.size = static_cast<uint64_t>(st.st_size);
  s.mode = st.st_mode & 07777;
  s.uid = st.st_uid;
  s.gid = st.st_gid;
  s.nlink = st.st_nlink;
  s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  s.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
  return s;
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  std::string out;
  out.reserve(dir.size() + 1 + name.size());
  out.append(dir);
  if (dir != "/") out.push_back('/');
  out.append(name);
  return out;
}

namespace {

constexpr int kReadFlags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

bool IsPseudoFsType(const struct statfs& sf) {
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

// readlink(2) or readlinkat(2), into a buffer that grows until the target fits.
template <typename ReadFn>
Result<std::string> ReadLinkWith(ReadFn&& read, std::string_view path) {
  std::string buf(256, '\0');
  for (;;) {
    ssize_t n = read(buf.data(), buf.size());
    if (n < 0) return ErrnoStatus(errno, fmt::format("readlink {}", path));
    if (static_cast<size_t>(n) < buf.size()) {
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
    buf.resize(buf.size() * 2);
  }
}

FileType FromDType(unsigned char d) {
  switch (d) {
    case DT_REG:
      return FileType::kRegular;
    case DT_DIR:
      return FileType::kDirectory;
    case DT_LNK:
      return FileType::kSymlink;
    case DT_FIFO:
      return FileType::kFifo;
    case DT_SOCK:
      return FileType::kSocket;
    case DT_CHR:
      return FileType::kCharDevice;
    case DT_BLK:
      return FileType::kBlockDevice;
    default:
      return FileType::kUnknown;
  }
}

class PosixFileSystem final : public FileSystem {
 public:
  Result<FileStat> Lstat(const std::string& path) override {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return ErrnoStatus(errno, fmt::format("lstat {}", path));
    return FileStatFromStat(st);
  }

  Result<std::vector<DirEntry>> ListDir(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, fmt::format("open directory {}", path));
    DIR* dir = ::fdopendir(fd);
    if (dir == nullptr) {
      int err = errno;
      ::close(fd);
      return ErrnoStatus(err, fmt::format("fdopendir {}", path));
    }
    std::vector<DirEntry> out;
    errno = 0;
    while (struct dirent* de = ::readdir(dir)) {
      std::string_view name(de->d_name);
      if (name == "." || name == "..") continue;
      out.push_back({std::string(name), FromDType(de->d_type)});
    }
    int err = errno;
    ::closedir(dir);
    if (err != 0) return ErrnoStatus(err, fmt::format("readdir {}", path));
    return out;
  }

  Result<UniqueFd> OpenForRead(const std::string& path) override {
    int fd = ::open(path.c_str(), kReadFlags | O_NOATIME);
    if (fd < 0 && errno == EPERM) fd = ::open(path.c_str(), kReadFlags);  // O_NOATIME: owner only
    if (fd < 0) return ErrnoStatus(errno, fmt::format("open {}", path));
    return UniqueFd(fd);
  }

  Result<std::string> ReadLink(const std::string& path) override {
    return ReadLinkWith([&](char* buf, size_t size) { return ::readlink(path.c_str(), buf, size); },
                        path);
  }

  Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes) override {
    WARD_ASSIGN_OR_RETURN(UniqueFd fd, OpenForRead(path));
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n == 0) break;
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, fmt::format("read {}", path));
      }
      out.append(buf, static_cast<size_t>(n));
      if (out.size() > max_bytes) {
        return InvalidArgument(fmt::format("{} is larger than {} bytes", path, max_bytes));
      }
    }
    return out;
  }

  Status WriteFileAtomic(const std::string& path, std::string_view data, uint32_t mode) override {
    std::string tmp = fmt::format("{}.ward-tmp-{}", path, ::getpid());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) return ErrnoStatus(errno, fmt::format("create {}", tmp));
    UniqueFd guard(fd);
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd, data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::unlink(tmp.c_str());
        return ErrnoStatus(err, fmt::format("write {}", tmp));
      }
      done += static_cast<size_t>(n);
    }
    if (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      return ErrnoStatus(err, fmt::format("fsync {}", tmp));
    }
    guard.Reset();
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      return ErrnoStatus(err, fmt::format("rename {} to {}", tmp, path));
    }
    return Status::Ok();
  }

  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoStatus(errno, fmt::format("rename {} to {}", from, to));
    }
    return Status::Ok();
  }

  Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) == 0) return Status::Ok();
    if (errno == EISDIR && ::rmdir(path.c_str()) == 0) return Status::Ok();
    return ErrnoStatus(errno, fmt::format("remove {}", path));
  }

  Status CreateDirectories(const std::string& path, uint32_t mode) override {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return ErrnoStatus(ec.value(), fmt::format("create directory {}", path));
    if (::chmod(path.c_str(), mode) != 0) return ErrnoStatus(errno, fmt::format("chmod {}", path));
    return Status::Ok();
  }

  Result<std::unique_ptr<Directory>> OpenDir(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> CreateExclusive(const std::string& path,
                                                        uint32_t mode) override;
};

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  const std::string& path() const override { return path_; }
  Status Append(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::write(fd_.get(), data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, fmt::format("write {}", path_));
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::Ok();
  }
  Status SetOwner(uint32_t uid, uint32_t gid) override {
    if (::fchown(fd_.get(), uid, gid) != 0)
      return ErrnoStatus(errno, fmt::format("chown {}", path_));
    return Status::Ok();
  }
  Status SetMode(uint32_t mode) override {
    if (::fchmod(fd_.get(), mode) != 0) return ErrnoStatus(errno, fmt::format("chmod {}", path_));
    return Status::Ok();
  }
  Status SetMtime(int64_t mtime_ns) override {
    struct timespec times[2];
    times[0].tv_sec = 0;
    times[0].tv_nsec = UTIME_OMIT;
    times[1].tv_sec = mtime_ns / 1'000'000'000;
    times[1].tv_nsec = mtime_ns % 1'000'000'000;
    if (times[1].tv_nsec < 0) times[1].tv_nsec = 0;
    if (::futimens(fd_.get(), times) != 0) {
      return ErrnoStatus(errno, fmt::format("set the time of {}", path_));
    }
    return Status::Ok();
  }
  Status Sync() override {
    if (::fsync(fd_.get()) != 0) return ErrnoStatus(errno, fmt::format("fsync {}", path_));
    return Status::Ok();
  }

 private:
  std::string path_;
  UniqueFd fd_;
};

Result<std::unique_ptr<WritableFile>> PosixFileSystem::CreateExclusive(const std::string& path,
                                                                       uint32_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus(errno, fmt::format("create {}", path));
  return std::unique_ptr<WritableFile>(std::make_unique<PosixWritableFile>(path, UniqueFd(fd)));
}

// A Directory through its descriptor.
class FdDirectory final : public Directory {
 public:
  FdDirectory(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}

  const std::string& path() const override { return path_; }

  Result<FileStat> Stat() override {
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0) return ErrnoStatus(errno, fmt::format("fstat {}", path_));
    return FileStatFromStat(st);
  }

  bool IsPseudoFs() override {
    struct statfs sf {};
    return ::fstatfs(fd_.get(), &sf) == 0 && IsPseudoFsType(sf);
  }

  Result<std::vector<DirEntry>> List() override {
    if (::lseek(fd_.get(), 0, SEEK_SET) != 0) {
      return ErrnoStatus(errno, fmt::format("rewind directory {}", path_));
    }
    std::vector<DirEntry> out;
    alignas(struct dirent64) char buf[32 * 1024];
    for (;;) {
      ssize_t n = ::getdents64(fd_.get(), buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, fmt::format("readdir {}", path_));
      }
      if (n == 0) break;
      for (ssize_t off = 0; off < n;) {
        const auto* de = reinterpret_cast<const struct dirent64*>(buf + off);
        off += de->d_reclen;
        std::string_view name(de->d_name);
        if (name == "." || name == "..") continue;
        out.push_back({std::string(name), FromDType(de->d_type)});
      }
    }
    return out;
  }

  Result<FileStat> StatAt(const std::string& name) override {
    struct stat st {};
    if (::fstatat(fd_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoStatus(errno, fmt::format("lstat {}", JoinPath(path_, name)));
    }
    return FileStatFromStat(st);
  }

  Result<std::string> ReadLinkAt(const std::string& name) override {
    return ReadLinkWith(
        [&](char* buf, size_t size) { return ::readlinkat(fd_.get(), name.c_str(), buf, size); },
        JoinPath(path_, name));
  }

  Result<UniqueFd> OpenForReadAt(const std::string& name) override {
    int fd = ::openat(fd_.get(), name.c_str(), kReadFlags | O_NOATIME);
    if (fd < 0 && errno == EPERM) fd = ::openat(fd_.get(), name.c_str(), kReadFlags);
    if (fd < 0) return ErrnoStatus(errno, fmt::format("open {}", JoinPath(path_, name)));
    return UniqueFd(fd);
  }

  Result<std::unique_ptr<Directory>> OpenDirAt(const std::string& name) override {
    std::string path = JoinPath(path_, name);
    int fd = ::openat(fd_.get(), name.c_str(), kDirFlags);
    if (fd < 0) return ErrnoStatus(errno, fmt::format("open directory {}", path));
    return std::unique_ptr<Directory>(new FdDirectory(UniqueFd(fd), std::move(path)));
  }

 private:
  UniqueFd fd_;
  std::string path_;
};

Result<std::unique_ptr<Directory>> PosixFileSystem::OpenDir(const std::string& path) {
  int fd = ::open(path.c_str(), kDirFlags);
  if (fd < 0) return ErrnoStatus(errno, fmt::format("open directory {}", path));
  return std::unique_ptr<Directory>(new FdDirectory(UniqueFd(fd), path));
}

// The slow path: a Directory through a FileSystem's path-based calls.
class PathDirectory final : public Directory {
 public:
  PathDirectory(FileSystem& fs, std::string path) : fs_(fs), path_(std::move(path)) {}

  const std::string& path() const override { return path_; }
  Result<FileStat> Stat() override { return fs_.Lstat(path_); }
  bool IsPseudoFs() override {
    struct statfs sf {};
    return ::statfs(path_.c_str(), &sf) == 0 && IsPseudoFsType(sf);
  }
  Result<std::vector<DirEntry>> List() override { return fs_.ListDir(path_); }
  Result<FileStat> StatAt(const std::string& name) override {
    return fs_.Lstat(JoinPath(path_, name));
  }
  Result<std::string> ReadLinkAt(const std::string& name) override {
    return fs_.ReadLink(JoinPath(path_, name));
  }
  Result<UniqueFd> OpenForReadAt(const std::string& name) override {
    return fs_.OpenForRead(JoinPath(path_, name));
  }
  Result<std::unique_ptr<Directory>> OpenDirAt(const std::string& name) override {
    return fs_.OpenDir(JoinPath(path_, name));
  }

 private:
  FileSystem& fs_;
  std::string path_;
};

}  // namespace

Result<std::unique_ptr<WritableFile>> FileSystem::CreateExclusive(const std::string& path,
                                                                  uint32_t mode) {
  return RealFileSystem().CreateExclusive(path, mode);
}

Result<std::unique_ptr<Directory>> FileSystem::OpenDir(const std::string& path) {
  WARD_ASSIGN_OR_RETURN(FileStat st, Lstat(path));
  if (st.type != FileType::kDirectory) {
    return ErrnoStatus(st.type == FileType::kSymlink ? ELOOP : ENOTDIR,
                       fmt::format("open directory {}", path));
  }
  return std::unique_ptr<Directory>(new PathDirectory(*this, path));
}

FileSystem& RealFileSystem() {
  static PosixFileSystem fs;
  return fs;
}

}  // namespace ward
