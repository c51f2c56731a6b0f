// An open-loop HTTP/1.1 load generator at a fixed request rate (what wrk2 does; wrk2 is not in
// Debian): request i is due at start + i / rate whatever happened to the earlier ones, and its
// latency is counted from that due time, so a stalled server shows in the percentiles instead of
// slowing the load down (no coordinated omission). Keep-alive connections from a pool, opened as
// needed up to --connections; a request that finds every connection busy waits for one, its
// clock running. The requests are a fixed, repeating mix: a 10-parameter GET, a 1 KB URL-encoded
// form POST and a JSON POST (7:2:1).
//
// Usage: ips_fixed_rate --port P [--host 127.0.0.1] [--rate 1000] [--seconds 20] [--warmup 2]
//                       [--connections 64]
// Prints one line: sent, completed, non-2xx, errors (connection closed or reset with a request
// in flight), unanswered (still waiting 5 s after the last was due: the server could not keep
// the rate, and the percentiles are lower bounds), the rate served after warm-up, and
// p50/p90/p99/p99.9/max latency in ms (warm-up excluded).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace {

int64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  double rate = 1000;
  double seconds = 20;
  double warmup = 2;
  int connections = 64;
};

struct Request {
  int64_t due_ns;
  size_t kind;
  bool measured;
};

struct Conn {
  int fd = -1;
  bool busy = false;
  Request req{};
  std::string out;
  size_t out_off = 0;
  std::string in;
};

