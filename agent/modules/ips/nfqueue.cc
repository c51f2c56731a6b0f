#include "agent/modules/ips/nfqueue.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

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
  const bool v6 = tool == "ip6tables";
  WARD_RETURN_IF_ERROR(must({"-N", kChainIn}));
  WARD_RETURN_IF_ERROR(must({"-N", kChainOut}));
  for (const auto& [chain, rule] : QueueRules(c, v6)) {
    std::vector<std::string> args = {"-A", chain};
    args.insert(args.end(), rule.begin(), rule.end());
    WARD_RETURN_IF_ERROR(must(args));
  }
  WARD_RETURN_IF_ERROR(must({"-I", "INPUT", "1", "-j", kChainIn}));
  WARD_RETURN_IF_ERROR(must({"-I", "OUTPUT", "1", "-j", kChainOut}));
  return Status::Ok();
}

}  // namespace

std::vector<std::pair<std::string, std::vector<std::string>>> QueueRules(const IpsConfig& c,
                                                                         bool v6) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  const int threads = c.EngineThreads();
  const unsigned mask = static_cast<unsigned>(threads - 1);
  auto target = [&](int i) {
    std::vector<std::string> t = {"-j", "NFQUEUE", "--queue-num", std::to_string(c.queue + i)};
    if (c.fail == FailMode::kOpen) t.push_back("--queue-bypass");
    return t;
  };
  for (uint16_t port : c.ports) {
    for (bool in : {true, false}) {
      const std::string chain = in ? kChainIn : kChainOut;
      const std::vector<std::string> match = {"-p", "tcp", in ? "--dport" : "--sport",
                                              std::to_string(port)};
      // Segments without payload and without SYN/FIN/RST/URG (pure ACKs, window updates) carry
      // nothing to inspect: they are not queued (an urgent pointer alone changes what the
      // receiver reads later, so URG is always queued). The IP total length must equal the IP plus
      // the TCP header length exactly, for each possible TCP header length (IPv4 without IP
      // options; IPv6 with TCP as the next header). Anything else (options, extension headers) is
      // queued.
      for (unsigned doff = 5; doff <= 15; ++doff) {
        std::vector<std::string> r = match;
        r.insert(r.end(), {"--tcp-flags", "SYN,FIN,RST,URG", "NONE", "-m", "u32", "--u32"});
        r.push_back(
            v6 ? fmt::format("4>>8&0xFF=6&&4>>16=0x{:x}&&52>>28=0x{:x}", doff * 4, doff)
               : fmt::format("0>>24=0x45&&0&0xFFFF=0x{:x}&&32>>28=0x{:x}", 20 + doff * 4, doff));
        r.insert(r.end(), {"-j", "RETURN"});
        out.emplace_back(chain, std::move(r));
      }
      // Engine threads: queue + ((client port >> 1) & (threads - 1)), so both directions of a flow
      // go to the same queue and thread (the kernel's --queue-balance hash uses the addresses only,
      // which puts every flow from one client, or on loopback, in one queue).
      for (int i = 1; i < threads; ++i) {
        std::vector<std::string> r = match;
        // The client's port: the source port of packets in, the destination port of packets out;
        // bits 1.. of it (Linux gives connect() even ports, so bit 0 is nearly always 0).
        std::string port_word =
            v6 ? (in ? "40>>17" : "40>>1") : (in ? "0>>22&0x3C@0>>17" : "0>>22&0x3C@0>>1");
        r.insert(r.end(), {"-m", "u32", "--u32"});
        r.push_back(v6 ? fmt::format("4>>8&0xFF=6&&{}&0x{:x}=0x{:x}", port_word, mask, i)
                       : fmt::format("{}&0x{:x}=0x{:x}", port_word, mask, i));
        auto t = target(i);
        r.insert(r.end(), t.begin(), t.end());
        out.emplace_back(chain, std::move(r));
      }
      // Thread 0: the remaining client ports, and whatever the rules above could not place.
      std::vector<std::string> r = match;
      auto t = target(0);
      r.insert(r.end(), t.begin(), t.end());
      out.emplace_back(chain, std::move(r));
    }
  }
  return out;
}

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

Result<std::unique_ptr<NfQueue>> NfQueue::Open(uint16_t queue, bool fail_open,
                                               VerdictFirst verdict_first, Handler handler) {
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
  const uint32_t info = nfq_get_skbinfo(nfa);
  const bool verify =
      (info & NFQA_SKB_CSUM_NOTVERIFIED) != 0 && (info & NFQA_SKB_CSUMNOTREADY) == 0;
  const bool first =
      self->verdict_first_ == VerdictFirst::kAll ||
      (self->verdict_first_ == VerdictFirst::kOutbound && ph->hook == NF_INET_LOCAL_OUT);
  if (first) {
    int rc = nfq_set_verdict(qh, id, NF_ACCEPT, 0, nullptr);
    if (len > 0 && payload != nullptr) {
      self->copy_.assign(reinterpret_cast<const char*>(payload), static_cast<size_t>(len));
      self->handler_(self->copy_, verify);
    }
    return rc;
  }
  bool accept = true;
  if (len > 0 && payload != nullptr) {
    accept = self->handler_(
        std::string_view(reinterpret_cast<const char*>(payload), static_cast<size_t>(len)), verify);
  }
  return nfq_set_verdict(qh, id, accept ? NF_ACCEPT : NF_DROP, 0, nullptr);
}

Status NfQueue::Run(std::stop_token stop, const std::function<bool()>& idle) {
  int fd = nfq_fd(h_);
  // Blocking reads that time out every 100 ms (for `stop` and idle()): one recv per packet, no
  // poll and no EAGAIN round per wake-up.
  timeval tv{0, 100'000};
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
    return ErrnoStatus(errno, "NFQUEUE receive timeout");
  }
  std::vector<char> buf(256 * 1024);
  auto last_idle = std::chrono::steady_clock::now();
  while (!stop.stop_requested()) {
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n > 0) {
      nfq_handle_packet(h_, buf.data(), static_cast<int>(n));
    } else if (n < 0 && errno == ENOBUFS) {
      spdlog::warn("ips: NFQUEUE overrun (packets were handled by the fail policy)");
    } else if (n < 0 && (errno == EBADF || errno == ENOTSOCK || errno == EINVAL)) {
      return ErrnoStatus(errno, "recv NFQUEUE");
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      // Anything else is taken as transient (as a timeout): the queue keeps being read.
      spdlog::warn("ips: recv NFQUEUE: {}", std::strerror(errno));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // no busy loop
    }
    auto now = std::chrono::steady_clock::now();
    if (n <= 0 || now - last_idle >= std::chrono::milliseconds(100)) {
      last_idle = now;
      if (idle && idle()) break;
    }
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
