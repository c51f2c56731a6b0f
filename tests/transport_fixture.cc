#include "tests/transport_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <sstream>

namespace ward::test {
namespace {

std::string RunOutput(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  ::pclose(p);
  return out;
}

std::string Bearer(const httplib::Request& req) {
  std::string h = req.get_header_value("Authorization");
  return h.starts_with("Bearer ") ? h.substr(7) : "";
}

void Error(httplib::Response& res, int status, const std::string& code, const std::string& msg) {
  res.status = status;
  res.set_content(nlohmann::json{{"error", {{"code", code}, {"message", msg}}}}.dump(),
                  "application/json");
}

}  // namespace

TestCert MakeTestCert(const std::string& dir, const std::string& name) {
  TestCert c{dir + "/" + name + ".crt", dir + "/" + name + ".key", ""};
  std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
      "-subj /CN=ward-test-manager -addext subjectAltName=IP:127.0.0.1,DNS:localhost "
      "-keyout " +
      c.key_path + " -out " + c.cert_path + " 2>/dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::string fp =
      RunOutput("openssl x509 -in " + c.cert_path + " -outform DER | sha256sum | cut -c1-64");
  while (!fp.empty() && (fp.back() == '\n' || fp.back() == ' ')) fp.pop_back();
  EXPECT_EQ(fp.size(), 64u);
  c.fingerprint = fp;
  return c;
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

TestManager::TestManager(TestCert cert, int port)
    : cert_(std::move(cert)), port_(port == 0 ? FreePort() : port) {}

TestManager::~TestManager() { Stop(); }

void TestManager::Start() {
  server_ = std::make_unique<httplib::SSLServer>(cert_.cert_path.c_str(), cert_.key_path.c_str());
  ASSERT_TRUE(server_->is_valid());
  server_->set_keep_alive_timeout(1);
  Install(*server_);
  bool bound = false;
  for (int i = 0; i < 50 && !bound; ++i) {
    bound = server_->bind_to_port("127.0.0.1", port_);
    if (!bound) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(bound) << "port " << port_;
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() is a no-op until the listener thread has started: wait for it.
  while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void TestManager::Stop() {
  if (server_) {
    // Knock on the port so that a blocking accept() sees the stop.
    server_->stop();
    {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<uint16_t>(port_));
      ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
      ::close(fd);
    }
  }
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

void TestManager::AddToken(const std::string& token) {
  std::lock_guard lock(mu_);
  tokens_.insert(token);
}
void TestManager::RevokeToken(const std::string& token) {
  std::lock_guard lock(mu_);
  revoked_.insert(token);
}
void TestManager::SetPolicy(int64_t version, nlohmann::json document) {
  std::lock_guard lock(mu_);
  policy_version_ = version;
  policy_doc_ = std::move(document);
}
void TestManager::QueueCommand(const std::string& id, const std::string& name,
                               nlohmann::json args) {
  std::lock_guard lock(mu_);
  commands_.push_back(
      {{"id", id}, {"name", name}, {"args", args.is_null() ? nlohmann::json::object() : args}});
}
void TestManager::FailEvents(int status) {
  std::lock_guard lock(mu_);
  fail_events_ = status;
}
void TestManager::SetHeartbeatInterval(int seconds) {
  std::lock_guard lock(mu_);
  heartbeat_interval_ = seconds;
}
std::vector<StoredEvent> TestManager::Events() const {
  std::lock_guard lock(mu_);
  return events_;
}
std::vector<nlohmann::json> TestManager::Heartbeats() const {
  std::lock_guard lock(mu_);
  return heartbeats_;
}
std::vector<nlohmann::json> TestManager::CommandResults() const {
  std::lock_guard lock(mu_);
  return results_;
}
std::vector<nlohmann::json> TestManager::Activations() const {
  std::lock_guard lock(mu_);
  return activations_;
}
uint64_t TestManager::duplicates() const {
  std::lock_guard lock(mu_);
  return duplicates_;
}
size_t TestManager::agent_count() const {
  std::lock_guard lock(mu_);
  return agents_.size();
}

bool TestManager::WaitUntil(const std::function<bool(const TestManager&)>& pred,
                            std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred(*this)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(100));
  }
}

void TestManager::Install(httplib::SSLServer& srv) {
  srv.Post("/agent/v1/activate", [this](const httplib::Request& req, httplib::Response& res) {
    auto body = nlohmann::json::parse(req.body, nullptr, false);
    if (!body.is_object()) return Error(res, 400, "invalid", "body: not JSON");
    std::lock_guard lock(mu_);
    activations_.push_back(body);
    cv_.notify_all();
    std::string token = body.value("token", "");
    std::string clone_of = body.value("clone_of", "");
    bool ok = (tokens_.count(token) > 0 && revoked_.count(token) == 0) ||
              (!clone_of.empty() && agents_.count(clone_of) > 0);
    if (!ok) return Error(res, 401, "unauthenticated", "token refused");
    int n = next_agent_++;
    std::string id = "agent-" + std::to_string(n);
    std::string cred = "wac_" + id + "_secret" + std::to_string(n * 7919);
    agents_[cred] = Agent{id, body.value("machine_id", "")};
    nlohmann::json reply = {{"agent_id", id},
                            {"credential", cred},
                            {"tenant_id", "tenant-1"},
                            {"heartbeat_interval_s", heartbeat_interval_},
                            {"policy", nullptr}};
    if (policy_version_ > 0) {
      reply["policy"] = {{"id", "p1"}, {"version", policy_version_}, {"document", policy_doc_}};
    }
    res.status = 201;
    res.set_content(reply.dump(), "application/json");
  });
  srv.Post("/agent/v1/heartbeat", [this](const httplib::Request& req, httplib::Response& res) {
    auto body = nlohmann::json::parse(req.body, nullptr, false);
    std::lock_guard lock(mu_);
    auto agent = agents_.find(Bearer(req));
    if (agent == agents_.end()) return Error(res, 401, "unauthenticated", "credential");
    if (!body.is_object()) return Error(res, 400, "invalid", "body: not JSON");
    if (body.value("machine_id", "") != agent->second.machine_id) {
      return Error(res, 409, "identity_conflict", "machine id differs");
    }
    body["agent_id"] = agent->second.id;
    heartbeats_.push_back(body);
    if (body.contains("command_results")) {
      for (const auto& r : body["command_results"]) results_.push_back(r);
    }
    nlohmann::json reply = {{"heartbeat_interval_s", heartbeat_interval_}, {"commands", commands_}};
    commands_.clear();
    int64_t have = body["status"].value("policy_version", int64_t{0});
    if (policy_version_ > 0 && have != policy_version_) {
      reply["policy"] = {{"id", "p1"}, {"version", policy_version_}, {"document", policy_doc_}};
    }
    cv_.notify_all();
    res.set_content(reply.dump(), "application/json");
  });
  srv.Post("/agent/v1/events", [this](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu_);
    auto agent = agents_.find(Bearer(req));
    if (agent == agents_.end()) return Error(res, 401, "unauthenticated", "credential");
    if (fail_events_ != 0) return Error(res, fail_events_, "unavailable", "test says no");
    // httplib has already undone Content-Encoding: gzip.
    std::istringstream in(req.body);
    std::string line;
    int accepted = 0, dup = 0, n = 0;
    nlohmann::json rejected = nlohmann::json::array();
    while (std::getline(in, line)) {
      ++n;
      if (line.empty()) continue;
      auto doc = nlohmann::json::parse(line, nullptr, false);
      std::string id;
      if (doc.is_object() && doc.contains("event") && doc["event"].is_object()) {
        id = doc["event"].value("id", "");
      }
      if (id.empty()) {
        rejected.push_back({{"line", n}, {"error", "event.id: missing"}});
        continue;
      }
      if (!ids_.insert(id).second) {
        ++dup;
        ++duplicates_;
        continue;
      }
      ++accepted;
      events_.push_back({agent->second.id, std::move(doc)});
    }
    cv_.notify_all();
    res.set_content(
        nlohmann::json{{"accepted", accepted}, {"duplicates", dup}, {"rejected", rejected}}.dump(),
        "application/json");
  });
}

}  // namespace ward::test

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

