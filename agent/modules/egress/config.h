// The `egress` policy section (docs/egress.md): web reputation by name on outbound traffic.
//
//   egress:
//     mode: detect               # detect (report only) | prevent (NXDOMAIN, reset, 403)
//     fail: open                 # open: traffic passes when the agent is not there | closed
//     queue: 40                  # NFQUEUE number (the IPS uses 0.., keep them apart)
//     security_level: medium     # low: dangerous | medium: + highly_suspicious | high: +
//     suspicious http_ports: [80]           # outbound TCP ports whose first payload is an HTTP
//     request tls_ports: [443]           # outbound TCP ports whose first payload is a TLS
//     ClientHello dns: true                  # read DNS answers (UDP source port 53) block_page:
//     true           # prevent: a blocked HTTP request gets a small 403 page lists: # feed files
//     (the manager distributes them)
//       - {name: urlhaus, format: urlhaus_csv, path: /var/lib/ward/feeds/urlhaus.csv,
//          category: malware, risk: dangerous}
//     block: [bad.example, "http://x.example/dl/", 203.0.113.0/24]
//     allow: [good.bad.example]
//     services:                  # per-service allow-lists (by systemd unit or executable)
//       - {id: web, unit: nginx.service, mode: learn, learn_for: 1h}
//       - {id: fetch, exe: /usr/bin/curl, mode: prevent, allow: [repo.example, 10.0.0.0/8]}
//
// Parsed and validated without side effects (feed files are read by the module); part of
// ward::egress_policy, which links no engine.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/modules/egress/reputation.h"
#include "common/config_node.h"
#include "common/status.h"

namespace ward::agent::egress {

enum class Mode { kDetect, kPrevent };
std::string_view ModeName(Mode m);

struct FeedSpec {
  std::string name;  // [A-Za-z0-9_.-]{1,64}, unique
  FeedFormat format = FeedFormat::kDomains;
  // An absolute path, or "managed:feeds/<name>": the feed of that name in the feeds bundle the
  // manager distributes (LoadRules' feeds_dir); its format is then the file's (format_from_file
  // when the policy gives none; a format given must match the file's).
  std::string path;
  bool format_from_file = false;
  std::string category;
  Risk risk = Risk::kDangerous;
  bool allow = false;  // an allow list
};

// learn: record what the service reaches and propose an allow-list after `learn_for`;
// detect: report what its allow-list does not cover; prevent: reset it.
enum class ServiceMode { kLearn, kDetect, kPrevent };
std::string_view ServiceModeName(ServiceMode m);

struct ServiceSpec {
  std::string id;    // [A-Za-z0-9_.-]{1,64}, unique
  std::string unit;  // a systemd unit ("nginx.service"), or
  std::string exe;   // an executable's absolute path; exactly one of the two
  ServiceMode mode = ServiceMode::kLearn;
  std::vector<std::string> allow;  // domains (suffix), URL prefixes, CIDRs
  std::chrono::milliseconds learn_for = std::chrono::hours(1);
  bool operator==(const ServiceSpec&) const = default;
};

struct EgressConfig {
  Mode mode = Mode::kDetect;
  bool fail_open = true;
  uint16_t queue = 40;
  SecurityLevel security_level = SecurityLevel::kMedium;
  std::vector<uint16_t> http_ports = {80};
  std::vector<uint16_t> tls_ports = {443};
  bool dns = true;
  bool block_page = true;
  int log_group = 7001;
  std::vector<FeedSpec> lists;
  std::vector<std::string> block;  // domains, URL prefixes, CIDRs
  std::vector<std::string> allow;
  std::vector<ServiceSpec> services;
  // attribution: auto (eBPF cgroup/connect4/6 where the kernel allows, else the socket-inode
  // lookup) | socket (the socket-inode lookup only).
  bool ebpf_attribution = true;
  bool operator==(const EgressConfig&) const = default;
};

Result<EgressConfig> ParseEgressConfig(const ConfigNode& section);

}  // namespace ward::agent::egress
