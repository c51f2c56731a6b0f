// Test helper: the servers and clients of egress's network-namespace tests (a DNS server with a
// fixed table, an HTTP server, a background process, a DNS lookup), shared by
// egress_netns_test.cc and tests/egress_agent_test.cc. Not linked into the agent.
#pragma once

#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "agent/modules/egress/dns_message.h"
#include "agent/modules/egress/dns_test_util.h"

namespace ward::agent::egress::test {

using namespace std::chrono_literals;

inline constexpr const char* kResolver = "10.9.0.53";
inline constexpr const char* kCdn = "10.9.0.80";  // one address for several names (a CDN)

inline sockaddr_in Addr(const std::string& ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

// A DNS server on kResolver:53 answering A queries from a fixed table (every name it knows).
class DnsServer {
 public:
  explicit DnsServer(std::map<std::string, std::string> names) : names_(std::move(names)) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = Addr(kResolver, 53);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
    thread_ = std::jthread([this](std::stop_token stop) {
      char buf[1500];
      while (!stop.stop_requested()) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 100) != 1) continue;
        sockaddr_in from{};
        socklen_t len = sizeof from;
        ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n <= 0) continue;
        auto q = ParseDnsMessage(std::string_view(buf, static_cast<size_t>(n)));
        if (!q || q->questions.empty()) continue;
        auto it = names_.find(q->questions[0].name);
        std::vector<std::pair<std::string, std::string>> answers;
        if (it != names_.end()) answers.push_back({"", it->second});
        std::string r = DnsResponse(q->id, q->questions[0].name, kDnsTypeA, answers);
        ::sendto(fd_, r.data(), r.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
      }
    });
  }
  ~DnsServer() {
    thread_ = {};
    ::close(fd_);
  }

 private:
  std::map<std::string, std::string> names_;
  int fd_ = -1;
  std::jthread thread_;
};

// What a client learns asking kResolver for `name`: the rcode and the addresses (rcode -1: no
// answer within a second).
struct Lookup {
  int rcode = -1;
  std::vector<std::string> addresses;
};
inline Lookup Resolve(const std::string& name) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = Addr(kResolver, 53);
  std::string q = DnsQuery(0x5151, name, kDnsTypeA);
  ::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  Lookup out;
  pollfd p{fd, POLLIN, 0};
  char buf[1500];
  if (::poll(&p, 1, 1000) == 1) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (auto m = ParseDnsMessage(std::string_view(buf, n > 0 ? static_cast<size_t>(n) : 0))) {
      out.rcode = m->rcode;
      for (const auto& r : m->answers) {
        if (!r.data.empty()) out.addresses.push_back(r.data);
      }
    }
  }
  ::close(fd);
  return out;
}

// A DNS server over TCP on kResolver:53 (RFC 7766 framing) answering A queries from a fixed table.
// With set_split(true) each answer is sent in two segments (the first 20 bytes, then — once the
// client has acknowledged them — the rest), as a server with a small MSS or a slow writer does.
class DnsTcpServer {
 public:
  explicit DnsTcpServer(std::map<std::string, std::string> names) : names_(std::move(names)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in a = Addr(kResolver, 53);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
    EXPECT_EQ(::listen(fd_, 16), 0);
    thread_ = std::jthread([this](std::stop_token stop) {
      while (!stop.stop_requested()) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 100) != 1) continue;
        int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        int one = 1;
        ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        std::string in;
        char buf[4096];
        pollfd pc{c, POLLIN, 0};
        while (::poll(&pc, 1, 2000) == 1) {
          ssize_t n = ::recv(c, buf, sizeof buf, 0);
          if (n <= 0) break;
          in.append(buf, static_cast<size_t>(n));
          while (in.size() >= 2) {
            size_t len = (static_cast<uint8_t>(in[0]) << 8) | static_cast<uint8_t>(in[1]);
            if (in.size() < 2 + len) break;
            Answer(c, in.substr(2, len));
            in.erase(0, 2 + len);
          }
        }
        ::close(c);
      }
    });
  }
  ~DnsTcpServer() {
    thread_ = {};
    ::close(fd_);
  }
  void set_split(bool split) { split_ = split; }

 private:
  void Answer(int c, const std::string& query) {
    auto q = ParseDnsMessage(query);
    if (!q || q->questions.empty()) return;
    auto it = names_.find(q->questions[0].name);
    std::vector<std::pair<std::string, std::string>> answers;
    if (it != names_.end()) answers.push_back({"", it->second});
    std::string r = DnsResponse(q->id, q->questions[0].name, kDnsTypeA, answers);
    std::string framed = {static_cast<char>(r.size() >> 8), static_cast<char>(r.size() & 0xFF)};
    framed += r;
    if (!split_) {
      ::send(c, framed.data(), framed.size(), MSG_NOSIGNAL);
      return;
    }
    ::send(c, framed.data(), 20, MSG_NOSIGNAL);
    // The first segment is acknowledged (nothing left in the send queue) before the rest goes.
    auto deadline = std::chrono::steady_clock::now() + 2s;
    int queued = 1;
    while (::ioctl(c, SIOCOUTQ, &queued) == 0 && queued > 0 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);  // polling a condition with a deadline
    }
    ::send(c, framed.data() + 20, framed.size() - 20, MSG_NOSIGNAL);
  }

  std::map<std::string, std::string> names_;
  std::atomic<bool> split_ = false;
  int fd_ = -1;
  std::jthread thread_;
};

