// What egress's eBPF cgroup/connect4/6 program records for each connect(), by socket cookie: the
// layout of its map's values, shared by the BPF program (connect_record.bpf.c) and the agent
// (ebpf_attribution.cc). Plain C, fixed-size fields, no padding holes.
#ifndef WARD_EGRESS_BPF_CONNECT_RECORD_H
#define WARD_EGRESS_BPF_CONNECT_RECORD_H

#include <linux/types.h>

#define WARD_CONNECT_COMM_LEN 16
// Entries the LRU map holds: the most recent connects; the agent reads an entry when the flow's
// first payload reaches the queue (milliseconds later), so old ones may go.
#define WARD_CONNECT_MAP_ENTRIES 65536

struct ward_connect_record {
  __u32 tgid;  // the process (what user space calls the pid)
  __u32 pid;   // the thread
  __u32 uid;
  __u32 gid;
  __u64 cgroup_id;  // cgroup v2 id: the inode number of its directory under the cgroup2 mount
  char comm[WARD_CONNECT_COMM_LEN];
};

#endif
