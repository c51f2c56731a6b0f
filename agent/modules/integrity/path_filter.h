// PathFilter: decides which paths under a watched root are monitored.
//
// Exclude patterns are globs: `*` and `?` do not cross `/`, `[a-z]` is a class, `**` crosses `/`.
// A pattern without `/` matches the file name at any depth ("*.log"); a pattern with `/` matches
// the path relative to the root ("cache/**", "tmp/*.swp"); "dir/**" also matches "dir" itself, so
// the directory is not descended. Thread-safety: immutable; share freely.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "agent/modules/integrity/config.h"

namespace ward::agent::integrity {

bool GlobMatch(std::string_view pattern, std::string_view text);

class PathFilter {
 public:
  explicit PathFilter(std::vector<WatchedPath> roots) : roots_(std::move(roots)) {}

  // The most specific root that covers `path` (honouring `recursive`), or nullptr.
  const WatchedPath* RootOf(std::string_view path) const;
  // True when `path` is under a root and not excluded.
  bool Monitored(std::string_view path) const;
  bool Excluded(const WatchedPath& root, std::string_view path) const;
  const std::vector<WatchedPath>& roots() const { return roots_; }

 private:
  std::vector<WatchedPath> roots_;
};

// True when path == dir or path is inside dir.
bool IsUnder(std::string_view path, std::string_view dir);

}  // namespace ward::agent::integrity
