// WatchedRoots: integrity's watched paths, with the shared path filter (agent/core/watch) over
// them. RootOf answers with the integrity settings of the root (its attributes); filter() is what
// the watchers take. Thread-safety: immutable; share freely.
#pragma once

#include <string_view>
#include <vector>

#include "agent/core/watch/path_filter.h"
#include "agent/modules/integrity/config.h"

namespace ward::agent::integrity {

class WatchedRoots {
 public:
  explicit WatchedRoots(std::vector<WatchedPath> paths);

  // The most specific root that covers `path` (honouring `recursive`), or nullptr.
  const WatchedPath* RootOf(std::string_view path) const;
  // True when `path` is under a root and not excluded.
  bool Monitored(std::string_view path) const { return filter_.Monitored(path); }
  bool Excluded(const WatchedPath& root, std::string_view path) const {
    return filter_.Excluded(root, path);
  }
  const std::vector<WatchedPath>& roots() const { return paths_; }
  const watch::PathFilter& filter() const { return filter_; }

 private:
  std::vector<WatchedPath> paths_;
  watch::PathFilter filter_;  // the same roots, in the same order
};

}  // namespace ward::agent::integrity