namespace ward::test {

ManagerProcess::ManagerProcess(std::string dir) : dir_(std::move(dir)), port_(FreePort()) {}

ManagerProcess::~ManagerProcess() { Kill(); }

bool ManagerProcess::Start() {
  const char* bin_dir = std::getenv("WARD_BINARY_DIR");
  std::string bin = std::string(bin_dir ? bin_dir : ".") + "/bin/ward-manager";
  std::string db = "sqlite:" + dir_ + "/ward.db";
  if (admin_key_.empty()) {
    std::string out = RunOutput(bin + " init --db " + db + " --json 2>/dev/null");
    auto j = nlohmann::json::parse(out, nullptr, false);
    if (!j.is_object() || !j.contains("api_key")) {
      ADD_FAILURE() << "ward-manager init: " << out;
      return false;
    }
    admin_key_ = j["api_key"];
  }
  int fds[2];
  if (::pipe(fds) != 0) return false;
  std::string listen = "127.0.0.1:" + std::to_string(port_);
  pid_ = ::fork();
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    int err = ::open((dir_ + "/manager.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(err, 2);
    ::execl(bin.c_str(), "ward-manager", "serve", "--db", db.c_str(), "--listen", listen.c_str(),
            "--state-dir", dir_.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  FILE* in = ::fdopen(fds[0], "r");
  char line[512];
  bool listening = false;
  while (!listening && std::fgets(line, sizeof line, in) != nullptr) {
    std::string l(line);
    if (l.starts_with("fingerprint: ")) fingerprint_ = l.substr(13, 64);
    if (l.starts_with("listening: ")) listening = true;
  }
  // Keep reading (and dropping) its stdout so it never blocks on a full pipe.
  std::thread([in] {
    char buf[512];
    while (std::fgets(buf, sizeof buf, in) != nullptr) {
    }
    std::fclose(in);
  }).detach();
  if (!listening)
    ADD_FAILURE() << "ward-manager serve did not start; see " << dir_ << "/manager.log";
  return listening;
}

void ManagerProcess::Kill() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
}

std::pair<int, nlohmann::json> ManagerProcess::Api(const std::string& method,
                                                   const std::string& path,
                                                   const nlohmann::json& body) const {
  httplib::SSLClient cli("127.0.0.1", port_);
  cli.enable_server_certificate_verification(false);
  cli.set_connection_timeout(5);
  cli.set_read_timeout(30);
  httplib::Headers h{{"Authorization", "Bearer " + admin_key_}};
  httplib::Result r(nullptr, httplib::Error::Unknown);
  std::string b = body.is_null() ? "" : body.dump();
  if (method == "GET") {
    r = cli.Get(path.c_str(), h);
  } else if (method == "POST") {
    r = cli.Post(path.c_str(), h, b, "application/json");
  } else if (method == "PATCH") {
    r = cli.Patch(path.c_str(), h, b, "application/json");
  } else if (method == "DELETE") {
    r = cli.Delete(path.c_str(), h);
  }
  if (!r) return {0, nullptr};
  return {r->status, nlohmann::json::parse(r->body, nullptr, false)};
}

std::vector<nlohmann::json> ManagerProcess::AllEvents(const std::string& query) const {
  std::vector<nlohmann::json> out;
  std::string cursor;
  for (;;) {
    std::string path = "/api/v1/events?limit=1000&order=asc" + query;
    if (!cursor.empty()) path += "&cursor=" + cursor;
    auto [status, body] = Api("GET", path);
    if (status != 200 || !body.is_object()) break;
    for (auto& e : body["items"]) out.push_back(e);
    if (!body["next_cursor"].is_string()) break;
    cursor = body["next_cursor"].get<std::string>();
  }
  return out;
}

}  // namespace ward::test
