// New-connection latency egress adds (bench/egress/README.md; not a test). Run inside a network
// namespace of its own (run.sh does `unshare -n`): an HTTP server on 10.9.1.80:80 and a client
// that makes N sequential connections (connect, GET, read the whole response, close), timing each;
// prints p50/p90/p99/max in microseconds.
//
//   egress_latency_bench --mode none|ward|proxy [--requests N] [--names N] [--proxy PORT]
//                        [--proxy-pid PID] [--then COMMAND]
//
// Also printed: the CPU time the connections cost, per 1,000 connections (this process's user +
// system time over the timed loop — client, server and, in ward mode, the module's queue thread —
// plus, with --proxy-pid, the proxy's); the same number is the share of one core that 1,000 new
// connections a second take. --then runs a shell command after the timed loop while the module (or
// nothing, or the proxy) is still in place: run.sh measures iperf3 throughput with it.
//
// ward: the egress module runs in this process (prevent mode, fail open, NFQUEUE 90) with a
// generated domain list of --names names (default 1,000,000) and the destination's name allowed
// through SNI-less HTTP (Host); proxy: each request goes through an HTTP proxy on
// 127.0.0.1:PORT (Squid with the same names as a dstdomain ACL, started by run.sh).
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/modules/egress/egress_module.h"
#include "common/clock.h"
#include "common/config_node.h"
#include "common/file_system.h"

namespace {

using Clock = std::chrono::steady_clock;

class CountingSink final : public ward::EventSink {
 public:
  void Emit(ward::Event e) override {
    if (e.GetString("event.action") == "rules_applied") ready = true;
    ++events;
  }
  std::atomic<bool> ready{false};
  std::atomic<uint64_t> events{0};
};

sockaddr_in Addr(const char* ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

void Serve(int fd, std::atomic<bool>& stop) {
  const std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
  while (!stop) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) != 1) continue;
    int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    char buf[4096];
    std::string req;
    while (req.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      req.append(buf, static_cast<size_t>(n));
    }
    (void)!::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
    ::close(c);
  }
}

// One request; returns its duration, or a negative duration on failure.
Clock::duration Request(const sockaddr_in& to, const std::string& request) {
  auto t0 = Clock::now();
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0 &&
            ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
                static_cast<ssize_t>(request.size());
  std::string resp;
  char buf[4096];
  while (ok) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    resp.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  auto d = Clock::now() - t0;
  return ok && resp.find(" 200 ") != std::string::npos ? d : -d;
}

// CPU seconds (user + system) of this process, and of `pid` when it is not 0.
double CpuSeconds(int pid) {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  double s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
             static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  if (pid != 0) {
    std::ifstream stat(fmt::format("/proc/{}/stat", pid));
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    // Fields after the command's closing parenthesis: state is field 3, utime 14, stime 15.
    size_t at = text.rfind(')');
    if (at != std::string::npos) {
      std::istringstream rest(text.substr(at + 2));
      std::string field;
      unsigned long long utime = 0, stime = 0;
      for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
      }
      s += static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = "none";
  size_t requests = 5000, names = 1'000'000;
  int proxy_port = 0;
  int proxy_pid = 0;
  std::string then;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--mode")) mode = argv[i + 1];
    if (!std::strcmp(argv[i], "--requests")) requests = std::stoull(argv[i + 1]);
    if (!std::strcmp(argv[i], "--names")) names = std::stoull(argv[i + 1]);
    if (!std::strcmp(argv[i], "--proxy")) proxy_port = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--proxy-pid")) proxy_pid = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--then")) then = argv[i + 1];
  }
  if (std::system("ip link set lo up && ip addr add 10.9.1.80/24 dev lo 2>/dev/null; true") != 0) {
    return 1;
  }
  int srv = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int on = 1;
  ::setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_in a = Addr("10.9.1.80", 80);
  if (::bind(srv, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(srv, 512) != 0) {
    std::perror("bind 10.9.1.80:80");
    return 1;
  }
  std::atomic<bool> stop{false};
  std::thread server(Serve, srv, std::ref(stop));

  CountingSink sink;
  std::unique_ptr<ward::agent::Module> module;
  std::jthread run;
  std::string list = "/tmp/ward-egress-latency-names.txt";
  if (mode == "ward") {
    std::mt19937_64 rng(17);
    std::ofstream out(list);
    for (size_t i = 0; i < names; ++i)
      out << fmt::format("n{:x}.blocked{}.example\n", rng(), i % 97);
    out.close();
    module = ward::agent::egress::Create(ward::agent::ModuleContext{
        sink, ward::RealFileSystem(), ward::SystemClock(), std::filesystem::path("/tmp")});
    auto doc = ward::ConfigNode::FromYaml(
        fmt::format("egress:\n  mode: prevent\n  queue: 90\n  lists: [{{name: bench, format: "
                    "domains, path: {}}}]\n",
                    list),
        "bench.yaml");
    if (!doc) return 1;
    auto t0 = Clock::now();
    if (ward::Status s = module->Configure(*doc->Find("egress"), *doc); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
    std::printf("ward: %zu names loaded in %.2f s\n", names,
                std::chrono::duration<double>(Clock::now() - t0).count());
    run = std::jthread([m = module.get()](std::stop_token st) { m->Run(st); });
    while (!sink.ready) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  sockaddr_in to = a;
  std::string request = "GET /x HTTP/1.1\r\nHost: allowed.example\r\nConnection: close\r\n\r\n";
  if (mode == "proxy") {
    to = Addr("127.0.0.1", static_cast<uint16_t>(proxy_port));
    request =
        "GET http://allowed.example/x HTTP/1.1\r\nHost: allowed.example\r\nConnection: "
        "close\r\n\r\n";
  }
  for (int i = 0; i < 200; ++i) (void)Request(to, request);  // warm-up
  std::vector<double> us;
  size_t failed = 0;
  const double cpu0 = CpuSeconds(proxy_pid);
  for (size_t i = 0; i < requests; ++i) {
    auto d = Request(to, request);
    if (d.count() < 0) {
      ++failed;
      continue;
    }
    us.push_back(std::chrono::duration<double, std::micro>(d).count());
  }
  std::sort(us.begin(), us.end());
  auto pct = [&](double p) {
    return us.empty() ? 0.0 : us[std::min(us.size() - 1, static_cast<size_t>(p * us.size()))];
  };
  const double cpu = CpuSeconds(proxy_pid) - cpu0;
  std::printf(
      "%-6s %zu requests (%zu failed): p50 %.0f us, p90 %.0f us, p99 %.0f us, max %.0f us; "
      "CPU %.0f ms per 1,000 connections\n",
      mode.c_str(), us.size(), failed, pct(0.50), pct(0.90), pct(0.99),
      us.empty() ? 0.0 : us.back(),
      requests == 0 ? 0.0 : cpu * 1e6 / static_cast<double>(requests));
  std::fflush(stdout);
  if (!then.empty() && std::system(then.c_str()) != 0) {
    std::fprintf(stderr, "--then failed: %s\n", then.c_str());
  }
  run = {};
  module.reset();
  stop = true;
  server.join();
  ::close(srv);
  if (mode == "ward") std::remove(list.c_str());
  return 0;
}
