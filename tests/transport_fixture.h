// Test fixtures for the transport (agent <-> manager) tests:
//  - MakeTestCert: a self-signed certificate made by the `openssl` command, with its SHA-256
//    fingerprint computed by `openssl x509 -outform DER | sha256sum` (independent of the agent).
//  - TestManager: a real HTTPS server (cpp-httplib SSLServer on 127.0.0.1) that speaks the agent
//    side of docs/agent-protocol.md with in-memory state, so the agent's pieces are tested over
//    real TLS before (and besides) the real ward-manager. It is a test double of the manager, not
//    of anything the agent owns: the agent under test is always the real code or binary.
// Thread-safety: accessors may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class SSLServer;
}

namespace ward::test {

struct TestCert {
  std::string cert_path;
  std::string key_path;
  std::string fingerprint;  // 64 lowercase hex
};
TestCert MakeTestCert(const std::string& dir, const std::string& name);

// A free TCP port on 127.0.0.1 (bound then released).
int FreePort();

struct StoredEvent {
  std::string agent_id;
  nlohmann::json doc;
};

class TestManager {
 public:
  TestManager(TestCert cert, int port = 0);
  ~TestManager();

  void Start();
  void Stop();
  int port() const { return port_; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

  void AddToken(const std::string& token);
  void RevokeToken(const std::string& token);
  // The policy given on activation and pushed on heartbeats.
  void SetPolicy(int64_t version, nlohmann::json document);
  void QueueCommand(const std::string& id, const std::string& name, nlohmann::json args = {});
  // Non-zero: /agent/v1/events answers this status (e.g. 503) without storing anything.
  void FailEvents(int status);
  void SetHeartbeatInterval(int seconds);

  std::vector<StoredEvent> Events() const;
  std::vector<nlohmann::json> Heartbeats() const;  // request bodies, in arrival order
  std::vector<nlohmann::json> CommandResults() const;
  std::vector<nlohmann::json> Activations() const;  // request bodies
  uint64_t duplicates() const;
  size_t agent_count() const;
  // Waits until pred(*this) holds (checked whenever a request arrives, and every 100 ms).
  bool WaitUntil(const std::function<bool(const TestManager&)>& pred,
                 std::chrono::milliseconds timeout) const;

 private:
  struct Agent {
    std::string id;
    std::string machine_id;
  };
  void Install(httplib::SSLServer& srv);

  TestCert cert_;
  int port_;
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::set<std::string> tokens_;
  std::set<std::string> revoked_;
  std::map<std::string, Agent> agents_;  // by credential
  int next_agent_ = 1;
  int64_t policy_version_ = 0;
  nlohmann::json policy_doc_;
  std::vector<nlohmann::json> commands_;
  int fail_events_ = 0;
  int heartbeat_interval_ = 60;
  std::vector<StoredEvent> events_;
  std::set<std::string> ids_;
  uint64_t duplicates_ = 0;
  std::vector<nlohmann::json> heartbeats_;
  std::vector<nlohmann::json> results_;
  std::vector<nlohmann::json> activations_;
};

}  // namespace ward::test

namespace ward::test {

// The real ward-manager binary ($WARD_BINARY_DIR/bin/ward-manager) on SQLite in `dir`:
// `init` once (keeps the admin key), then `serve` on a fixed loopback port, so a restart keeps
// the URL and (same state dir) the certificate. Killed (SIGKILL) on destruction.
class ManagerProcess {
 public:
  explicit ManagerProcess(std::string dir);
  ~ManagerProcess();
  bool Start();
  void Kill();  // SIGKILL, as a crash
  int port() const { return port_; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  const std::string& fingerprint() const { return fingerprint_; }
  const std::string& admin_key() const { return admin_key_; }
  // An /api/v1 call with the admin key; {status, parsed body (null if not JSON)}.
  std::pair<int, nlohmann::json> Api(const std::string& method, const std::string& path,
                                     const nlohmann::json& body = nullptr) const;
  // Every event of the tenant, oldest first (follows the cursor).
  std::vector<nlohmann::json> AllEvents(const std::string& query = "") const;

 private:
  std::string dir_;
  int port_;
  pid_t pid_ = -1;
  std::string fingerprint_;
  std::string admin_key_;
};

}  // namespace ward::test
