#include "agent/core/change_ledger.h"

namespace ward::agent {
namespace {
bool IsUnderRoot(const std::string& path, const std::string& root) {
  if (root == "/") return true;
  return path.size() >= root.size() && path.compare(0, root.size(), root) == 0 &&
         (path.size() == root.size() || path[root.size()] == '/');
}
}  // namespace

void ChangeLedger::Expect(const std::string& path, Expected what) {
  std::lock_guard lock(mu_);
  auto now = clock_.SteadyNow();
  ExpireLocked(now);
  expected_[path] = Entry{std::move(what), now + ttl_};
}

bool ChangeLedger::Consume(const std::string& path, bool exists, FileType type,
                           const Sha256Digest* sha256, const std::string& target, uint32_t mode,
                           uint64_t inode) {
  std::lock_guard lock(mu_);
  ExpireLocked(clock_.SteadyNow());
  auto it = expected_.find(path);
  if (it == expected_.end()) {
    if (exists) return false;
    // A deletion below a subtree that is being removed on purpose.
    for (const auto& [p, entry] : expected_) {
      if (entry.what.subtree_gone && IsUnderRoot(path, p)) return true;
    }
    return false;
  }
  const Expected& e = it->second.what;
  if (e.any_state) return true;
  if (e.subtree_gone) return !exists;
  bool match = e.exists == exists;
  if (match && exists) {
    match = e.type == type;
    if (match && e.sha256) match = sha256 != nullptr && *sha256 == *e.sha256;
    if (match && type == FileType::kSymlink) match = e.target == target;
    if (match && e.mode != 0) match = e.mode == mode;
    if (match && e.inode != 0) match = e.inode == inode;
  }
  if (match) expected_.erase(it);
  return match;
}

void ChangeLedger::Forget(const std::string& path) {
  std::lock_guard lock(mu_);
  expected_.erase(path);
}

void ChangeLedger::SetMaintenance(const std::string& root, bool on) {
  std::lock_guard lock(mu_);
  if (on) {
    maintenance_.insert(root);
  } else {
    maintenance_.erase(root);
  }
}

bool ChangeLedger::InMaintenance(const std::string& path) const {
  std::lock_guard lock(mu_);
  for (const auto& r : maintenance_) {
    if (IsUnderRoot(path, r)) return true;
  }
  return false;
}

void ChangeLedger::ExpireLocked(std::chrono::steady_clock::time_point now) {
  for (auto it = expected_.begin(); it != expected_.end();) {
    if (it->second.expires <= now) {
      it = expected_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace ward::agent
