// Scanner: walks the watched roots and records every monitored path, hashing regular files on
// several threads. Symbolic links are recorded, never followed (so directory loops cannot trap
// it); FIFOs, sockets and devices get metadata only and are never opened; a file that changes
// while it is hashed is hashed again (up to 3 times) and otherwise marked `hash_unstable`.
// A missing root or an unreadable file is a warning in the output; the rest continues.
// Thread-safety: one Scan* call at a time per Scanner.
#pragma once

#include <string>
#include <vector>

#include "agent/modules/integrity/path_filter.h"
#include "agent/modules/integrity/record.h"
#include "common/file_system.h"

namespace ward::agent::integrity {

struct ScanWarning {
  std::string path;
  std::string message;
};

struct ScanOutput {
  std::vector<FileRecord> records;  // sorted by path, unique
  std::vector<ScanWarning> warnings;
  uint64_t bytes_hashed = 0;
};

class Scanner {
 public:
  // threads: hashing threads; 0 = one per core.
  Scanner(FileSystem& fs, const PathFilter& filter, int threads);

  // Every root.
  ScanOutput ScanAll();
  // `path` itself and, when it is a directory and `subtree`, what is below it (as deep as its
  // root allows). A path that does not exist yields no record and no warning.
  ScanOutput ScanPath(const std::string& path, bool subtree);

  // Fills sha256 / hash_unstable / unreadable for one regular-file record.
  void HashRecord(FileRecord& rec, std::vector<uint8_t>& buf, Sha256& hasher,
                  std::vector<ScanWarning>& warnings);

 private:
  // depth: 0 = the path only, 1 = and its children, -1 = everything below.
  void Walk(const std::string& start, int depth, ScanOutput& out);
  void HashAll(ScanOutput& out);

  FileSystem& fs_;
  const PathFilter& filter_;
  int threads_;
};

}  // namespace ward::agent::integrity
