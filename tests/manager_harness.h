// Test harness for the manager: an in-process ManagerApi behind the real HttpsServer on a
// loopback port (port 0), over a real SQLite store in a temporary directory (or, when
// WARD_MANAGER_TEST_DIALECT is "postgres" or "mysql", a scratch database on the test server of
// tests/databases.cmake), and an HTTPS client
// (httplib::SSLClient) that verifies the server against its self-signed certificate.
// Time is a FakeClock the test moves (API-key expiry, token expiry, offline marking, retention).
#pragma once

#include <httplib.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "manager/api/manager_api.h"
#include "manager/api/server.h"
#include "manager/store/scratch_database.h"
#include "manager/store/store.h"
#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

namespace ward::test {

using Json = nlohmann::json;

struct Reply {
  int status = 0;  // 0: no answer (connection error)
  Json body;       // parsed JSON, or null
  std::string raw;
  std::string retry_after;
  std::string allow;
};

// One HTTPS call. `body` is sent as is; content_encoding "gzip" compresses it first, "gzip-raw"
// sends the header without compressing.
Reply Call(int port, const std::string& cert, const std::string& method, const std::string& path,
           const std::string& bearer, const std::string& body = "",
           const std::string& content_type = "application/json",
           const std::string& content_encoding = "");

std::string GzipBytes(const std::string& in);
// One NDJSON line of a valid agent event.
std::string EventLine(const std::string& id, const std::string& timestamp,
                      const std::string& module = "integrity",
                      const std::string& action = "modified", int severity = 2,
                      const std::string& path = "/var/www/index.html");

class ManagerHarness {
 public:
  explicit ManagerHarness(manager::ApiOptions options = {});
  ~ManagerHarness();

  Reply Get(const std::string& path, const std::string& key) { return Do("GET", path, key); }
  Reply Post(const std::string& path, const std::string& key, const Json& body) {
    return Do("POST", path, key, body.dump());
  }
  Reply Patch(const std::string& path, const std::string& key, const Json& body) {
    return Do("PATCH", path, key, body.dump());
  }
  Reply Delete(const std::string& path, const std::string& key) { return Do("DELETE", path, key); }
  Reply Do(const std::string& method, const std::string& path, const std::string& key,
           const std::string& body = "", const std::string& content_type = "application/json",
           const std::string& encoding = "") {
    return Call(port_, cert_, method, path, key, body, content_type, encoding);
  }

  // A new non-primary tenant through the API; returns {tenant id, admin key}.
  std::pair<std::string, std::string> NewTenant(const std::string& name);
  // A key of `role` in the tenant of `admin_key`.
  std::string NewKey(const std::string& admin_key, const std::string& role);
  // An activation token (optionally with a policy) and an activated agent:
  // {agent id, credential}.
  std::pair<std::string, std::string> NewAgent(const std::string& admin_key,
                                               const std::string& hostname,
                                               const std::string& policy_id = "",
                                               const std::string& machine_id = "machine-1");
  std::string NewPolicy(const std::string& key, const std::string& name);

  manager::Store& store() { return *store_; }
  manager::ManagerApi& api() { return *api_; }
  FakeClock& clock() { return clock_; }
  int port() const { return port_; }
  const std::string& cert() const { return cert_; }
  const std::string& primary_key() const { return primary_key_; }
  const std::string& primary_tenant() const { return primary_tenant_; }

 private:
  TempDir dir_;
  std::unique_ptr<manager::ScratchDatabase> scratch_;
  FakeClock clock_;
  std::unique_ptr<manager::Store> store_;
  std::unique_ptr<manager::ManagerApi> api_;
  std::unique_ptr<manager::HttpsServer> server_;
  int port_ = 0;
  std::string cert_;
  std::string primary_key_;
  std::string primary_tenant_;
};

// One browser-style HTTPS call (the console's cookie + CSRF headers rather than a bearer key),
// with every answer header kept.
struct Answer {
  int status = 0;  // 0: no answer (connection error)
  Json body;       // parsed JSON, or null
  std::string raw;
  httplib::Headers headers;
  std::string Header(const std::string& k) const {
    auto it = headers.find(k);
    return it == headers.end() ? "" : it->second;
  }
};
Answer Send(ManagerHarness& m, const std::string& method, const std::string& path,
            const httplib::Headers& headers, const std::string& body = "",
            const std::string& type = "application/json");

// A policy document the agent accepts.
Json ValidPolicyDocument();

}  // namespace ward::test
