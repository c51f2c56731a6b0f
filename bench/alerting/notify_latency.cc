// Alert notification latency (issue 19: "from event stored to notification sent: p99 < 5 s").
//
// A real SQLite store and the manager's Notifier (default options: 2 workers, 500 ms idle poll)
// deliver to a local receiver: a syslog TCP listener (octet-counted RFC 5424, the syslog
// channel) or a plain HTTP webhook receiver (`--channel webhook`). The producer stores `--alerts`
// alert-opening events at `--rate` per second, each through InsertEventsWithAlerts as ingestion
// does (the outbox row in the same transaction). Latency = the receiver got the message (by alert
// id) − the store's commit returned. Prints one JSON line: p50/p99/max in ms, count, lost.
//
//   build/manager/alerting/manager_notify_latency_bench --alerts 500 --rate 50 --channel syslog
#include <arpa/inet.h>
#include <fmt/format.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/event.h"
#include "manager/alerting/notifier.h"
#include "manager/store/store.h"

namespace {

using namespace ward;
using namespace ward::manager;
using json = nlohmann::json;
using Steady = std::chrono::steady_clock;

std::mutex mu;
std::map<std::string, Steady::time_point> stored_at;    // alert id -> commit returned
std::map<std::string, Steady::time_point> received_at;  // alert id -> receiver got it

void Received(const std::string& body) {
  auto now = Steady::now();
  json doc = json::parse(body, nullptr, false);
  if (!doc.is_object()) {
    size_t brace = body.find('{');  // syslog: the JSON after the RFC 5424 header
    if (brace != std::string::npos) doc = json::parse(body.substr(brace), nullptr, false);
  }
  if (!doc.is_object() || !doc.contains("alert")) return;
  std::lock_guard lock(mu);
  received_at.emplace(doc["alert"]["id"].get<std::string>(), now);
}

// Octet-counted syslog over TCP ("LEN SP MSG"), one connection at a time per thread.
class SyslogReceiver {
 public:
  SyslogReceiver() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 64);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Accept(); });
  }
  ~SyslogReceiver() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    for (auto& t : conns_) t.join();
  }
  int port() const { return port_; }

 private:
  void Accept() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      conns_.emplace_back([c] {
        std::string buf;
        char tmp[65536];
        for (;;) {
          ssize_t n = ::read(c, tmp, sizeof tmp);
          if (n <= 0) break;
          buf.append(tmp, static_cast<size_t>(n));
          for (;;) {
            size_t sp = buf.find(' ');
            if (sp == std::string::npos) break;
            size_t len = std::stoul(buf.substr(0, sp));
            if (buf.size() < sp + 1 + len) break;
            Received(buf.substr(sp + 1, len));
            buf.erase(0, sp + 1 + len);
          }
        }
        ::close(c);
      });
    }
  }
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::thread> conns_;
};

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  int alerts = 500;
  int rate = 50;
  std::string channel_kind = "syslog";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--alerts") alerts = std::stoi(argv[i + 1]);
    if (a == "--rate") rate = std::stoi(argv[i + 1]);
    if (a == "--channel") channel_kind = argv[i + 1];
  }
  char tmpl[] = "/tmp/ward-notify-bench-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return 1;
  const std::string dir = tmpl;
  auto opened = Store::Open("sqlite:" + dir + "/ward.db");
  if (!opened) {
    fmt::print(stderr, "{}\n", opened.error().ToString());
    return 1;
  }
  std::unique_ptr<Store> store = std::move(opened).value();
  if (!store->Migrate().ok()) return 1;
  const Clock& clock = SystemClock();
  Tenant t;
  t.id = "tenant-bench";
  t.name = "bench";
  t.created_at = clock.Now();
  (void)store->CreateTenant(t);

  std::unique_ptr<SyslogReceiver> syslog;
  std::unique_ptr<httplib::Server> http;
  std::thread http_thread;
  AlertChannel c;
  c.id = "channel-bench";
  c.tenant_id = t.id;
  c.name = "bench";
  c.created_at = c.updated_at = clock.Now();
  if (channel_kind == "webhook") {
    http = std::make_unique<httplib::Server>();
    http->Post("/hook", [](const httplib::Request& req, httplib::Response& res) {
      Received(req.body);
      res.status = 200;
    });
    int port = http->bind_to_any_port("127.0.0.1");
    http_thread = std::thread([&] { http->listen_after_bind(); });
    while (!http->is_running()) std::this_thread::yield();
    c.kind = "webhook";
    c.config = {{"url", fmt::format("http://127.0.0.1:{}/hook", port)}};
  } else {
    syslog = std::make_unique<SyslogReceiver>();
    c.kind = "syslog";
    c.config = {{"transport", "tcp"}, {"host", "127.0.0.1"}, {"port", syslog->port()}};
  }
  if (Status s = store->CreateAlertChannel(c); !s.ok()) {
    fmt::print(stderr, "{}\n", s.ToString());
    return 1;
  }
  alerting::NotifierOptions options;  // the defaults ward-manager serve runs with
  alerting::Notifier notifier(*store, clock, options, "bench-node",
                              alerting::Notifier::DefaultSenders(options.send_timeout), nullptr);
  notifier.Start();

  const auto interval = std::chrono::microseconds(1'000'000 / std::max(1, rate));
  auto next = Steady::now();
  for (int i = 0; i < alerts; ++i) {
    const TimePoint now = clock.Now();
    StoredEvent e;
    e.id = NewEventId(now);
    e.tenant_id = t.id;
    e.agent_id = fmt::format("agent-{}", i);  // a new alert each time
    e.timestamp = now;
    e.module = "ips";
    e.action = "blocked";
    e.severity = 3;
    e.doc = {{"event", {{"id", e.id}}}};
    AlertSignal s;
    s.new_alert_id = NewEventId(now);
    s.tenant_id = t.id;
    s.agent_id = e.agent_id;
    s.event_id = e.id;
    s.timestamp = now;
    s.rule_key = "ips.blocked";
    s.module = "ips";
    s.title = "bench";
    s.severity = 3;
    s.notify = {c.id};
    s.rule_id = "builtin.ips_block";
    s.noticed_at = now;
    auto r = store->InsertEventsWithAlerts({e}, {s}, std::chrono::hours(1));
    auto done = Steady::now();
    if (!r) {
      fmt::print(stderr, "store: {}\n", r.error().ToString());
      return 1;
    }
    {
      std::lock_guard lock(mu);
      stored_at[s.new_alert_id] = done;
    }
    next += interval;
    std::this_thread::sleep_until(next);
  }
  // Wait (at most 30 s) for the last ones.
  const auto deadline = Steady::now() + std::chrono::seconds(30);
  while (Steady::now() < deadline) {
    {
      std::lock_guard lock(mu);
      if (received_at.size() >= stored_at.size()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  notifier.Stop();
  std::vector<double> ms;
  int lost = 0;
  {
    std::lock_guard lock(mu);
    for (const auto& [id, at] : stored_at) {
      auto it = received_at.find(id);
      if (it == received_at.end()) {
        ++lost;
        continue;
      }
      ms.push_back(std::chrono::duration<double, std::milli>(it->second - at).count());
    }
  }
  if (http) {
    http->stop();
    http_thread.join();
  }
  syslog.reset();
  store.reset();
  std::filesystem::remove_all(dir);
  json out = {{"channel", channel_kind},
              {"alerts", alerts},
              {"rate_per_s", rate},
              {"delivered", ms.size()},
              {"lost", lost},
              {"stored_to_sent_p50_ms", Pct(ms, 0.50)},
              {"stored_to_sent_p99_ms", Pct(ms, 0.99)},
              {"stored_to_sent_max_ms", Pct(ms, 1.0)},
              {"workers", options.workers},
              {"idle_poll_ms", options.idle_poll.count()}};
  fmt::print("{}\n", out.dump());
  return lost == 0 ? 0 : 2;
}
