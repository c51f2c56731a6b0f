// WafStateFile: an engine thread's WAF state kept across agent restarts (WafThreadState's
// Save()/Restore(): Ward's persistent collections IP, GLOBAL, RESOURCE, SESSION, USER), one file
// per engine thread in the IPS's state directory: `<dir>/waf-state-<thread>`.
//
// Saving writes a temporary file beside the target, fsyncs it and renames it over (the file
// system's WriteFileAtomic): a crash leaves the old file or the new one, never half of one.
// Restoring reads the thread's own file and, when an earlier run had more engine threads, the
// files of the threads that no longer exist (thread j goes to thread j % threads; those files are
// removed once read). A missing file is a first start. A file that is not a saved state
// (truncated, altered, another version) is renamed to `<file>.corrupt` and reported; the thread
// then starts without it — nothing else (other threads' files, the rules, the IPS) is affected.
//
// Thread-safety: plain functions; each engine thread touches only its own files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/modules/ips/waf.h"
#include "common/file_system.h"
#include "common/status.h"

namespace ward::agent::ips {

std::string WafStatePath(const std::string& dir, int thread);

struct WafStateRestored {
  size_t entries = 0;  // what the engine took back
  int files = 0;       // files read
  // Files refused as corrupt (renamed to <file>.corrupt), each with its error; the thread
  // started without them.
  std::vector<Status> corrupt;
};

// Restores engine thread `thread` of `threads` into `state` (an engine whose state does not
// persist: nothing to do). Errors: the directory or a file cannot be read (not: missing, corrupt).
Result<WafStateRestored> RestoreWafState(FileSystem& fs, const std::string& dir, int thread,
                                         int threads, WafThreadState& state, int64_t wall_now_s);

// Saves engine thread `thread`'s state (creating `dir`, mode 0700; the file 0600).
Status SaveWafState(FileSystem& fs, const std::string& dir, int thread, const WafThreadState& state,
                    int64_t wall_now_s);

}  // namespace ward::agent::ips
