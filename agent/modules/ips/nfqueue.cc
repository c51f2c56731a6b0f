#include "agent/modules/ips/nfqueue.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"

extern char** environ;

namespace ward::agent::ips {
namespace {

constexpr const char* kChainIn = "WARD_IPS_IN";
constexpr const char* kChainOut = "WARD_IPS_OUT";

// Runs a command quietly; returns its exit code (-1 when it could not run).
int RunQuiet(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void RemoveFor(const std::string& tool) {
  for (int i = 0; i < 16 && RunQuiet({tool, "-w", "-D", "INPUT", "-j", kChainIn}) == 0; ++i) {
  }
  for (int i = 0; i < 16 && RunQuiet({tool, "-w", "-D", "OUTPUT", "-j", kChainOut}) == 0; ++i) {
  }
  for (const char* chain : {kChainIn, kChainOut}) {
    RunQuiet({tool, "-w", "-F", chain});
    RunQuiet({tool, "-w", "-X", chain});
  }
}

Status InstallFor(const std::string& tool, const IpsConfig& c) {
  auto must = [&](std::vector<std::string> args) -> Status {
    args.insert(args.begin(), {tool, "-w"});
    if (RunQuiet(args) != 0) {
      std::string cmd;
      for (const auto& a : args) cmd += (cmd.empty() ? "" : " ") + a;
      return Unavailable(fmt::format("ips: `{}` failed", cmd));
    }
    return Status::Ok();
  };
  WARD_RETURN_IF_ERROR(must({"-N", kChainIn}));
  WARD_RETURN_IF_ERROR(must({"-N", kChainOut}));
  for (uint16_t port : c.ports) {
    std::vector<std::string> target = {"-j", "NFQUEUE", "--queue-num", std::to_string(c.queue)};
    if (c.fail == FailMode::kOpen) target.push_back("--queue-bypass");
    std::vector<std::string> in = {"-A", kChainIn, "-p", "tcp", "--dport", std::to_string(port)};
    in.insert(in.end(), target.begin(), target.end());
    WARD_RETURN_IF_ERROR(must(in));
    std::vector<std::string> out = {"-A", kChainOut, "-p", "tcp", "--sport", std::to_string(port)};
    out.insert(out.end(), target.begin(), target.end());
    WARD_RETURN_IF_ERROR(must(out));
  }
  WARD_RETURN_IF_ERROR(must({"-I", "INPUT", "1", "-j", kChainIn}));
  WARD_RETURN_IF_ERROR(must({"-I", "OUTPUT", "1", "-j", kChainOut}));
  return Status::Ok();
}

}  // namespace

Status InstallIptablesRules(const IpsConfig& config) {
  RemoveIptablesRules();
  Status s = InstallFor("iptables", config);
  if (s.ok()) {
    Status s6 = InstallFor("ip6tables", config);
    if (!s6.ok()) spdlog::warn("ips: IPv6 traffic is not inspected: {}", s6.ToString());
  }
  if (!s.ok()) RemoveIptablesRules();
  return s;
}

void RemoveIptablesRules() {
  RemoveFor("iptables");
  RemoveFor("ip6tables");
}

Result<std::unique_ptr<NfQueue>> NfQueue::Open(uint16_t queue, bool fail_open, bool verdict_first,
                                               Handler handler) {
  auto q = std::unique_ptr<NfQueue>(new NfQueue());
  q->verdict_first_ = verdict_first;
  q->handler_ = std::move(handler);
  q->h_ = nfq_open();
  if (q->h_ == nullptr) return ErrnoStatus(errno, "nfq_open");
  q->qh_ = nfq_create_queue(q->h_, queue, &NfQueue::Callback, q.get());
  if (q->qh_ == nullptr) {
    return ErrnoStatus(errno, fmt::format("NFQUEUE {}: bind (is another agent running?)", queue));
  }
  if (nfq_set_mode(q->qh_, NFQNL_COPY_PACKET, 0xffff) < 0) {
    return ErrnoStatus(errno, "nfq_set_mode");
  }
  nfq_set_queue_maxlen(q->qh_, 8192);
  uint32_t flags = fail_open ? NFQA_CFG_F_FAIL_OPEN : 0;
  if (nfq_set_queue_flags(q->qh_, NFQA_CFG_F_FAIL_OPEN, flags) < 0 && fail_open) {
    return ErrnoStatus(errno, "NFQUEUE fail-open flag");
  }
  int fd = nfq_fd(q->h_);
  int size = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  return q;
}

NfQueue::~NfQueue() {
  if (qh_ != nullptr) nfq_destroy_queue(qh_);
  if (h_ != nullptr) nfq_close(h_);
}

int NfQueue::Callback(nfq_q_handle* qh, ::nfgenmsg* /*msg*/, ::nfq_data* nfa, void* data) {
  auto* self = static_cast<NfQueue*>(data);
  nfqnl_msg_packet_hdr* ph = nfq_get_msg_packet_hdr(nfa);
  if (ph == nullptr) return 0;
  uint32_t id = ntohl(ph->packet_id);
  unsigned char* payload = nullptr;
  int len = nfq_get_payload(nfa, &payload);
  if (self->verdict_first_) {
    int rc = nfq_set_verdict(qh, id, NF_ACCEPT, 0, nullptr);
    if (len > 0 && payload != nullptr) {
      self->copy_.assign(reinterpret_cast<const char*>(payload), static_cast<size_t>(len));
      self->handler_(self->copy_);
    }
    return rc;
  }
  bool accept = true;
  if (len > 0 && payload != nullptr) {
    accept = self->handler_(
        std::string_view(reinterpret_cast<const char*>(payload), static_cast<size_t>(len)));
  }
  return nfq_set_verdict(qh, id, accept ? NF_ACCEPT : NF_DROP, 0, nullptr);
}

Status NfQueue::Run(std::stop_token stop, const std::function<bool()>& idle) {
  int fd = nfq_fd(h_);
  std::vector<char> buf(256 * 1024);
  while (!stop.stop_requested()) {
    pollfd p{fd, POLLIN, 0};
    int rc = ::poll(&p, 1, 100);
    if (rc < 0 && errno != EINTR) return ErrnoStatus(errno, "poll NFQUEUE");
    if (rc > 0) {
      for (int i = 0; i < 64; ++i) {
        ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n < 0) {
          if (errno == ENOBUFS) {
            spdlog::warn("ips: NFQUEUE overrun (packets were handled by the fail policy)");
            continue;
          }
          break;
        }
        nfq_handle_packet(h_, buf.data(), static_cast<int>(n));
      }
    }
    if (idle && idle()) break;
  }
  return Status::Ok();
}

RawSender::RawSender() {
  fd4_ = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
  fd6_ = ::socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
}

RawSender::~RawSender() {
  if (fd4_ >= 0) ::close(fd4_);
  if (fd6_ >= 0) ::close(fd6_);
}

bool RawSender::Send(std::string_view pkt, bool v6) {
  if (v6) {
    if (fd6_ < 0 || pkt.size() < 40) return false;
    sockaddr_in6 to{};
    to.sin6_family = AF_INET6;
    std::memcpy(&to.sin6_addr, pkt.data() + 24, 16);
    return ::sendto(fd6_, pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
           static_cast<ssize_t>(pkt.size());
  }
  if (fd4_ < 0 || pkt.size() < 20) return false;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  std::memcpy(&to.sin_addr, pkt.data() + 16, 4);
  return ::sendto(fd4_, pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
         static_cast<ssize_t>(pkt.size());
}

}  // namespace ward::agent::ips
