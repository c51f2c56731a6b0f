// Watcher: turns kernel file notifications for the paths of a PathFilter into "look at this path
// again" notices. It says what changed where, not what to do about it: integrity rescans, autoheal
// restores, a log reader would read what was appended.
//
// FanotifyWatcher uses filesystem marks with directory-entry reporting (FAN_REPORT_DFID_NAME):
// one mark per file system covers every directory, present and future, with no watch limit.
// InotifyWatcher is the fallback: a watch per directory, added as directories appear; when the
// watch limit is hit it says so and the module polls what it could not watch.
// A lost notification (queue overflow) is never silent: it becomes a kRescanAll notice.
// Thread-safety: Run() is called once, from one thread; on_notice is called from that thread.
// The filter (and the clock) passed to a Create function must outlive the watcher.
#pragma once

#include <functional>
#include <memory>
#include <stop_token>
#include <string>

#include "agent/core/watch/path_filter.h"
#include "common/clock.h"
#include "common/status.h"

namespace ward::watch {

struct Notice {
  enum class Kind {
    kPath,       // this path (file or directory entry) may have changed
    kSubtree,    // this directory and everything below it may have changed
    kRescanAll,  // notifications were lost: look at everything again
    kWarning,    // the watcher is degraded (message says how); `path` may need polling
  };
  Kind kind;
  std::string path;
  std::string message;
};

class Watcher {
 public:
  virtual ~Watcher() = default;
  virtual std::string_view Name() const = 0;
  // Blocks until stop is requested, calling on_notice for each notification.
  virtual void Run(std::stop_token stop, const std::function<void(Notice)>& on_notice) = 0;
};

// Fails with kUnavailable when the kernel or privileges do not allow it.
Result<std::unique_ptr<Watcher>> CreateFanotifyWatcher(const PathFilter& filter);
// `clock` paces the retry of roots that are missing (or were deleted): every 2 s of its steady
// time, looked at between kernel notifications (at least every 100 ms of real time).
Result<std::unique_ptr<Watcher>> CreateInotifyWatcher(const PathFilter& filter, const Clock& clock);

}  // namespace ward::watch
