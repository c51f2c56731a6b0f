#include "tests/manager_harness.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <zlib.h>

#include "common/clock.h"
#include "manager/services/bootstrap.h"
#include "manager/services/tls.h"

namespace ward::test {

std::string GzipBytes(const std::string& in) {
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, in.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string EventLine(const std::string& id, const std::string& timestamp,
                      const std::string& module, const std::string& action, int severity,
                      const std::string& path) {
  Json e = {{"@timestamp", timestamp},
            {"event",
             {{"id", id},
              {"kind", "event"},
              {"module", module},
              {"action", action},
              {"severity", severity}}},
            {"file", {{"path", path}}}};
  return e.dump() + "\n";
}

Reply Call(int port, const std::string& cert, const std::string& method, const std::string& path,
           const std::string& bearer, const std::string& body, const std::string& content_type,
           const std::string& content_encoding) {
  httplib::SSLClient cli("127.0.0.1", port);
  cli.set_ca_cert_path(cert.c_str());
  cli.enable_server_certificate_verification(true);
  cli.set_connection_timeout(10, 0);
  cli.set_read_timeout(30, 0);
  httplib::Headers headers;
  if (!bearer.empty()) headers.emplace("Authorization", "Bearer " + bearer);
  std::string payload = body;
  if (content_encoding == "gzip") {
    payload = GzipBytes(body);
    headers.emplace("Content-Encoding", "gzip");
  } else if (content_encoding == "gzip-raw") {  // claims gzip, sends the bytes as they are
    headers.emplace("Content-Encoding", "gzip");
  } else if (!content_encoding.empty()) {
    headers.emplace("Content-Encoding", content_encoding);
  }
  auto send = [&]() -> httplib::Result {
    if (method == "GET") return cli.Get(path, headers);
    if (method == "POST") return cli.Post(path, headers, payload, content_type);
    if (method == "PATCH") return cli.Patch(path, headers, payload, content_type);
    if (method == "PUT") return cli.Put(path, headers, payload, content_type);
    return cli.Delete(path, headers, payload, content_type);
  };
  httplib::Result res = send();
  Reply r;
  if (!res) return r;
  r.status = res->status;
  r.raw = res->body;
  r.retry_after = res->get_header_value("Retry-After");
  r.allow = res->get_header_value("Allow");
  if (!res->body.empty()) r.body = Json::parse(res->body, nullptr, false);
  return r;
}

Answer Send(ManagerHarness& m, const std::string& method, const std::string& path,
            const httplib::Headers& headers, const std::string& body, const std::string& type) {
  httplib::SSLClient cli("127.0.0.1", m.port());
  cli.set_ca_cert_path(m.cert().c_str());
  cli.enable_server_certificate_verification(true);
  httplib::Result res = method == "GET"     ? cli.Get(path, headers)
                        : method == "POST"  ? cli.Post(path, headers, body, type)
                        : method == "PATCH" ? cli.Patch(path, headers, body, type)
                                            : cli.Delete(path, headers, body, type);
  Answer a;
  if (!res) return a;
  a.status = res->status;
  a.headers = res->headers;
  a.raw = res->body;
  a.body = Json::parse(res->body, nullptr, false);
  if (a.body.is_discarded()) a.body = nullptr;
  return a;
}

Json ValidPolicyDocument() {
  return Json::parse(R"({"integrity": {"paths": [{"path": "/var/www"}]}})");
}

ManagerHarness::ManagerHarness(manager::ApiOptions options)
    : clock_(std::chrono::system_clock::now()) {
  std::string url = "sqlite:" + dir_.Sub("manager.db");
  const char* dialect = std::getenv("WARD_MANAGER_TEST_DIALECT");
  if (dialect != nullptr && *dialect != '\0') {
    auto d =
        std::string(dialect) == "mysql" ? manager::Dialect::kMysql : manager::Dialect::kPostgres;
    auto scratch = manager::ScratchDatabase::Create(d);
    if (!scratch) {
      ADD_FAILURE() << "scratch database: " << scratch.error().ToString();
      std::abort();
    }
    scratch_ = std::move(*scratch);
    url = scratch_->url();
    auto s = manager::Store::Open(url);
    WARD_CHECK(s.has_value());
    WARD_CHECK((*s)->Migrate().ok());
  }
  auto store = manager::Store::Open(url);
  WARD_CHECK(store.has_value());
  store_ = std::move(*store);
  auto boot = manager::InitPrimaryTenant(*store_, clock_, "primary");
  WARD_CHECK(boot.has_value());
  primary_key_ = boot->api_key;
  primary_tenant_ = boot->tenant_id;
  auto tls = manager::EnsureSelfSignedCertificate(dir_.path(), "test-host");
  WARD_CHECK(tls.has_value());
  cert_ = tls->cert.string();
  // What `serve` gives the API from its certificate (GET /api/v1/info, deployment scripts).
  if (options.tls_fingerprint.empty()) {
    auto fp = manager::CertificateFingerprint(cert_);
    WARD_CHECK(fp.has_value());
    options.tls_fingerprint = *fp;
  }
  if (options.tls_pubkey_pin.empty()) {
    auto pin = manager::PublicKeyPin(cert_);
    WARD_CHECK(pin.has_value());
    options.tls_pubkey_pin = *pin;
  }
  api_ = std::make_unique<manager::ManagerApi>(*store_, clock_, options);
  auto server = manager::HttpsServer::Create(*api_, cert_, tls->key.string(), 4);
  WARD_CHECK(server.has_value());
  server_ = std::move(*server);
  auto port = server_->Start("127.0.0.1", 0);
  WARD_CHECK(port.has_value());
  port_ = *port;
}

ManagerHarness::~ManagerHarness() {
  server_->Stop();
  api_.reset();
  store_.reset();  // before the scratch database is dropped
}

std::pair<std::string, std::string> ManagerHarness::NewTenant(const std::string& name) {
  Reply r = Post("/api/v1/tenants", primary_key_, {{"name", name}});
  EXPECT_EQ(r.status, 201) << r.raw;
  return {r.body.value("id", ""), r.body["admin_key"].value("secret", "")};
}

std::string ManagerHarness::NewKey(const std::string& admin_key, const std::string& role) {
  Reply r = Post("/api/v1/apikeys", admin_key, {{"name", role + " key"}, {"role", role}});
  EXPECT_EQ(r.status, 201) << r.raw;
  return r.body.value("secret", "");
}

std::string ManagerHarness::NewPolicy(const std::string& key, const std::string& name) {
  Reply r = Post("/api/v1/policies", key, {{"name", name}, {"document", ValidPolicyDocument()}});
  EXPECT_EQ(r.status, 201) << r.raw;
  return r.body.value("id", "");
}

std::pair<std::string, std::string> ManagerHarness::NewAgent(const std::string& admin_key,
                                                             const std::string& hostname,
                                                             const std::string& policy_id,
                                                             const std::string& machine_id) {
  Json tok = Json::object();
  if (!policy_id.empty()) tok["policy_id"] = policy_id;
  Reply t = Post("/api/v1/activation-tokens", admin_key, tok);
  EXPECT_EQ(t.status, 201) << t.raw;
  Reply a = Post("/agent/v1/activate", "",
                 {{"token", t.body.value("token", "")},
                  {"hostname", hostname},
                  {"machine_id", machine_id},
                  {"agent_version", "0.1.0"},
                  {"os", "Debian GNU/Linux 12"}});
  EXPECT_EQ(a.status, 201) << a.raw;
  return {a.body.value("agent_id", ""), a.body.value("credential", "")};
}

}  // namespace ward::test
