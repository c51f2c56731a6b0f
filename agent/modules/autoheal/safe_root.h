// SafeRoot: file operations confined beneath one directory.
//
// Every operation walks from the root one component at a time with openat(O_NOFOLLOW), so no
// symlink — planted by an attacker or named by a crafted repository — can lead a write outside
// the root. Writes are atomic (a temp file in the same directory, then renameat over the target),
// so a web server never serves half a file. Relative paths must pass GitSource::SafeRelativePath.
// Thread-safety: stateless apart from the root path; safe from any thread.
#pragma once

#include <sys/stat.h>

#include <functional>
#include <optional>
#include <string>

#include "common/file_system.h"
#include "common/status.h"

namespace ward::agent::autoheal {

class SafeRoot {
 public:
  explicit SafeRoot(std::string root) : root_(std::move(root)) {}
  const std::string& root() const { return root_; }
  std::string Abs(const std::string& rel) const { return rel.empty() ? root_ : root_ + "/" + rel; }

  // lstat of rel; nullopt when it does not exist (or a parent is not a real directory).
  std::optional<struct stat> Lstat(const std::string& rel) const;

  // The first component of rel's parent chain that exists but is not a real directory (a file
  // or symlink where a directory should be), or nullopt.
  std::optional<std::string> BlockingAncestor(const std::string& rel) const;
  // The shortest ancestor of rel (not rel itself) that does not exist, or nullopt.
  std::optional<std::string> MissingAncestor(const std::string& rel) const;

  // Creates the directory rel and any missing parents (0755, owned like their parent).
  Status MakeDirs(const std::string& rel) const;
  // Writes content to rel atomically with this mode and owner. `on_temp(abs_temp_path)` is called
  // before the temp file is created, so others can expect it.
  // `inode_out`, when given, receives the inode of the file that was renamed into place.
  Status WriteFile(const std::string& rel, std::string_view content, mode_t mode, uid_t uid,
                   gid_t gid, const std::function<void(const std::string&)>& on_temp,
                   uint64_t* inode_out = nullptr) const;
  Status WriteSymlink(const std::string& rel, const std::string& target,
                      const std::function<void(const std::string&)>& on_temp) const;
  // REQUIRES nothing; fails (FailedPrecondition) unless rel is a regular file with one link.
  Status Chmod(const std::string& rel, mode_t mode) const;
  // Removes rel (a directory with everything in it).
  Status Remove(const std::string& rel) const;
  // Removes rel only if it is an empty directory.
  Status RemoveEmptyDir(const std::string& rel) const;
  // Moves rel to an absolute destination outside the root (same file system: rename; otherwise
  // copy then remove). The destination's parent must exist.
  Status MoveOut(const std::string& rel, const std::string& dest) const;
  // Reads a regular file (no symlinks followed), up to max bytes.
  Result<std::string> ReadFile(const std::string& rel, uint64_t max) const;

 private:
  // Opens the directory that holds rel's last component; fails if any component on the way is
  // missing (unless create) or not a real directory.
  Result<UniqueFd> OpenParent(const std::string& rel, bool create) const;
  std::string root_;
};

// The last component of a relative path.
std::string BaseName(const std::string& rel);
// rel's parent ("" for a top-level entry).
std::string ParentOf(const std::string& rel);

}  // namespace ward::agent::autoheal
