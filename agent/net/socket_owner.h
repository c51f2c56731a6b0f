// Which process owns a local TCP/UDP socket, by socket inode: /proc/net/{tcp,udp}[6] gives the
// inode of the socket bound to a local port, /proc/<pid>/fd the process holding it. Used by the
// firewall and egress modules to name the process behind a connection in their events (the
// fallback the issue names when no eBPF cgroup/connect program is loaded). Blocking: it reads
// /proc (a few ms on a busy host), so callers do it only for what they report. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ward::net {

struct SocketOwnerInfo {
  int pid = 0;
  std::string executable;    // /proc/<pid>/exe, "" when unreadable
  std::string systemd_unit;  // from /proc/<pid>/cgroup ("nginx.service"), "" when none
};

// `protocol` "tcp" or "udp"; both families are searched. nullopt when no socket or no process
// (it exited, or it lives in another network namespace) is found.
std::optional<SocketOwnerInfo> SocketOwner(std::string_view protocol, uint16_t local_port);

}  // namespace ward::net
