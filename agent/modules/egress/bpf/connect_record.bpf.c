// egress's process attribution in the kernel (docs/egress.md, "Attribution"): attached to the
// cgroup2 root as cgroup/connect4 and cgroup/connect6, it runs in the context of the process
// calling connect() (TCP, and UDP sockets that connect) and records who it is under the socket's
// cookie. It never changes the connect (returns 1: proceed). The agent finds the cookie of a
// queued flow through sock_diag and reads the record — also after the process has exited.
#include "connect_record.h"

#include <bpf/bpf_helpers.h>
#include <linux/bpf.h>

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, WARD_CONNECT_MAP_ENTRIES);
  __type(key, __u64);  // the socket cookie
  __type(value, struct ward_connect_record);
} ward_connects SEC(".maps");

static __always_inline int record(struct bpf_sock_addr* ctx) {
  __u64 cookie = bpf_get_socket_cookie(ctx);
  struct ward_connect_record r = {};
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u64 uid_gid = bpf_get_current_uid_gid();
  r.tgid = (__u32)(pid_tgid >> 32);
  r.pid = (__u32)pid_tgid;
  r.uid = (__u32)uid_gid;
  r.gid = (__u32)(uid_gid >> 32);
  r.cgroup_id = bpf_get_current_cgroup_id();
  bpf_get_current_comm(r.comm, sizeof(r.comm));
  bpf_map_update_elem(&ward_connects, &cookie, &r, BPF_ANY);
  return 1;
}

SEC("cgroup/connect4")
int ward_connect4(struct bpf_sock_addr* ctx) { return record(ctx); }

SEC("cgroup/connect6")
int ward_connect6(struct bpf_sock_addr* ctx) { return record(ctx); }

char LICENSE[] SEC("license") = "GPL";
