// Which process a flow egress reads belongs to (docs/egress.md, "Attribution"), in the order the
// issue asks for:
//   1. eBPF: a cgroup/connect4/6 program attached to the cgroup2 root recorded, at connect(), the
//      pid/tgid, uid, comm and cgroup id under the socket's cookie (bpf/connect_record.bpf.c);
//      the flow's cookie comes from sock_diag (its exact 5-tuple) and the record from the map —
//      no /proc scan, and a process that exited before its packet was read is still named;
//   2. socket: the socket-inode lookup through /proc (net::SocketOwner) when the kernel or the
//      build offers no eBPF (no BTF, no cgroup2, no libbpf, the load refused) or the policy says
//      `attribution: socket`, or the eBPF map has no record of the socket (it connected before
//      the program was attached);
//   3. none.
// Thread-safety: ProcessAttributor::Attribute may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/net/packet.h"
#include "common/status.h"

namespace ward::agent::egress {

// A flow from the host's side: `local` is this host's end.
struct FlowKey {
  std::string transport;  // "tcp" or "udp"
  net::IpAddress local, remote;
  uint16_t local_port = 0, remote_port = 0;
};

enum class Attribution { kNone, kEbpf, kSocket };
// "none", "ebpf", "socket": the events' `process.attribution`.
std::string_view AttributionName(Attribution a);

struct ProcessInfo {
  Attribution attribution = Attribution::kNone;
  int pid = 0;  // the process (thread group id)
  int tid = 0;  // the thread that connected (eBPF only)
  std::optional<uint32_t> uid;
  std::string comm;          // the task's name at connect() (eBPF only)
  std::string executable;    // /proc/<pid>/exe; "" when the process is gone
  std::string systemd_unit;  // "nginx.service", "" when none
  std::string cgroup;        // the cgroup v2 path ("/system.slice/nginx.service"), eBPF only
};

// The socket cookie (SO_COOKIE, bpf_get_socket_cookie) of the socket with exactly this 5-tuple in
// the calling thread's network namespace, through sock_diag (NETLINK_SOCK_DIAG,
// INET_DIAG_REQ_V2). NotFound when there is none.
Result<uint64_t> SocketCookie(const FlowKey& flow);

// The innermost ".service"/".scope" element of a cgroup path, "" when none.
std::string UnitOfCgroupPath(std::string_view path);

// The eBPF program and its map: loaded and attached on Attach(), detached and freed when
// destroyed (also when the agent dies: the attachments are bpf_links owned by its descriptors).
class ConnectTracker {
 public:
  struct Record {
    int pid = 0, tid = 0;
    uint32_t uid = 0, gid = 0;
    uint64_t cgroup_id = 0;
    std::string comm;
  };
  // Loads the program and attaches it to the cgroup2 hierarchy's root (the mount found in
  // /proc/self/mounts, or one mounted for the purpose under `mount_dir` and unmounted on
  // destruction). Unavailable when the build has no eBPF support; the kernel's or libbpf's error
  // otherwise.
  static Result<std::unique_ptr<ConnectTracker>> Attach(
      const std::string& mount_dir = "/run/ward/cgroup2");
  virtual ~ConnectTracker() = default;
  // The record of the socket with this cookie, nullopt when the program saw no connect() of it.
  virtual std::optional<Record> Find(uint64_t cookie) const = 0;
  // The cgroup2 mount the program is attached to ("/sys/fs/cgroup").
  virtual const std::string& cgroup_root() const = 0;
  // The kernel's ids of the two programs and of the map (tests check they are gone after stop).
  virtual std::vector<uint32_t> ProgramIds() const = 0;
  virtual uint32_t MapId() const = 0;
};

// Attribution with eBPF when a ConnectTracker is given, else (and for flows it has no record of)
// by socket inode.
class ProcessAttributor {
 public:
  explicit ProcessAttributor(std::unique_ptr<ConnectTracker> tracker);
  // eBPF when `try_ebpf` and ConnectTracker::Attach() succeeds; the reason it did not is logged
  // and kept in fallback_reason().
  static std::unique_ptr<ProcessAttributor> Open(bool try_ebpf);
  ProcessInfo Attribute(const FlowKey& flow) const;
  bool ebpf() const { return tracker_ != nullptr; }
  const std::string& fallback_reason() const { return fallback_reason_; }
  const ConnectTracker* tracker() const { return tracker_.get(); }

 private:
  std::optional<ProcessInfo> FromEbpf(const FlowKey& flow) const;
  // The cgroup v2 path of `id` under the tracker's mount, "" when it is gone (cached).
  std::string CgroupPath(uint64_t id) const;
  static std::string LookUpCgroupPath(const std::string& root, uint64_t id);
  std::unique_ptr<ConnectTracker> tracker_;
  std::string fallback_reason_;
  mutable std::mutex mu_;
  mutable std::unordered_map<uint64_t, std::string> cgroup_paths_;
};

}  // namespace ward::agent::egress
