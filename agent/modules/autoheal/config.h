// The `autoheal` policy section.
//
//   autoheal:
//     roots:
//       - path: /var/www/html          # must also be watched by `integrity` (real-time)
//         repository: /srv/site.git    # a local git repository, bare or not
//         ref: refs/heads/main         # the truth for this root (default HEAD)
//         lock_file: /var/www/html.maintenance   # while it exists, nothing is restored
//         unexpected_files: quarantine # quarantine | delete | keep
//     persistent_threshold: 5          # restores of one file within `persistent_window` that
//     persistent_window: 1m            #   raise a critical "persistent tampering" event
//     poll_interval: 200ms             # how often lock files and refs are looked at
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "agent/modules/integrity/config.h"
#include "common/config_node.h"
#include "common/status.h"

namespace ward::agent::autoheal {

enum class UnexpectedAction { kQuarantine, kDelete, kKeep };
std::string_view UnexpectedActionName(UnexpectedAction a);

struct HealRoot {
  std::string path;        // absolute, normalised
  std::string repository;  // absolute
  std::string ref = "HEAD";
  std::string lock_file;  // empty = none
  UnexpectedAction unexpected = UnexpectedAction::kQuarantine;
};

struct AutohealConfig {
  bool enabled = true;
  std::vector<HealRoot> roots;
  int persistent_threshold = 5;
  std::chrono::milliseconds persistent_window = std::chrono::minutes(1);
  std::chrono::milliseconds poll_interval = std::chrono::milliseconds(200);
};

Result<AutohealConfig> ParseAutohealConfig(const ConfigNode& section);

// The section together with the document's `integrity` section, which must watch every root in
// real time (autoheal reacts to its events).
struct AutohealSettings {
  AutohealConfig config;
  integrity::IntegrityConfig integrity;
};
Result<AutohealSettings> ParseAutohealSettings(const ConfigNode& section,
                                               const ConfigNode& document);

}  // namespace ward::agent::autoheal
