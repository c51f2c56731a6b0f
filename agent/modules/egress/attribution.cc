#include "agent/modules/egress/attribution.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "agent/net/socket_owner.h"
#include "common/log.h"

namespace ward::agent::egress {
namespace {

// A descriptor closed on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// The kernfs file handle type: a cgroup's id is its handle (what name_to_handle_at gives).
constexpr int kFileIdKernfs = 0xfe;

// The cache of cgroup paths holds at most this many (a host runs far fewer units).
constexpr size_t kMaxCgroupPaths = 4096;

}  // namespace

std::string_view AttributionName(Attribution a) {
  switch (a) {
    case Attribution::kEbpf:
      return "ebpf";
    case Attribution::kSocket:
      return "socket";
    case Attribution::kNone:
      break;
  }
  return "none";
}

Result<uint64_t> SocketCookie(const FlowKey& flow) {
  const bool udp = flow.transport == "udp";
  if (!udp && flow.transport != "tcp") return InvalidArgument("transport must be tcp or udp");
  Fd fd(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (fd.get() < 0) return ErrnoStatus(errno, "sock_diag socket");
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } msg{};
  msg.nlh.nlmsg_len = sizeof(msg);
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST;
  msg.nlh.nlmsg_seq = 1;
  msg.req.sdiag_family = flow.local.v6 ? AF_INET6 : AF_INET;
  msg.req.sdiag_protocol = udp ? IPPROTO_UDP : IPPROTO_TCP;
  msg.req.idiag_states = ~0U;
  // TCP looks the socket up as (src, sport) = the local end; UDP's exact lookup takes the remote
  // end as the source (the receive path's view: udp_dump_one).
  const net::IpAddress& src = udp ? flow.remote : flow.local;
  const net::IpAddress& dst = udp ? flow.local : flow.remote;
  msg.req.id.idiag_sport = htons(udp ? flow.remote_port : flow.local_port);
  msg.req.id.idiag_dport = htons(udp ? flow.local_port : flow.remote_port);
  const size_t len = flow.local.v6 ? 16 : 4;
  std::memcpy(msg.req.id.idiag_src, src.bytes.data(), len);
  std::memcpy(msg.req.id.idiag_dst, dst.bytes.data(), len);
  msg.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  msg.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd.get(), &msg, sizeof(msg), 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof(kernel)) < 0) {
    return ErrnoStatus(errno, "sock_diag request");
  }
  alignas(nlmsghdr) char buf[8192];
  ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
  if (n < 0) return ErrnoStatus(errno, "sock_diag reply");
  auto* h = reinterpret_cast<nlmsghdr*>(buf);
  for (int left = static_cast<int>(n); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
    if (h->nlmsg_type == NLMSG_ERROR) {
      const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
      if (err->error == -ENOENT) return NotFound("no such socket");
      return ErrnoStatus(-err->error, "sock_diag");
    }
    if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
        h->nlmsg_len >= NLMSG_LENGTH(sizeof(inet_diag_msg))) {
      const auto* d = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      return static_cast<uint64_t>(d->id.idiag_cookie[0]) |
             (static_cast<uint64_t>(d->id.idiag_cookie[1]) << 32);
    }
  }
  return NotFound("no such socket");
}

std::string UnitOfCgroupPath(std::string_view path) {
  std::string unit;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part.ends_with(".service") || part.ends_with(".scope")) unit = std::string(part);
    start = end + 1;
  }
  return unit;
}

ProcessAttributor::ProcessAttributor(std::unique_ptr<ConnectTracker> tracker)
    : tracker_(std::move(tracker)) {}

std::unique_ptr<ProcessAttributor> ProcessAttributor::Open(bool try_ebpf) {
  if (!try_ebpf) {
    auto a = std::make_unique<ProcessAttributor>(nullptr);
    a->fallback_reason_ = "the policy says attribution: socket";
    return a;
  }
  auto tracker = ConnectTracker::Attach();
  if (!tracker) {
    spdlog::warn("egress: no eBPF process attribution, using the socket-inode lookup: {}",
                 tracker.error().ToString());
    auto a = std::make_unique<ProcessAttributor>(nullptr);
    a->fallback_reason_ = tracker.error().ToString();
    return a;
  }
  spdlog::info("egress: process attribution by eBPF cgroup/connect4/6 on {}",
               (*tracker)->cgroup_root());
  return std::make_unique<ProcessAttributor>(std::move(*tracker));
}

std::string ProcessAttributor::CgroupPath(uint64_t id) const {
  {
    std::lock_guard lock(mu_);
    if (auto it = cgroup_paths_.find(id); it != cgroup_paths_.end()) return it->second;
  }
  std::string path = LookUpCgroupPath(tracker_->cgroup_root(), id);
  // Cached also when not found: cgroup ids are never reused, a gone cgroup stays gone.
  std::lock_guard lock(mu_);
  if (cgroup_paths_.size() >= kMaxCgroupPaths) cgroup_paths_.clear();
  cgroup_paths_[id] = path;
  return path;
}

std::string ProcessAttributor::LookUpCgroupPath(const std::string& root, uint64_t id) {
  Fd mount(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (mount.get() < 0) return "";
  alignas(file_handle) unsigned char buf[sizeof(file_handle) + sizeof(uint64_t)] = {};
  auto* fh = reinterpret_cast<file_handle*>(buf);
  fh->handle_bytes = sizeof(uint64_t);
  fh->handle_type = kFileIdKernfs;
  std::memcpy(buf + sizeof(file_handle), &id, sizeof(id));
  Fd dir(::open_by_handle_at(mount.get(), fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) return "";  // the cgroup is gone (ESTALE)
  std::error_code ec;
  std::string full =
      std::filesystem::read_symlink(fmt::format("/proc/self/fd/{}", dir.get()), ec).string();
  if (ec || !full.starts_with(root)) return "";
  std::string path = full.substr(root.size());
  return path.empty() ? "/" : path;
}

std::optional<ProcessInfo> ProcessAttributor::FromEbpf(const FlowKey& flow) const {
  auto cookie = SocketCookie(flow);
  if (!cookie) return std::nullopt;
  auto r = tracker_->Find(*cookie);
  if (!r) return std::nullopt;
  ProcessInfo p;
  p.attribution = Attribution::kEbpf;
  p.pid = r->pid;
  p.tid = r->tid;
  p.uid = r->uid;
  p.comm = r->comm;
  std::error_code ec;
  auto exe = std::filesystem::read_symlink(fmt::format("/proc/{}/exe", r->pid), ec);
  if (!ec) p.executable = exe.string();
  p.cgroup = CgroupPath(r->cgroup_id);
  p.systemd_unit = UnitOfCgroupPath(p.cgroup);
  return p;
}

ProcessInfo ProcessAttributor::Attribute(const FlowKey& flow) const {
  if (tracker_) {
    if (auto p = FromEbpf(flow)) return *p;
  }
  ProcessInfo p;
  if (auto owner = net::SocketOwner(flow.transport, flow.local_port)) {
    p.attribution = Attribution::kSocket;
    p.pid = owner->pid;
    p.executable = owner->executable;
    p.systemd_unit = owner->systemd_unit;
  }
  return p;
}

}  // namespace ward::agent::egress
