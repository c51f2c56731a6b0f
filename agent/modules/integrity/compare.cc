#include "agent/modules/integrity/compare.h"

#include <algorithm>
#include <unordered_map>

namespace ward::agent::integrity {
namespace {
struct InodeKey {
  uint64_t dev, inode;
  bool operator==(const InodeKey&) const = default;
};
struct InodeHash {
  size_t operator()(const InodeKey& k) const {
    return std::hash<uint64_t>()(k.dev * 1000003 ^ k.inode);
  }
};
}  // namespace

std::vector<Change> CompareRecords(const std::vector<const FileRecord*>& before,
                                   const std::vector<const FileRecord*>& after,
                                   const std::function<uint32_t(const std::string&)>& attrs_of) {
  std::vector<Change> changes;
  std::vector<const FileRecord*> deleted, created;
  // Both inputs sorted by path: merge.
  size_t i = 0, j = 0;
  while (i < before.size() || j < after.size()) {
    if (j == after.size() || (i < before.size() && before[i]->path < after[j]->path)) {
      deleted.push_back(before[i++]);
    } else if (i == before.size() || after[j]->path < before[i]->path) {
      created.push_back(after[j++]);
    } else {
      const FileRecord& b = *before[i++];
      const FileRecord& a = *after[j++];
      uint32_t attrs = attrs_of(a.path);
      uint32_t changed = ChangedAttrs(b, a, attrs);
      if (changed != 0) changes.push_back({ChangeKind::kModified, b, a, changed, attrs});
    }
  }
  // Pair renames by inode.
  std::unordered_map<InodeKey, std::vector<size_t>, InodeHash> del_by_inode, cre_by_inode;
  for (size_t k = 0; k < deleted.size(); ++k)
    del_by_inode[{deleted[k]->dev, deleted[k]->inode}].push_back(k);
  for (size_t k = 0; k < created.size(); ++k)
    cre_by_inode[{created[k]->dev, created[k]->inode}].push_back(k);
  std::vector<bool> del_paired(deleted.size()), cre_paired(created.size());
  for (const auto& [key, dels] : del_by_inode) {
    auto it = cre_by_inode.find(key);
    if (it == cre_by_inode.end() || dels.size() != 1 || it->second.size() != 1) continue;
    const FileRecord& b = *deleted[dels[0]];
    const FileRecord& a = *created[it->second[0]];
    if (a.type != b.type) continue;
    if (a.has_sha256 && b.has_sha256 && a.sha256 != b.sha256) continue;
    uint32_t attrs = attrs_of(a.path);
    // A renamed file keeps its ctime change; compare everything but the path.
    uint32_t changed = ChangedAttrs(b, a, attrs & ~kAttrInode);
    changes.push_back({ChangeKind::kRenamed, b, a, changed, attrs});
    del_paired[dels[0]] = true;
    cre_paired[it->second[0]] = true;
  }
  for (size_t k = 0; k < deleted.size(); ++k) {
    if (!del_paired[k])
      changes.push_back(
          {ChangeKind::kDeleted, *deleted[k], std::nullopt, 0, attrs_of(deleted[k]->path)});
  }
  for (size_t k = 0; k < created.size(); ++k) {
    if (!cre_paired[k])
      changes.push_back(
          {ChangeKind::kCreated, std::nullopt, *created[k], 0, attrs_of(created[k]->path)});
  }
  auto path_of = [](const Change& c) -> const std::string& {
    return c.after ? c.after->path : c.before->path;
  };
  std::stable_sort(changes.begin(), changes.end(),
                   [&](const Change& x, const Change& y) { return path_of(x) < path_of(y); });
  return changes;
}

}  // namespace ward::agent::integrity
