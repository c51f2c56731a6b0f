// FileSystem: the seam through which modules touch files, so that tests can inject faults
// (see testing/faulty_file_system.h). Paths are byte strings: Linux file names need not be UTF-8.
// Directory: an open directory, for looking at many entries relative to it.
// Thread-safety: RealFileSystem is stateless and safe from any thread; fakes say their own.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ward {

// Owns a file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.Release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = o.Release();
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

enum class FileType : uint8_t {
  kRegular,
  kDirectory,
  kSymlink,
  kFifo,
  kSocket,
  kCharDevice,
  kBlockDevice,
  kUnknown
};
std::string_view FileTypeName(FileType t);
FileType FileTypeFromMode(mode_t mode);

struct FileStat {
  FileType type = FileType::kUnknown;
  uint64_t dev = 0;
  uint64_t inode = 0;
  uint64_t size = 0;
  uint32_t mode = 0;  // permission bits incl. setuid/setgid/sticky (mode & 07777)
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t nlink = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
};
FileStat FileStatFromStat(const struct stat& st);

struct DirEntry {
  std::string name;
  FileType type = FileType::kUnknown;  // from d_type; kUnknown when the file system does not say
};

// "dir/name" ("/name" when dir is "/").
std::string JoinPath(std::string_view dir, std::string_view name);

// An open directory whose entries are looked at relative to it (fstatat(2), openat(2), ...):
// no lookup of the full path on every call, and a parent renamed or swapped for a symlink
// meanwhile cannot send the calls elsewhere. `name` is one path component. Errors name the full
// path, JoinPath(path(), name).
// Thread-safety: List() one caller at a time; the other calls may run concurrently with each
// other and with List(), as long as the object outlives them.
class Directory {
 public:
  virtual ~Directory() = default;
  // The path it was opened as.
  virtual const std::string& path() const = 0;
  // Metadata of the directory itself (fstat(2)): which directory was really opened.
  virtual Result<FileStat> Stat() = 0;
  // True when it is on a kernel pseudo file system (proc, sysfs, cgroup, debugfs, tracefs,
  // securityfs, bpf, devpts); false also when that cannot be told.
  virtual bool IsPseudoFs() = 0;
  // Its entries but "." and "..", in no particular order.
  virtual Result<std::vector<DirEntry>> List() = 0;
  // As FileSystem::Lstat, ReadLink and OpenForRead, for the entry `name`.
  virtual Result<FileStat> StatAt(const std::string& name) = 0;
  virtual Result<std::string> ReadLinkAt(const std::string& name) = 0;
  virtual Result<UniqueFd> OpenForReadAt(const std::string& name) = 0;
  // Opens the subdirectory `name`; fails when it is a symlink (never followed) or no directory.
  virtual Result<std::unique_ptr<Directory>> OpenDirAt(const std::string& name) = 0;
};

// A new file being written (FileSystem::CreateExclusive), for contents too large to hold in
// memory. Nothing is durable before Sync(). Destroying it closes the file and leaves it on disk as
// it is: the caller removes what it does not want. Thread-safety: one caller at a time.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual const std::string& path() const = 0;
  virtual Status Append(std::string_view data) = 0;
  // Owner and group (fchown), permission bits (fchmod), modification time (futimens).
  virtual Status SetOwner(uint32_t uid, uint32_t gid) = 0;
  virtual Status SetMode(uint32_t mode) = 0;
  virtual Status SetMtime(int64_t mtime_ns) = 0;
  // fsync(2).
  virtual Status Sync() = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  // lstat(2): never follows a final symlink.
  virtual Result<FileStat> Lstat(const std::string& path) = 0;
  virtual Result<std::vector<DirEntry>> ListDir(const std::string& path) = 0;
  // Opens a file for reading without following a final symlink, without blocking on FIFOs and,
  // where permitted, without updating its access time.
  virtual Result<UniqueFd> OpenForRead(const std::string& path) = 0;
  virtual Result<std::string> ReadLink(const std::string& path) = 0;
  virtual Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes) = 0;
  // Writes to a temp file beside `path`, fsyncs, and renames it over `path`.
  virtual Status WriteFileAtomic(const std::string& path, std::string_view data, uint32_t mode) = 0;
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  virtual Status Remove(const std::string& path) = 0;
  virtual Status CreateDirectories(const std::string& path, uint32_t mode) = 0;
  // Creates `path` for writing; fails with kAlreadyExists when something (even a dangling
  // symlink) is there. The default is the real file system's, for fakes that only read.
  virtual Result<std::unique_ptr<WritableFile>> CreateExclusive(const std::string& path,
                                                                uint32_t mode);
  // Opens the directory `path`, not following a final symlink. The real file system returns one
  // that works through a directory descriptor. This default is the slow path for fakes: a
  // Directory that goes through this object's path-based calls (Lstat, ListDir, OpenForRead,
  // ReadLink) with the full path each time, so faults injected there apply to it too.
  virtual Result<std::unique_ptr<Directory>> OpenDir(const std::string& path);
};

// The process-wide real file system.
FileSystem& RealFileSystem();

}  // namespace ward
