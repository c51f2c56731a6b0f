// The `integrity` policy section, parsed and validated.
//
//   integrity:
//     enabled: true                 # default true when the section is present
//     paths:
//       - path: /var/www/html
//         recursive: true           # default true
//         exclude: ["*.log", "cache/**"]
//         attributes: [sha256, size, mode, owner, group, mtime, type, target]  # default: these
//     schedule: 1h                  # periodic full check; 0 = off
//     realtime: true
//     realtime_backend: auto        # auto | fanotify | inotify
//     settle: 50ms                  # a burst of writes to one file is one event once quiet this
//     long hash_threads: 0               # 0 = one per core
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/core/watch/path_filter.h"
#include "common/config_node.h"
#include "common/status.h"

namespace ward::agent::integrity {

// Attributes that can be compared; a bit mask.
enum Attr : uint32_t {
  kAttrSha256 = 1u << 0,
  kAttrSize = 1u << 1,
  kAttrMode = 1u << 2,
  kAttrOwner = 1u << 3,
  kAttrGroup = 1u << 4,
  kAttrMtime = 1u << 5,
  kAttrType = 1u << 6,
  kAttrTarget = 1u << 7,
  kAttrInode = 1u << 8,
};
constexpr uint32_t kDefaultAttrs = kAttrSha256 | kAttrSize | kAttrMode | kAttrOwner | kAttrGroup |
                                   kAttrMtime | kAttrType | kAttrTarget;
// Attribute names in a fixed order, as they appear in events.
std::vector<std::string> AttrNames(uint32_t mask);

// A watched root (path, recursive, exclude: agent/core/watch/path_filter.h) with the attributes
// integrity compares under it.
struct WatchedPath : watch::WatchRoot {
  uint32_t attributes = kDefaultAttrs;
};

// The roots alone (same order), for a watch::PathFilter.
std::vector<watch::WatchRoot> WatchRoots(const std::vector<WatchedPath>& paths);

enum class RealtimeBackend { kAuto, kFanotify, kInotify };

struct IntegrityConfig {
  bool enabled = true;
  std::vector<WatchedPath> paths;
  std::chrono::milliseconds schedule = std::chrono::hours(1);
  bool realtime = true;
  RealtimeBackend backend = RealtimeBackend::kAuto;
  std::chrono::milliseconds settle = std::chrono::milliseconds(50);
  int hash_threads = 0;
};

// Parses the `integrity` section; errors name file, line and key.
Result<IntegrityConfig> ParseIntegrityConfig(const ConfigNode& section);

}  // namespace ward::agent::integrity
