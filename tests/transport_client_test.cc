// HttpsClient and activation over real TLS (cpp-httplib SSLServer) and through a real Squid.
#include <gtest/gtest.h>

#include "agent/transport/activation.h"
#include "agent/transport/https_client.h"
#include "testing/temp_dir.h"
#include "tests/squid_fixture.h"
#include "tests/transport_fixture.h"

namespace ward::agent::transport {
namespace {

using ward::test::MakeTestCert;
using ward::test::Squid;
using ward::test::SquidOptions;
using ward::test::TempDir;
using ward::test::TestManager;

class TransportClient : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv("https_proxy");
    ::unsetenv("HTTPS_PROXY");
    cert_ = MakeTestCert(dir_.Str(), "manager");
    manager_ = std::make_unique<TestManager>(cert_);
    manager_->Start();
    manager_->AddToken("wat_good");
  }
  std::unique_ptr<HttpsClient> Client(std::string fingerprint, std::string proxy = "") {
    auto c = HttpsClient::Create({manager_->url(), proxy, fingerprint});
    EXPECT_TRUE(c.has_value()) << c.error().ToString();
    return c ? std::move(*c) : nullptr;
  }
  Result<Activation> ActivateWith(std::string fingerprint, std::string proxy = "",
                                  std::string token = "wat_good") {
    ActivationOptions ao;
    ao.manager_url = manager_->url();
    ao.token = token;
    ao.proxy = proxy;
    ao.fingerprint = fingerprint;
    ao.state_dir = dir_.path() / "state";
    return Activate(ao);
  }

  TempDir dir_;
  ward::test::TestCert cert_;
  std::unique_ptr<TestManager> manager_;
};

TEST_F(TransportClient, TrustOnFirstUseRecordsTheCertificateFingerprint) {
  auto a = ActivateWith("");
  ASSERT_TRUE(a.has_value()) << a.error().ToString();
  EXPECT_TRUE(a->trusted_on_first_use);
  EXPECT_EQ(a->identity.fingerprint, cert_.fingerprint);  // as `openssl x509 | sha256sum` says
  auto saved = LoadIdentity(dir_.path() / "state");
  ASSERT_TRUE(saved.has_value());
  EXPECT_EQ(saved->fingerprint, cert_.fingerprint);
  EXPECT_EQ(saved->agent_id, a->identity.agent_id);
}

TEST_F(TransportClient, AGivenFingerprintMustMatch) {
  std::string upper;
  for (size_t i = 0; i < 64; i += 2) {
    upper += (i ? ":" : "") + cert_.fingerprint.substr(i, 2);
  }
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(ch));
  auto good = ActivateWith(upper);
  ASSERT_TRUE(good.has_value()) << good.error().ToString();
  EXPECT_FALSE(good->trusted_on_first_use);

  std::string wrong = cert_.fingerprint;
  wrong[0] = wrong[0] == '0' ? '1' : '0';
  auto bad = ActivateWith(wrong);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), StatusCode::kPermissionDenied) << bad.error().ToString();
  EXPECT_NE(bad.error().message().find(cert_.fingerprint), std::string::npos);
}

TEST_F(TransportClient, APinnedClientRefusesAnotherCertificate) {
  auto pinned = Client(cert_.fingerprint);
  auto r = pinned->Post("/agent/v1/heartbeat", "{}", "application/json", false, "nobody");
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->status, 401);
  // The manager's certificate is replaced (same address): the pinned client refuses it.
  manager_->Stop();
  auto other = MakeTestCert(dir_.Str(), "impostor");
  TestManager impostor(other, manager_->port());
  impostor.Start();
  // (A new connection, as after any reconnect: every handshake is checked against the pin.)
  auto again = Client(cert_.fingerprint);
  auto r2 = again->Post("/agent/v1/heartbeat", "{}", "application/json", false, "nobody");
  ASSERT_FALSE(r2.has_value());
  EXPECT_EQ(r2.error().code(), StatusCode::kPermissionDenied) << r2.error().ToString();
  EXPECT_EQ(again->observed_fingerprint(), other.fingerprint);
}

TEST_F(TransportClient, ARevokedOrUnknownTokenCannotActivate) {
  manager_->AddToken("wat_revoked");
  manager_->RevokeToken("wat_revoked");
  auto a = ActivateWith("", "", "wat_revoked");
  ASSERT_FALSE(a.has_value());
  EXPECT_EQ(a.error().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(a.error().message().find("401"), std::string::npos);
  EXPECT_FALSE(LoadIdentity(dir_.path() / "state").has_value());
}

TEST_F(TransportClient, SendsGzipThatTheServerDecompresses) {
  auto a = ActivateWith("");
  ASSERT_TRUE(a.has_value());
  auto c = Client(cert_.fingerprint);
  std::string line = R"({"event":{"id":"0193aaaa-0000-7000-8000-000000000001"},"message":"hi"})";
  auto r = c->Post("/agent/v1/events", line + "\n", "application/x-ndjson", true,
                   a->identity.credential);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->status, 200) << r->body;
  auto events = manager_->Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].doc["message"], "hi");
}

TEST_F(TransportClient, ManagerDownIsUnavailable) {
  manager_->Stop();
  auto c = Client(cert_.fingerprint);
  auto r = c->Post("/agent/v1/heartbeat", "{}", "application/json", false, "x");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kUnavailable);
  EXPECT_EQ(c->proxy_errors(), 0u);
}

