#include "agent/modules/ips/waf_state_file.h"

#include <fmt/format.h>

#include <algorithm>

#include "agent/modules/ips/config.h"

namespace ward::agent::ips {
namespace {

// A saved state is at most this large (100,000 entries per thread, docs/ips.md).
constexpr uint64_t kMaxStateBytes = 512ull << 20;

}  // namespace

std::string WafStatePath(const std::string& dir, int thread) {
  return fmt::format("{}/waf-state-{}", dir, thread);
}

Result<WafStateRestored> RestoreWafState(FileSystem& fs, const std::string& dir, int thread,
                                         int threads, WafThreadState& state, int64_t wall_now_s) {
  WafStateRestored out;
  if (!state.persists()) return out;
  for (int j = thread; j < kMaxThreads; j += std::max(threads, 1)) {
    const std::string path = WafStatePath(dir, j);
    auto bytes = fs.ReadFile(path, kMaxStateBytes);
    if (!bytes.has_value()) {
      if (bytes.error().code() == StatusCode::kNotFound) continue;
      return bytes.error().WithContext("ips: saved WAF state");
    }
    ++out.files;
    auto added = state.Restore(*bytes, wall_now_s);
    if (!added.has_value()) {
      out.corrupt.push_back(added.error().WithContext(path));
      if (Status s = fs.Rename(path, path + ".corrupt"); !s.ok()) {
        out.corrupt.push_back(s.WithContext("ips: setting the corrupt file aside"));
      }
      continue;
    }
    out.entries += *added;
    // A thread of an earlier run that no longer exists: its entries now live in this thread,
    // which saves them under its own file.
    if (j >= threads) {
      if (Status s = fs.Remove(path); !s.ok()) return s.WithContext("ips: saved WAF state");
    }
  }
  return out;
}

Status SaveWafState(FileSystem& fs, const std::string& dir, int thread, const WafThreadState& state,
                    int64_t wall_now_s) {
  if (!state.persists()) return Status::Ok();
  WARD_RETURN_IF_ERROR(fs.CreateDirectories(dir, 0700));
  return fs.WriteFileAtomic(WafStatePath(dir, thread), state.Save(wall_now_s), 0600);
}

}  // namespace ward::agent::ips
