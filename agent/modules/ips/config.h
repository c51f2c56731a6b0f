// The `ips` policy section: what traffic the host IPS inspects, how, and with which rules.
//
//   ips:
//     engine: ward                 # the WAF rule engine (waf.h): ward | libmodsecurity
//     mode: detect                 # detect | prevent
//     ports: [80, 8080]            # TCP ports of local HTTP servers
//     capture: nfqueue             # nfqueue (inline) | pcap (passive, detect only)
//     interface: eth0              # pcap only (default: any)
//     fail: open                   # open | closed
//     queue: 0                     # first NFQUEUE number (nfqueue only)
//     threads: 0                   # engine threads = queues queue..queue+threads-1 (nfqueue);
//                                  # 0: one per CPU (power of two, at most 8)
//     crs: { enabled: true, paranoia_level: 1, inbound_anomaly_threshold: 5,
//            outbound_anomaly_threshold: 4, setup_files: [],
//            rules: managed:crs }   # the CRS rule files: Debian's (default), a directory, or the
//                                   # manager's "crs" update bundle (docs/updates.md)
//     rules: [ { id: 942100, mode: detect }, { id: 920350, enabled: false } ]
//     exclusions: [ { id: 942430, target: "ARGS:comment", path: /blog/post },
//                   { id: 942100, target: "ARGS:q", path_prefix: /api/ } ]
//     custom_rules: [/etc/ward/rules/*.conf, managed:rules]  # managed:rules = every .conf file of
//                                  # the manager's "rules" update bundle
//     log_file: /var/log/ward/modsec.log   # ModSecurity-format lines, one per matched rule
//     block_status: 403            # prevent: the status of the answer a blocked request gets
//                                  # (400-599; 0: no answer, the connection is reset both ways)
//     limits: { request_body: 128k, response_body: 64k, flow_buffer: 256k, total_buffer: 64M,
//               max_flows: 16384, flow_timeout: 120s }
// Thread-safety: plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/config_node.h"
#include "common/status.h"

namespace ward::agent::ips {

enum class Mode { kDetect, kPrevent };
enum class Capture { kNfqueue, kPcap };
enum class FailMode { kOpen, kClosed };
// The WAF rule engine that runs the rules (waf.h, WafEngineFor()). Engines are listed here, in
// the policy schema, so that validating a policy needs no engine library.
enum class WafEngineKind { kLibModSecurity, kWard };

struct RuleOverride {
  int64_t id = 0;
  bool enabled = true;
  std::optional<Mode> mode;  // unset: the policy's mode
};

struct Exclusion {
  int64_t id = 0;
  std::string target;  // "ARGS:comment", "REQUEST_COOKIES:session", ...
  std::string path;    // exact REQUEST_FILENAME; empty = every path
  // Every path under this prefix, normalised as path_prefix.h says (not with `path`); empty = none.
  std::string path_prefix;
};

struct CrsSettings {
  bool enabled = true;
  int paranoia_level = 1;
  int inbound_anomaly_threshold = 5;
  int outbound_anomaly_threshold = 4;
  // Rule files loaded after Ward's own settings and before the CRS (test harness setups).
  std::vector<std::string> setup_files;
  // Where the CRS rule files (*.conf, with their *.data) are: "" = Debian's
  // /usr/share/modsecurity-crs/rules, else an absolute directory, or "managed:crs" until
  // ResolveManaged() turns it into the update bundle's directory. A crs-setup.conf there is
  // loaded instead of Debian's /etc/modsecurity/crs/crs-setup.conf.
  std::string rules_dir;
};

struct Limits {
  uint64_t request_body = 128 * 1024;
  uint64_t response_body = 64 * 1024;
  uint64_t flow_buffer = 256 * 1024;    // out-of-order + unparsed bytes per direction
  uint64_t total_buffer = 64ull << 20;  // over every flow
  uint64_t max_flows = 16384;
  std::chrono::milliseconds flow_timeout{std::chrono::seconds(120)};
};

struct IpsConfig {
  WafEngineKind engine = WafEngineKind::kWard;
  Mode mode = Mode::kDetect;
  std::vector<uint16_t> ports{80};
  Capture capture = Capture::kNfqueue;
  std::string interface;  // pcap: empty = "any"
  FailMode fail = FailMode::kOpen;
  uint16_t queue = 0;
  // Engine threads, each with its own NFQUEUE (queue + i); flows are spread by the client's port.
  // 0 = automatic (EngineThreads()).
  int threads = 0;
  CrsSettings crs;
  std::vector<RuleOverride> rules;
  std::vector<Exclusion> exclusions;
  std::vector<std::string> custom_rules;  // file names or glob patterns
  std::string log_file;
  // Prevent mode: a blocked HTTP request is answered with this status (and a small body naming
  // the transaction), the server side is reset; 0 = reset both sides without an answer.
  int block_status = 403;
  Limits limits;

  // The mode a rule runs in (its override, else the policy's).
  Mode RuleMode(int64_t id) const;
  bool IsPort(uint16_t port) const;
  // The number of engine threads (and queues) to run: `threads`, or for 0 the online CPUs rounded
  // down to a power of two (at most 8); always 1 for pcap capture.
  int EngineThreads() const;
};

inline constexpr int kMaxThreads = 16;

Result<IpsConfig> ParseIpsConfig(const ConfigNode& section);

// `c` with its references to update bundles (docs/updates.md) made paths under `state_dir`:
// crs.rules "managed:crs" -> <state_dir>/updates/crs/current, and each custom_rules entry
// "managed:rules" -> <state_dir>/updates/rules/current/*.conf. The module and the CLI call it
// before loading rules. kNotFound when a referenced bundle is not installed: the message names
// the key, the reference and the path ("ips.custom_rules: managed:rules: ... not installed").
Result<IpsConfig> ResolveManaged(IpsConfig c, const std::filesystem::path& state_dir);

std::string_view ModeName(Mode m);
// The `ips.engine` value naming an engine ("libmodsecurity", "ward").
std::string_view WafEngineName(WafEngineKind e);

}  // namespace ward::agent::ips
