// ChangeLedger: how modules on one agent coordinate changes to watched files.
//
// A module about to change a file on purpose (autoheal restoring content, applying a deploy)
// announces the state the file will end up in; integrity monitoring, when it then sees exactly
// that state, takes it into its baseline without reporting it as tampering. It also records which
// roots are in maintenance (a lock file is present), so that changes there are marked as such.
// Expectations expire after a short time, so a forgotten one cannot hide a later change.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "common/clock.h"
#include "common/file_system.h"
#include "common/hash.h"

namespace ward::agent {

class ChangeLedger {
 public:
  struct Expected {
    bool exists = true;
    bool any_state = false;     // a scratch path (e.g. a temp file): whatever is seen is expected
    bool subtree_gone = false;  // the path and everything below it are being removed
    FileType type = FileType::kRegular;
    std::optional<Sha256Digest> sha256;  // regular files
    std::string target;                  // symlinks
    uint32_t mode = 0;                   // 0 = not checked
    uint64_t inode = 0;                  // 0 = not checked; else the very file must be seen

    static Expected File(const Sha256Digest& sha256, uint32_t mode) {
      Expected e;
      e.sha256 = sha256;
      e.mode = mode;
      return e;
    }
    static Expected Symlink(std::string target) {
      Expected e;
      e.type = FileType::kSymlink;
      e.target = std::move(target);
      return e;
    }
    static Expected Directory() {
      Expected e;
      e.type = FileType::kDirectory;
      return e;
    }
    static Expected Gone(bool with_subtree) {
      Expected e;
      e.exists = false;
      e.subtree_gone = with_subtree;
      return e;
    }
    static Expected Scratch() {
      Expected e;
      e.any_state = true;
      return e;
    }
  };

  // Expectations expire `ttl` after they were made, on `clock` (outliving the ledger).
  explicit ChangeLedger(std::chrono::milliseconds ttl = std::chrono::seconds(10),
                        const Clock& clock = SystemClock())
      : ttl_(ttl), clock_(clock) {}

  void Expect(const std::string& path, Expected what);
  // True when `path` was announced to end up in this state (and then forgets it, unless it is a
  // scratch path). `sha256` may be null for non-regular files; `exists` false for a deletion.
  bool Consume(const std::string& path, bool exists, FileType type, const Sha256Digest* sha256,
               const std::string& target, uint32_t mode, uint64_t inode = 0);
  // Drops any expectation for exactly this path (a scratch file that is gone).
  void Forget(const std::string& path);

  void SetMaintenance(const std::string& root, bool on);
  bool InMaintenance(const std::string& path) const;

 private:
  struct Entry {
    Expected what;
    std::chrono::steady_clock::time_point expires;
  };
  void ExpireLocked(std::chrono::steady_clock::time_point now);

  const std::chrono::milliseconds ttl_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> expected_;
  std::set<std::string> maintenance_;
};

}  // namespace ward::agent
