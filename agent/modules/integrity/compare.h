// Compare: the changes between a baseline and a fresh look at the same paths.
//
// Both sides are keyed by path. A deletion and a creation of the same inode on the same device
// (and the same content, when both were hashed) pair into one rename; hard links with several
// candidates are left as deletion + creation. Thread-safety: pure functions.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "agent/modules/integrity/record.h"
#include "agent/modules/integrity/watched_roots.h"

namespace ward::agent::integrity {

// `before`: baseline records in scope; `after`: what is on disk now (same scope).
// `attrs_of(path)` gives the attributes configured for a path.
std::vector<Change> CompareRecords(const std::vector<const FileRecord*>& before,
                                   const std::vector<const FileRecord*>& after,
                                   const std::function<uint32_t(const std::string&)>& attrs_of);

}  // namespace ward::agent::integrity