// What a client learns asking kResolver for `name` over TCP (rcode -1: no answer within 2 s,
// -2: the connection was reset or closed before a whole answer).
inline Lookup ResolveTcp(const std::string& name) {
  Lookup out;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = Addr(kResolver, 53);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return out;
  }
  std::string q = DnsQuery(0x5252, name, kDnsTypeA);
  std::string framed = {static_cast<char>(q.size() >> 8), static_cast<char>(q.size() & 0xFF)};
  framed += q;
  ::send(fd, framed.data(), framed.size(), MSG_NOSIGNAL);
  std::string in;
  char buf[4096];
  pollfd p{fd, POLLIN, 0};
  while (::poll(&p, 1, 2000) == 1) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      out.rcode = -2;
      break;
    }
    in.append(buf, static_cast<size_t>(n));
    if (in.size() < 2) continue;
    size_t len = (static_cast<uint8_t>(in[0]) << 8) | static_cast<uint8_t>(in[1]);
    if (in.size() < 2 + len) continue;
    if (auto m = ParseDnsMessage(std::string_view(in).substr(2, len))) {
      out.rcode = m->rcode;
      for (const auto& r : m->answers) {
        if (!r.data.empty()) out.addresses.push_back(r.data);
      }
    }
    break;
  }
  ::close(fd);
  return out;
}

// An HTTP server on kCdn:80: "hello" for every request, or `big` bytes when the path is /big.
class HttpServer {
 public:
  HttpServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in a = Addr(kCdn, 80);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
    EXPECT_EQ(::listen(fd_, 64), 0);
    thread_ = std::jthread([this](std::stop_token stop) {
      while (!stop.stop_requested()) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 100) != 1) continue;
        int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        std::string req;
        char buf[4096];
        pollfd pc{c, POLLIN, 0};
        while (req.find("\r\n\r\n") == std::string::npos && ::poll(&pc, 1, 2000) == 1) {
          ssize_t n = ::recv(c, buf, sizeof buf, 0);
          if (n <= 0) break;
          req.append(buf, static_cast<size_t>(n));
        }
        std::string body = req.starts_with("GET /big ") ? std::string(2 << 20, 'x') : "hello";
        std::string resp =
            fmt::format("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                        body.size(), body);
        size_t sent = 0;
        while (sent < resp.size()) {
          ssize_t n = ::send(c, resp.data() + sent, resp.size() - sent, MSG_NOSIGNAL);
          if (n <= 0) break;
          sent += static_cast<size_t>(n);
        }
        ::close(c);
      }
    });
  }
  ~HttpServer() {
    thread_ = {};
    ::close(fd_);
  }

 private:
  int fd_ = -1;
  std::jthread thread_;
};

// A shell command in the background (its own process group), killed when this goes.
class Background {
 public:
  explicit Background(const std::string& command) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~Background() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

 private:
  pid_t pid_ = -1;
};

// True when something accepts TCP connections on ip:port within `timeout`.
inline bool WaitForListener(const std::string& ip, uint16_t port,
                            std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = Addr(ip, port);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(20ms);  // polling a condition with a deadline, not a wait
  }
  return false;
}

}  // namespace ward::agent::egress::test