std::vector<std::string> MakeRequests(const Options& o) {
  const std::string host = "Host: localhost:" + std::to_string(o.port) + "\r\n";
  const std::string common = host +
                             "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0\r\n"
                             "Accept: text/html,application/xhtml+xml\r\n"
                             "Accept-Language: en-US,en;q=0.5\r\n";
  std::string get = "GET /index.html?";
  for (int i = 1; i <= 10; ++i) {
    get += (i > 1 ? "&" : "") + std::string("a") + std::to_string(i) + "=value" + std::to_string(i);
  }
  get += " HTTP/1.1\r\n" + common + "\r\n";
  std::string form;
  for (int i = 0; form.size() < 1000; ++i) {
    form += (i ? "&" : "") + std::string("field") + std::to_string(i) +
            "=Some+ordinary+text+value+number+" + std::to_string(i);
  }
  std::string json = "{\"order\":{\"id\":4711,\"items\":[";
  for (int i = 0; json.size() < 700; ++i) {
    json += (i ? "," : "") + std::string("{\"sku\":\"item-") + std::to_string(i) +
            "\",\"qty\":" + std::to_string(i % 5 + 1) + ",\"note\":\"gift wrap please\"}";
  }
  json += "]}}";
  auto post = [&](const char* type, const std::string& body) {
    return "POST /form HTTP/1.1\r\n" + common + "Content-Type: " + type +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  return {get, post("application/x-www-form-urlencoded", form), post("application/json", json)};
}

// The request kind of the i-th request: 7 GETs, 2 form POSTs, 1 JSON POST in every 10.
size_t KindOf(uint64_t i) {
  static constexpr size_t kMix[10] = {0, 0, 1, 0, 0, 2, 0, 0, 1, 0};
  return kMix[i % 10];
}

// Bytes of a complete response at the start of `in`, or 0 when not complete yet; -1 when it
// cannot be framed (no Content-Length).
long ResponseLength(const std::string& in, int* status) {
  const size_t head_end = in.find("\r\n\r\n");
  if (head_end == std::string::npos) return 0;
  if (in.size() < 12) return -1;
  *status = std::atoi(in.c_str() + 9);
  size_t length = 0;
  bool found = false;
  size_t pos = in.find("\r\n");
  while (pos < head_end) {
    const size_t next = in.find("\r\n", pos + 2);
    const std::string_view line(in.data() + pos + 2, next - pos - 2);
    constexpr std::string_view kName = "content-length:";
    if (line.size() > kName.size()) {
      bool eq = true;
      for (size_t k = 0; k < kName.size(); ++k) {
        if (std::tolower(static_cast<unsigned char>(line[k])) != kName[k]) eq = false;
      }
      if (eq) {
        length = std::strtoul(std::string(line.substr(kName.size())).c_str(), nullptr, 10);
        found = true;
      }
    }
    pos = next;
  }
  if (!found) return -1;
  const size_t total = head_end + 4 + length;
  return in.size() >= total ? static_cast<long>(total) : 0;
}

int Usage() {
  std::fprintf(stderr,
               "usage: ips_fixed_rate --port P [--host H] [--rate R] [--seconds S] [--warmup S] "
               "[--connections N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--host") {
      o.host = v;
    } else if (k == "--port") {
      o.port = std::atoi(v);
    } else if (k == "--rate") {
      o.rate = std::atof(v);
    } else if (k == "--seconds") {
      o.seconds = std::atof(v);
    } else if (k == "--warmup") {
      o.warmup = std::atof(v);
    } else if (k == "--connections") {
      o.connections = std::atoi(v);
    } else {
      return Usage();
    }
  }
  if (o.port <= 0 || o.rate <= 0 || o.seconds <= 0 || o.connections <= 0) return Usage();
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(o.port));
  if (inet_pton(AF_INET, o.host.c_str(), &addr.sin_addr) != 1) return Usage();

  const std::vector<std::string> requests = MakeRequests(o);
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<Conn> conns(static_cast<size_t>(o.connections));
  std::deque<Request> waiting;
  std::vector<int64_t> latencies;
  uint64_t served = 0;  // measured requests answered
  uint64_t sent = 0, completed = 0, non2xx = 0, errors = 0, unanswered = 0;

  const auto period_ns = static_cast<int64_t>(1e9 / o.rate);
  const auto warm_n = static_cast<uint64_t>(o.warmup * o.rate);
  const uint64_t total_n = warm_n + static_cast<uint64_t>(o.seconds * o.rate);
  latencies.reserve(total_n);
  const int64_t start = NowNs() + 10000000;  // 10 ms from now
  int64_t measure_start = start + static_cast<int64_t>(warm_n) * period_ns;
  uint64_t next = 0;

  auto close_conn = [&](Conn& c) {
    if (c.fd >= 0) {
      epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
      close(c.fd);
    }
    c.fd = -1;
    c.in.clear();
    c.out.clear();
    c.out_off = 0;
    if (c.busy) ++errors;
    c.busy = false;
  };
  auto flush = [&](Conn& c) {
    while (c.out_off < c.out.size()) {
      const ssize_t n =
          send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN) break;
        close_conn(c);
        return;
      }
      c.out_off += static_cast<size_t>(n);
    }
    epoll_event ev{};
    ev.events = EPOLLIN | (c.out_off < c.out.size() ? uint32_t{EPOLLOUT} : uint32_t{0});
    ev.data.u64 = static_cast<uint64_t>(&c - conns.data());
    epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
  };
  auto open_conn = [&](Conn& c) {
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c.fd < 0 || connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      if (c.fd >= 0) close(c.fd);
      c.fd = -1;
      return false;
    }
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<uint64_t>(&c - conns.data());
    epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    return true;
  };
  // Gives waiting requests to idle connections (opening them as needed).
  auto dispatch = [&] {
    for (Conn& c : conns) {
      if (waiting.empty()) return;
      if (c.busy) continue;
      if (c.fd < 0 && !open_conn(c)) {
        ++errors;  // the request is dropped: the server refused the connection
        waiting.pop_front();
        continue;
      }
      c.busy = true;
      c.req = waiting.front();
      waiting.pop_front();
      c.out = requests[c.req.kind];
      c.out_off = 0;
      ++sent;
      flush(c);
    }
  };
  std::vector<epoll_event> events(static_cast<size_t>(o.connections));
  char buf[65536];
  for (;;) {
    int64_t now = NowNs();
    while (next < total_n && start + static_cast<int64_t>(next) * period_ns <= now) {
      waiting.push_back(
          {start + static_cast<int64_t>(next) * period_ns, KindOf(next), next >= warm_n});
      ++next;
    }
    dispatch();
    const bool idle =
        std::none_of(conns.begin(), conns.end(), [](const Conn& c) { return c.busy; });
    if (next >= total_n && waiting.empty() && idle) break;
    // Stop waiting 5 s after the last request was due: a request still unanswered then (the
    // server could not keep the rate) counts with the time it waited so far — a lower bound, so
    // the percentiles are lower bounds when `unanswered` is above 0.
    if (next >= total_n && now > start + static_cast<int64_t>(total_n) * period_ns + 5000000000) {
      for (Conn& c : conns) {
        if (c.busy && c.req.measured) latencies.push_back(now - c.req.due_ns);
        if (c.busy) ++unanswered;
        c.busy = false;
        close_conn(c);
      }
      for (const Request& r : waiting) {
        if (r.measured) latencies.push_back(now - r.due_ns);
      }
      unanswered += waiting.size();
      waiting.clear();
      break;
    }
    timespec timeout{0, 1000000};
    if (next < total_n) {
      const int64_t wait = start + static_cast<int64_t>(next) * period_ns - now;
      timeout.tv_nsec = std::clamp<int64_t>(wait, 0, 999999999);
    }
    const int n =
        epoll_pwait2(ep, events.data(), static_cast<int>(events.size()), &timeout, nullptr);
    for (int e = 0; e < n; ++e) {
      Conn& c = conns[events[static_cast<size_t>(e)].data.u64];
      if (c.fd < 0) continue;
      if (events[static_cast<size_t>(e)].events & EPOLLOUT) flush(c);
      if (c.fd < 0) continue;
      if (!(events[static_cast<size_t>(e)].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) continue;
      bool closed = false;
      for (;;) {
        const ssize_t r = recv(c.fd, buf, sizeof(buf), 0);
        if (r > 0) {
          c.in.append(buf, static_cast<size_t>(r));
          continue;
        }
        if (r < 0 && errno == EAGAIN) break;
        closed = true;
        break;
      }
      int status = 0;
      const long len = c.busy ? ResponseLength(c.in, &status) : 0;
      if (len > 0) {
        const int64_t done = NowNs();
        ++completed;
        if (status < 200 || status > 299) ++non2xx;
        if (c.req.measured) {
          latencies.push_back(done - c.req.due_ns);
          ++served;
        }
        c.in.erase(0, static_cast<size_t>(len));
        c.busy = false;
      } else if (len < 0) {
        closed = true;  // cannot frame it: drop the connection
      }
      if (closed) close_conn(c);
    }
  }
  const double secs = static_cast<double>(NowNs() - measure_start) / 1e9;
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    if (latencies.empty()) return 0.0;
    const auto i = std::min(latencies.size() - 1,
                            static_cast<size_t>(p / 100.0 * static_cast<double>(latencies.size())));
    return static_cast<double>(latencies[i]) / 1e6;
  };
  std::printf(
      "sent %llu completed %llu non2xx %llu errors %llu unanswered %llu served %.1f/s p50 %.3f "
      "p90 %.3f p99 %.3f p99.9 %.3f max %.3f ms\n",
      static_cast<unsigned long long>(sent), static_cast<unsigned long long>(completed),
      static_cast<unsigned long long>(non2xx), static_cast<unsigned long long>(errors),
      static_cast<unsigned long long>(unanswered), static_cast<double>(served) / secs, pct(50),
      pct(90), pct(99), pct(99.9),
      latencies.empty() ? 0.0 : static_cast<double>(latencies.back()) / 1e6);
  close(ep);
  return errors == 0 && unanswered == 0 ? 0 : 1;
}
