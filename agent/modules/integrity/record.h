// FileRecord: what integrity monitoring knows about one path, and how two records differ.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "agent/modules/integrity/config.h"
#include "common/file_system.h"
#include "common/hash.h"

namespace ward::agent::integrity {

// Fields are ordered by size so that no padding is wasted: a baseline holds one per entry.
struct FileRecord {
  std::string path;    // bytes, as the kernel knows it
  std::string target;  // symlink target
  Sha256Digest sha256{};
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;  // not compared (restores change it); used to notice races
  uint64_t inode = 0;
  uint64_t dev = 0;
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  FileType type = FileType::kUnknown;
  bool has_sha256 = false;
  bool hash_unstable = false;  // the file kept changing while it was hashed
  bool unreadable = false;     // could not be opened or read: content unknown
  bool vanished = false;       // gone between listing and hashing; dropped from scan output

  bool operator==(const FileRecord&) const = default;
};

// Orders records, and finds them, by path (heterogeneous lookup with a string_view).
struct ByPath {
  using is_transparent = void;
  bool operator()(const FileRecord& a, const FileRecord& b) const { return a.path < b.path; }
  bool operator()(const FileRecord& a, std::string_view b) const { return a.path < b; }
  bool operator()(std::string_view a, const FileRecord& b) const { return a < b.path; }
};

// Records keyed by their own path (the key is not stored a second time).
using RecordSet = std::set<FileRecord, ByPath>;

// Inserts `r`, or replaces the record with the same path.
void Upsert(RecordSet& set, FileRecord r);

// The attributes (within `attrs`) whose values differ between a and b.
uint32_t ChangedAttrs(const FileRecord& a, const FileRecord& b, uint32_t attrs);

enum class ChangeKind { kCreated, kDeleted, kModified, kRenamed };

struct Change {
  ChangeKind kind;
  std::optional<FileRecord> before;  // absent for kCreated
  std::optional<FileRecord> after;   // absent for kDeleted
  uint32_t changed = 0;              // for kModified/kRenamed: attributes that differ
  uint32_t attrs = kDefaultAttrs;    // the root's configured attributes
};

}  // namespace ward::agent::integrity
