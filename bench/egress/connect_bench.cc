// What egress's eBPF process attribution costs (bench/egress/README.md, step 6; not a test).
// Run as root inside a network namespace of its own (`unshare -n`; run.sh does it):
//   1. connect() latency: N TCP connects to a listener on 127.0.0.1 (the three-way handshake
//      completes inside connect() on loopback; SO_LINGER 0 so no TIME_WAIT piles up) and N UDP
//      connect()s (no packet: only the syscall and the cgroup hook) — with no program attached
//      (the anchor) and with egress's cgroup/connect4 program attached to the cgroup2 root,
//      in alternating rounds of the same run so that the machine's load hits both alike. Printed:
//      p50/p90/p99 in microseconds per mode, and the ratios.
//   2. attribution per flow: the time to name the process of one queued flow — eBPF (sock_diag
//      for the cookie + one map lookup + the cgroup path, cached) against the socket-inode lookup
//      (/proc/net/tcp + every /proc/<pid>/fd), on this host's process count.
//
//   egress_connect_bench [--connects N] [--rounds R] [--lookups L]
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "agent/modules/egress/attribution.h"
#include "agent/net/socket_owner.h"

namespace {

using Clock = std::chrono::steady_clock;
using ward::agent::egress::Attribution;
using ward::agent::egress::ConnectTracker;
using ward::agent::egress::FlowKey;
using ward::agent::egress::ProcessAttributor;

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return a;
}

// One connect() of each kind, timed; false on an error.
bool TimeTcp(uint16_t port, std::vector<double>& out) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  sockaddr_in a = Loopback(port);
  auto t0 = Clock::now();
  int r = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  auto t1 = Clock::now();
  ::close(fd);
  if (r != 0) return false;
  out.push_back(Micros(t1 - t0));
  return true;
}

bool TimeUdp(std::vector<double>& out) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = Loopback(9);
  auto t0 = Clock::now();
  int r = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  auto t1 = Clock::now();
  ::close(fd);
  if (r != 0) return false;
  out.push_back(Micros(t1 - t0));
  return true;
}

void Print(const char* what, const std::vector<double>& none, const std::vector<double>& ebpf) {
  const double n50 = Percentile(none, 0.5), n90 = Percentile(none, 0.9),
               n99 = Percentile(none, 0.99);
  const double e50 = Percentile(ebpf, 0.5), e90 = Percentile(ebpf, 0.9),
               e99 = Percentile(ebpf, 0.99);
  fmt::print("{:<12} {:>8} {:>9.2f} {:>9.2f} {:>9.2f}\n", what, "none", n50, n90, n99);
  fmt::print("{:<12} {:>8} {:>9.2f} {:>9.2f} {:>9.2f}\n", what, "ebpf", e50, e90, e99);
  fmt::print("{:<12} {:>8} {:>+9.2f} {:>+9.2f} {:>+9.2f}   (ratio p50 {:.3f}, p99 {:.3f})\n", what,
             "added", e50 - n50, e90 - n90, e99 - n99, e50 / n50, e99 / n99);
}

}  // namespace

