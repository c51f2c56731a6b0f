// The `loginspect` policy section, parsed and validated (docs/policy.md, docs/loginspect.md).
//
//   loginspect:
//     enabled: true                   # default true when the section is present
//     default_ruleset: true           # Ward's own decoders and rules (share/ward/loginspect)
//     rules: [/etc/ward/rules]        # more rule directories, in order (files by name)
//     decoders: [/etc/ward/decoders]  # more decoder directories, in order
//     lists: /etc/ward/lists          # where <list>etc/lists/x</list> resolves
//     rule_exclude: [0215-policy_rules.xml]     # file names left out (Wazuh's <rule_exclude>)
//     decoder_exclude: []
//     files:
//       - path: /var/log/auth.log     # absolute; globs (* ? [..]) in the file name part
//         format: syslog              # syslog|json|multiline|apache|nginx|full_line
//         multiline_start: '^\d{4}-'  # PCRE2; required with format multiline
//         max_line: 64k               # a longer line is cut and marked (default 64 KB)
//     journald:
//       enabled: false
//       units: [ssh.service]          # _SYSTEMD_UNIT matches (any); none: every entry
//       identifiers: [sudo]           # SYSLOG_IDENTIFIER matches (any)
//       directory: ""                 # read journal files there instead of the system journal
//     poll_interval: 1s               # stat fallback between inotify notices
//     max_backlog: 0                  # per file, bytes not yet read; 0 = unbounded (never drop)
//     on_backlog: drop_oldest         # what a hit bound does (the only policy: skip and count)
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/config_node.h"
#include "common/status.h"

namespace ward::agent::loginspect {

enum class LogFormat { kSyslog, kJson, kMultiline, kApache, kNginx, kFullLine };
std::string_view LogFormatName(LogFormat f);

struct FileSpec {
  std::string path;  // absolute; may hold glob characters in its last component
  LogFormat format = LogFormat::kSyslog;
  std::string multiline_start;  // PCRE2, for kMultiline
  uint64_t max_line = 64 * 1024;
};

struct JournaldSpec {
  bool enabled = false;
  std::vector<std::string> units;
  std::vector<std::string> identifiers;
  std::string directory;  // empty: the local system journal
};

struct LoginspectConfig {
  bool enabled = true;
  bool default_ruleset = true;
  std::vector<std::string> rule_dirs;
  std::vector<std::string> decoder_dirs;
  std::string lists_dir;
  std::string geoip_db;          // MaxMind City .mmdb (absolute); empty: no srcgeoip/dstgeoip
  std::string compat = "wazuh";  // correlation semantics: "wazuh" or "ossec" (ParseCompat)
  std::vector<std::string> rule_excludes;
  std::vector<std::string> decoder_excludes;
  std::vector<FileSpec> files;
  JournaldSpec journald;
  std::chrono::milliseconds poll_interval = std::chrono::seconds(1);
  uint64_t max_backlog = 0;
};

// Parses the `loginspect` section; errors name file, line and key. A multiline start pattern
// that PCRE2 does not compile is refused here.
Result<LoginspectConfig> ParseLoginspectConfig(const ConfigNode& section);

}  // namespace ward::agent::loginspect