class TransportSquid : public TransportClient {};

TEST_F(TransportSquid, ActivatesAndPostsThroughSquid) {
  auto squid = Squid::Start(dir_.Sub("squid"), {manager_->port(), "", ""});
  ASSERT_NE(squid, nullptr);
  auto a = ActivateWith("", squid->url());
  ASSERT_TRUE(a.has_value()) << a.error().ToString();
  // Trust on first use through the proxy still pins the manager's own certificate.
  EXPECT_EQ(a->identity.fingerprint, cert_.fingerprint);
  EXPECT_EQ(a->identity.proxy, squid->url());
  auto c = Client(cert_.fingerprint, squid->url());
  auto r = c->Post("/agent/v1/heartbeat", R"({"machine_id":")" + MachineId() + R"(","status":{}})",
                   "application/json", false, a->identity.credential);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(c->proxy_errors(), 0u);
  squid->Stop();  // flushes nothing; the log is written per request
  std::string log = squid->AccessLog();
  EXPECT_NE(log.find("CONNECT 127.0.0.1:" + std::to_string(manager_->port())), std::string::npos)
      << log;
}

TEST_F(TransportSquid, TakesTheProxyFromHttpsProxy) {
  auto squid = Squid::Start(dir_.Sub("squid"), {manager_->port(), "", ""});
  ASSERT_NE(squid, nullptr);
  ::setenv("https_proxy", squid->url().c_str(), 1);
  auto a = ActivateWith("");
  ::unsetenv("https_proxy");
  ASSERT_TRUE(a.has_value()) << a.error().ToString();
  squid->Stop();
  EXPECT_NE(squid->AccessLog().find("CONNECT"), std::string::npos);
}

TEST_F(TransportSquid, BasicAuthWorksAndWrongCredentialsAreReported) {
  auto squid = Squid::Start(dir_.Sub("squid"), {manager_->port(), "agent", "s3cret"});
  ASSERT_NE(squid, nullptr);
  auto a = ActivateWith("", squid->url());
  ASSERT_TRUE(a.has_value()) << a.error().ToString();

  std::string wrong = "http://agent:nope@127.0.0.1:" + std::to_string(squid->port());
  auto c = Client(cert_.fingerprint, wrong);
  auto r = c->Post("/agent/v1/heartbeat", "{}", "application/json", false, "x");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("407"), std::string::npos) << r.error().ToString();
  EXPECT_EQ(c->proxy_errors(), 1u);

  std::string none = "http://127.0.0.1:" + std::to_string(squid->port());
  auto anon = Client(cert_.fingerprint, none);
  auto r2 = anon->Post("/agent/v1/heartbeat", "{}", "application/json", false, "x");
  ASSERT_FALSE(r2.has_value());
  EXPECT_NE(r2.error().message().find("407"), std::string::npos) << r2.error().ToString();
}

TEST_F(TransportSquid, AProxyRefusalIsReportedAsSuch) {
  // Squid allows CONNECT only to another port than the manager's.
  auto squid = Squid::Start(dir_.Sub("squid"), {manager_->port() + 1, "", ""});
  ASSERT_NE(squid, nullptr);
  auto c = Client(cert_.fingerprint, squid->url());
  auto r = c->Post("/agent/v1/heartbeat", "{}", "application/json", false, "x");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("refused CONNECT"), std::string::npos) << r.error().ToString();
  EXPECT_NE(r.error().message().find("403"), std::string::npos);
  EXPECT_EQ(c->proxy_errors(), 1u);
}

TEST_F(TransportSquid, SquidStoppedIsAProxyFailureAndRecoversWhenItReturns) {
  auto squid = Squid::Start(dir_.Sub("squid"), {manager_->port(), "", ""});
  ASSERT_NE(squid, nullptr);
  auto a = ActivateWith("", squid->url());
  ASSERT_TRUE(a.has_value()) << a.error().ToString();
  auto c = Client(cert_.fingerprint, squid->url());
  squid->Stop();
  auto r = c->Post("/agent/v1/heartbeat", "{}", "application/json", false, "x");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("proxy 127.0.0.1"), std::string::npos) << r.error().ToString();
  EXPECT_EQ(c->proxy_errors(), 1u);
  ASSERT_TRUE(squid->Restart());
  auto r2 = c->Post("/agent/v1/heartbeat", R"({"machine_id":")" + MachineId() + R"(","status":{}})",
                    "application/json", false, a->identity.credential);
  ASSERT_TRUE(r2.has_value()) << r2.error().ToString();
  EXPECT_EQ(r2->status, 200);
}

TEST_F(TransportSquid, ManagerDownBehindAWorkingProxyIsNotBlamedOnTheProxy) {
  auto squid = Squid::Start(dir_.Sub("squid"), {manager_->port(), "", ""});
  ASSERT_NE(squid, nullptr);
  manager_->Stop();
  auto c = Client(cert_.fingerprint, squid->url());
  auto r = c->Post("/agent/v1/heartbeat", "{}", "application/json", false, "x");
  ASSERT_FALSE(r.has_value());
  // Squid answers the CONNECT with 503 when it cannot reach the manager.
  EXPECT_NE(r.error().message().find("answered CONNECT"), std::string::npos)
      << r.error().ToString();
}

}  // namespace
}  // namespace ward::agent::transport