int main(int argc, char** argv) {
  int connects = 20000, rounds = 10, lookups = 2000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    int v = std::atoi(argv[i + 1]);
    if (k == "--connects") connects = v;
    if (k == "--rounds") rounds = v;
    if (k == "--lookups") lookups = v;
  }
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = Loopback(0);
  socklen_t len = sizeof a;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listener, 4096) != 0) {
    fmt::print(stderr, "listen: {}\n", std::strerror(errno));
    return 1;
  }
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
  const uint16_t port = ntohs(a.sin_port);
  std::atomic<bool> done{false};
  std::thread acceptor([&] {
    while (!done) {
      int c = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) ::close(c);
    }
  });

  std::vector<double> tcp_none, tcp_ebpf, udp_none, udp_ebpf;
  const int per_round = std::max(1, connects / rounds);
  uint32_t prog_id = 0;
  for (int round = 0; round < rounds; ++round) {
    // Alternate which mode goes first, so neither always follows the other.
    for (int k = 0; k < 2; ++k) {
      const bool ebpf = (round + k) % 2 == 1;
      std::unique_ptr<ConnectTracker> tracker;
      if (ebpf) {
        auto t = ConnectTracker::Attach();
        if (!t) {
          fmt::print(stderr, "eBPF: {}\n", t.error().ToString());
          done = true;
          ::shutdown(listener, SHUT_RDWR);
          acceptor.join();
          return 1;
        }
        tracker = std::move(*t);
        prog_id = tracker->ProgramIds()[0];
      }
      auto& tcp = ebpf ? tcp_ebpf : tcp_none;
      auto& udp = ebpf ? udp_ebpf : udp_none;
      for (int i = 0; i < per_round; ++i) {
        if (!TimeTcp(port, tcp) || !TimeUdp(udp)) {
          fmt::print(stderr, "connect: {}\n", std::strerror(errno));
          return 1;
        }
      }
    }
  }
  fmt::print("connect() latency, {} connects per mode in {} alternating rounds (µs)\n",
             tcp_none.size(), rounds);
  fmt::print("{:<12} {:>8} {:>9} {:>9} {:>9}\n", "", "mode", "p50", "p90", "p99");
  Print("tcp connect", tcp_none, tcp_ebpf);
  Print("udp connect", udp_none, udp_ebpf);
  fmt::print("(program id of the last eBPF round: {})\n", prog_id);

  // Attribution per flow: one connected socket, named `lookups` times each way.
  auto tracker = ConnectTracker::Attach();
  if (!tracker) {
    fmt::print(stderr, "eBPF: {}\n", tracker.error().ToString());
    return 1;
  }
  ProcessAttributor ebpf(std::move(*tracker));
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in dst = Loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) return 1;
  sockaddr_in local{};
  len = sizeof local;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
  FlowKey flow{"tcp", *ward::net::ParseIp("127.0.0.1"), *ward::net::ParseIp("127.0.0.1"),
               ntohs(local.sin_port), port};
  std::vector<double> t_ebpf, t_socket;
  for (int i = 0; i < lookups; ++i) {
    auto t0 = Clock::now();
    auto p = ebpf.Attribute(flow);
    auto t1 = Clock::now();
    if (p.attribution != Attribution::kEbpf) {
      fmt::print(stderr, "eBPF attribution failed\n");
      return 1;
    }
    t_ebpf.push_back(Micros(t1 - t0));
  }
  // The socket-inode lookups after, not interleaved: their /proc scans would evict the eBPF
  // path's caches, which the agent (that does not scan /proc when eBPF works) does not see.
  for (int i = 0; i < lookups; ++i) {
    auto t0 = Clock::now();
    auto o = ward::net::SocketOwner("tcp", flow.local_port);
    auto t1 = Clock::now();
    if (!o) {
      fmt::print(stderr, "socket-inode attribution failed\n");
      return 1;
    }
    t_socket.push_back(Micros(t1 - t0));
  }
  size_t processes = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string n = e.path().filename().string();
    if (!n.empty() && std::all_of(n.begin(), n.end(), ::isdigit)) ++processes;
  }
  fmt::print("\nattribution of one flow, {} lookups each, {} processes on the host (µs)\n", lookups,
             processes);
  fmt::print("{:<12} {:>9} {:>9} {:>9}\n", "", "p50", "p90", "p99");
  fmt::print("{:<12} {:>9.2f} {:>9.2f} {:>9.2f}\n", "ebpf", Percentile(t_ebpf, 0.5),
             Percentile(t_ebpf, 0.9), Percentile(t_ebpf, 0.99));
  fmt::print("{:<12} {:>9.2f} {:>9.2f} {:>9.2f}\n", "socket", Percentile(t_socket, 0.5),
             Percentile(t_socket, 0.9), Percentile(t_socket, 0.99));
  auto slow = [](const std::vector<double>& v) {
    return std::count_if(v.begin(), v.end(), [](double x) { return x > 1000; });
  };
  fmt::print("over 1 ms: ebpf {}, socket {} (of {}); max: ebpf {:.0f}, socket {:.0f}\n",
             slow(t_ebpf), slow(t_socket), lookups, *std::max_element(t_ebpf.begin(), t_ebpf.end()),
             *std::max_element(t_socket.begin(), t_socket.end()));
  // sock_diag alone: the cookie of the flow.
  std::vector<double> t_cookie;
  for (int i = 0; i < lookups; ++i) {
    auto t0 = Clock::now();
    auto c = ward::agent::egress::SocketCookie(flow);
    auto t1 = Clock::now();
    if (!c) return 1;
    t_cookie.push_back(Micros(t1 - t0));
  }
  fmt::print("{:<12} {:>9.2f} {:>9.2f} {:>9.2f}   (sock_diag alone; over 1 ms: {})\n", "cookie",
             Percentile(t_cookie, 0.5), Percentile(t_cookie, 0.9), Percentile(t_cookie, 0.99),
             slow(t_cookie));
  // The parts of the eBPF path: the map lookup and the executable's link.
  std::vector<double> t_map, t_exe;
  auto cookie = ward::agent::egress::SocketCookie(flow);
  for (int i = 0; i < lookups && cookie; ++i) {
    auto t0 = Clock::now();
    auto r = ebpf.tracker()->Find(*cookie);
    auto t1 = Clock::now();
    std::error_code ec;
    auto exe = std::filesystem::read_symlink(fmt::format("/proc/{}/exe", ::getpid()), ec);
    auto t2 = Clock::now();
    if (!r || ec) return 1;
    t_map.push_back(Micros(t1 - t0));
    t_exe.push_back(Micros(t2 - t1));
  }
  fmt::print("{:<12} {:>9.2f} {:>9.2f} {:>9.2f}   (map lookup alone)\n", "map",
             Percentile(t_map, 0.5), Percentile(t_map, 0.9), Percentile(t_map, 0.99));
  fmt::print("{:<12} {:>9.2f} {:>9.2f} {:>9.2f}   (/proc/<pid>/exe alone; over 1 ms: {})\n", "exe",
             Percentile(t_exe, 0.5), Percentile(t_exe, 0.9), Percentile(t_exe, 0.99), slow(t_exe));
  ::close(fd);
  done = true;
  ::shutdown(listener, SHUT_RDWR);
  acceptor.join();
  ::close(listener);
  return 0;
}
