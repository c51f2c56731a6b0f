#include "agent/modules/integrity/record.h"

namespace ward::agent::integrity {

void Upsert(RecordSet& set, FileRecord r) {
  auto it = set.find(r.path);
  if (it == set.end()) {
    set.insert(std::move(r));
    return;
  }
  // Reuse the node: the key stays the same, and so does the order.
  auto node = set.extract(it);
  node.value() = std::move(r);
  set.insert(std::move(node));
}

uint32_t ChangedAttrs(const FileRecord& a, const FileRecord& b, uint32_t attrs) {
  uint32_t c = 0;
  if ((attrs & kAttrType) && a.type != b.type) c |= kAttrType;
  if ((attrs & kAttrSha256) && !a.unreadable && !b.unreadable &&
      (a.has_sha256 != b.has_sha256 || a.sha256 != b.sha256)) {
    // A file that became a directory has no hash: that is a type change, not a content change,
    // unless type is not monitored.
    if (a.has_sha256 && b.has_sha256) {
      c |= kAttrSha256;
    } else if (!(attrs & kAttrType) || a.type == b.type) {
      c |= kAttrSha256;
    }
  }
  if ((attrs & kAttrSize) && a.size != b.size && a.type != FileType::kDirectory &&
      b.type != FileType::kDirectory) {
    c |= kAttrSize;
  }
  if ((attrs & kAttrMode) && a.mode != b.mode) c |= kAttrMode;
  if ((attrs & kAttrOwner) && a.uid != b.uid) c |= kAttrOwner;
  if ((attrs & kAttrGroup) && a.gid != b.gid) c |= kAttrGroup;
  if ((attrs & kAttrMtime) && a.mtime_ns != b.mtime_ns && a.type != FileType::kDirectory &&
      b.type != FileType::kDirectory) {
    c |= kAttrMtime;
  }
  if ((attrs & kAttrTarget) && a.target != b.target) c |= kAttrTarget;
  if ((attrs & kAttrInode) && a.inode != b.inode) c |= kAttrInode;
  return c;
}

}  // namespace ward::agent::integrity
