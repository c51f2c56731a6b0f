// Scanner: walks the watched roots and records every monitored path, hashing regular files.
//
// Worker threads share the walk: each takes a directory from a common stack, lists it through
// an open directory (FileSystem::OpenDir), looks at each entry relative to it and hashes small
// regular files at once; files above 8 MB are hashed afterwards, largest first, so that one big
// file does not finish last on a single thread, and very large directories are shared out in
// slices. Symbolic links are recorded, never followed; FIFOs, sockets and devices get metadata
// only and are never opened; a directory is not entered again below itself (bind-mount loops,
// by device and inode; one mounted twice side by side is walked at both paths), nor on a kernel
// pseudo file system reached by crossing a mount. A file
// that changes while it is hashed is hashed again (up to 3 times) and otherwise marked
// `hash_unstable`; one that cannot be read keeps its record, marked `unreadable`, with a
// warning; one that vanished before it was hashed is dropped. A missing root or an unlistable
// directory is a warning too; the rest continues.
// Thread-safety: one Scan* call at a time per Scanner. `fs` must be safe from several threads.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "agent/modules/integrity/record.h"
#include "agent/modules/integrity/watched_roots.h"
#include "common/file_system.h"

namespace ward::agent::integrity {

struct ScanWarning {
  std::string path;
  std::string message;
};

struct ScanOutput {
  // Sorted by path, unique. A deque grows without moving what it holds: a scan never holds its
  // records twice.
  std::deque<FileRecord> records;
  std::vector<ScanWarning> warnings;  // sorted by path
  uint64_t bytes_hashed = 0;
};

class Scanner {
 public:
  // threads: how many threads walk and hash (the calling one among them); 0 = one per core.
  Scanner(FileSystem& fs, const WatchedRoots& filter, int threads);

  // Receives records whose content is final, sorted by path, valid during the call; see ScanAll().
  using SettledFn = std::function<void(const std::vector<const FileRecord*>& records)>;

  // Every root. `settled`, when given, is called on the calling thread with every record once,
  // in batches sorted by path: all but the large files as soon as the walk is over, while those
  // are still being hashed (so that the caller can use the wait), then the large files, if any.
  // The records are not kept: the output then has none, only warnings and bytes_hashed.
  ScanOutput ScanAll(const SettledFn& settled = {});
  // `path` itself and, when it is a directory and `subtree`, what is below it (as deep as its
  // root allows). A path that does not exist yields no record and no warning.
  ScanOutput ScanPath(const std::string& path, bool subtree);

 private:
  // Where a walk starts; depth: 0 = the path only, 1 = and its children, -1 = everything below.
  struct Start {
    std::string path;
    int depth;
  };
  ScanOutput Scan(const std::vector<Start>& starts, const SettledFn& settled);

  FileSystem& fs_;
  const WatchedRoots& filter_;
  int threads_;
};

}  // namespace ward::agent::integrity
