// PathFilter: decides which paths under the watched roots are monitored. Shared by every module
// that watches files (integrity, autoheal, and the watchers in this folder); a module keeps its
// own per-root settings beside the roots (see integrity's WatchedRoots).
//
// Exclude patterns are globs: `*` and `?` do not cross `/`, `[a-z]` is a class, `**` crosses `/`.
// A pattern without `/` matches the file name at any depth ("*.log"); a pattern with `/` matches
// the path relative to the root ("cache/**", "tmp/*.swp"); "dir/**" also matches "dir" itself, so
// the directory is not descended. Thread-safety: immutable; share freely.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ward::watch {

// A watched root: a file or a directory, absolute and normalised (no trailing slash except "/").
struct WatchRoot {
  std::string path;
  bool recursive = true;             // false: the root and its direct children only
  std::vector<std::string> exclude;  // globs, as above
};

bool GlobMatch(std::string_view pattern, std::string_view text);

class PathFilter {
 public:
  explicit PathFilter(std::vector<WatchRoot> roots) : roots_(std::move(roots)) {}

  // The most specific root that covers `path` (honouring `recursive`), or nullptr.
  const WatchRoot* RootOf(std::string_view path) const;
  // True when `path` is under a root and not excluded.
  bool Monitored(std::string_view path) const;
  bool Excluded(const WatchRoot& root, std::string_view path) const;
  const std::vector<WatchRoot>& roots() const { return roots_; }

 private:
  std::vector<WatchRoot> roots_;
};

// True when path == dir or path is inside dir.
bool IsUnder(std::string_view path, std::string_view dir);

}  // namespace ward::watch
