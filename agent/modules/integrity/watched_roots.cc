#include "agent/modules/integrity/watched_roots.h"

namespace ward::agent::integrity {
WatchedRoots::WatchedRoots(std::vector<WatchedPath> paths)
    : paths_(std::move(paths)), filter_(WatchRoots(paths_)) {}

const WatchedPath* WatchedRoots::RootOf(std::string_view path) const {
  const watch::WatchRoot* r = filter_.RootOf(path);
  if (r == nullptr) return nullptr;
  return &paths_[static_cast<size_t>(r - filter_.roots().data())];
}

}  // namespace ward::agent::integrity
