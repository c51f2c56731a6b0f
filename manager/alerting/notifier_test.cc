// The notifier against real receivers (issue 19): a local HTTPS server (cpp-httplib, the
// manager's own self-signed certificate) and a real SMTP server with STARTTLS and AUTH
// (aiosmtpd, testdata/alerting/smtp_server.py); a real SQLite store; a fake clock for back-off
// and leases.
#include "manager/alerting/notifier.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "common/event.h"
#include "common/text.h"
#include "manager/alerting/rules.h"
#include "manager/alerting/smtp_server_testing.h"
#include "manager/services/tls.h"
#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

namespace ward::manager::alerting {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

template <typename T>
T Ok(Result<T> r, const char* what) {
  if (!r.has_value()) {
    ADD_FAILURE() << what << ": " << r.error().ToString();
    return T{};
  }
  return std::move(r).value();
}
#define OK(expr) Ok((expr), #expr)

std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A port nothing listens on: bound, never listened to, kept open for the test.
class ClosedPort {
 public:
  ClosedPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~ClosedPort() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

struct Received {
  std::string body;
  std::string delivery;
  std::string timestamp;
  std::string signature;
};

// An HTTPS webhook receiver answering the statuses queued in `answers` (then 200).
class WebhookServer {
 public:
  explicit WebhookServer(const TlsFiles& tls) : server_(tls.cert.c_str(), tls.key.c_str()) {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      received_.push_back({req.body, req.get_header_value("X-Ward-Delivery"),
                           req.get_header_value("X-Ward-Timestamp"),
                           req.get_header_value("X-Ward-Signature")});
      int status = 200;
      if (!answers_.empty()) {
        status = answers_.front();
        answers_.erase(answers_.begin());
      }
      res.status = status;
      res.set_content("{}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();  // listen_after_bind has begun
  }
  ~WebhookServer() {
    server_.stop();
    thread_.join();
  }
  std::string Url() const { return "https://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  void Answer(std::vector<int> statuses) {
    std::lock_guard lock(mu_);
    answers_ = std::move(statuses);
  }
  std::vector<Received> Received_() {
    std::lock_guard lock(mu_);
    return received_;
  }

 private:
  httplib::SSLServer server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<int> answers_;
  std::vector<Received> received_;
};

using testing::SmtpServer;

class NotifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tls = EnsureSelfSignedCertificate(dir_.path(), "localhost");
    ASSERT_TRUE(tls.has_value()) << tls.error().ToString();
    tls_ = *tls;
    ca_pem_ = ReadAll(tls_.cert);
    auto s = Store::Open("sqlite:" + dir_.Sub("ward.db"));
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(s).value();
    ASSERT_TRUE(store_->Migrate().ok());
    tenant_.id = "tenant-1";
    tenant_.name = "shop";
    tenant_.created_at = clock_.Now();
    ASSERT_TRUE(store_->CreateTenant(tenant_).ok());
    agent_.id = "agent-1";
    agent_.tenant_id = tenant_.id;
    agent_.hostname = "web-01";
    agent_.credential_hash = std::string(64, 'a');
    agent_.created_at = clock_.Now();
    ASSERT_TRUE(store_->CreateAgent(agent_).ok());
    options_.base_backoff = 5s;
    options_.max_backoff = 600s;
    options_.lease = 60s;
    options_.failing_threshold = 3;
    options_.send_timeout = 5000ms;
  }

  std::unique_ptr<Notifier> MakeNotifier(const std::string& node) {
    return std::make_unique<Notifier>(*store_, clock_, options_, node,
                                      Notifier::DefaultSenders(options_.send_timeout), box_);
  }

  AlertChannel Channel(const std::string& kind, json config) {
    AlertChannel c;
    c.id = NewEventId(clock_.Now());
    c.tenant_id = tenant_.id;
    c.name = kind + "-" + c.id;
    c.kind = kind;
    c.config = SealChannelSecrets(config, box_.get());
    c.created_at = c.updated_at = clock_.Now();
    EXPECT_TRUE(store_->CreateAlertChannel(c).ok());
    return c;
  }

  // A malware detection on web-01, stored as ingestion stores it, with the tenant's rules:
  // builtin.malware_found notifying `channels`. Returns the alert's id.
  std::string Raise(const std::vector<std::string>& channels) {
    AlertRule r;
    r.id = "builtin.malware_found";
    r.tenant_id = tenant_.id;
    r.name = "Malware found";
    r.spec = {{"channels", channels}};
    r.created_at = r.updated_at = clock_.Now();
    if (!store_->UpdateAlertRule(r).ok()) {
      EXPECT_TRUE(store_->CreateAlertRule(r).ok());
    }
    StoredEvent e;
    e.id = NewEventId(clock_.Now());
    e.tenant_id = tenant_.id;
    e.agent_id = agent_.id;
    e.timestamp = clock_.Now();
    e.module = "antimalware";
    e.action = "quarantine";
    e.severity = 3;
    e.doc = {{"rule", {{"name", "Eicar-Signature"}}}};
    TenantRules rules = CompileTenantRules(OK(store_->ListAlertRules(tenant_.id)),
                                           OK(store_->ListAlertChannels(tenant_.id)));
    auto signals = SignalsFor(
        {e}, agent_.hostname, rules, [&] { return NewEventId(clock_.Now()); }, clock_.Now());
    EXPECT_EQ(signals.size(), 1u);
    EXPECT_TRUE(store_->InsertEventsWithAlerts({e}, signals, 1h).has_value());
    auto alerts = OK(store_->ListAlerts(tenant_.id, {}));
    return alerts.empty() ? "" : alerts.front().id;
  }

  std::vector<DeliveryAttempt> Log(const std::string& alert) {
    return OK(store_->ListDeliveryAttempts(tenant_.id, alert));
  }

  test::TempDir dir_;
  TlsFiles tls_;
  std::string ca_pem_;
  test::FakeClock clock_;
  std::unique_ptr<Store> store_;
  Tenant tenant_;
  Agent agent_;
  NotifierOptions options_;
  std::shared_ptr<const SecretBox> box_ = std::make_shared<const SecretBox>(SecretBox::Ephemeral());
};

TEST_F(NotifierTest, WebhookIsSignedAndRetriedWithBackOffUntilItIsAccepted) {
  WebhookServer hook(tls_);
  hook.Answer({500, 503});
  AlertChannel c =
      Channel("webhook", {{"url", hook.Url()}, {"secret", "s3cret"}, {"ca_pem", ca_pem_}});
  EXPECT_TRUE(SecretBox::IsSealed(
      OK(store_->GetAlertChannel(tenant_.id, c.id)).config["secret"].get<std::string>()));
  std::string alert = Raise({c.id});
  auto notifier = MakeNotifier("node-1");

  EXPECT_EQ(notifier->RunOnce(), 1);  // HTTP 500
  EXPECT_EQ(notifier->RunOnce(), 0);  // not due before its back-off
  clock_.Advance(7s);                 // 5 s ± 20 %
  EXPECT_EQ(notifier->RunOnce(), 1);  // HTTP 503
  clock_.Advance(13s);                // 10 s ± 20 %
  EXPECT_EQ(notifier->RunOnce(), 1);  // accepted

  auto got = hook.Received_();
  ASSERT_EQ(got.size(), 3u);
  auto ns = OK(store_->ListNotifications(tenant_.id, alert));
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_EQ(ns[0].state, NotificationState::kSent);
  EXPECT_EQ(ns[0].attempts, 3);
  for (const auto& r : got) {
    EXPECT_EQ(r.delivery, ns[0].id);  // the receiver's de-duplication key, the same each time
    EXPECT_EQ(r.signature, WebhookSignature("s3cret", r.timestamp, r.body));
    json body = json::parse(r.body);
    EXPECT_EQ(body["alert"]["id"], alert);
    EXPECT_EQ(body["alert"]["hostname"], "web-01");
    EXPECT_EQ(body["alert"]["title"], "Eicar-Signature");
    EXPECT_EQ(body["rule"]["id"], "builtin.malware_found");
    EXPECT_EQ(body["rule"]["name"], "Malware found");
    EXPECT_EQ(body["tenant"]["name"], "shop");
  }
  // A tampered body does not verify.
  EXPECT_NE(got[0].signature, WebhookSignature("s3cret", got[0].timestamp, got[0].body + " "));
  auto log = Log(alert);
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0].detail, "HTTP 500");
  EXPECT_EQ(log[1].detail, "HTTP 503");
  EXPECT_EQ(log[2].detail, "HTTP 200");
  EXPECT_TRUE(log[2].ok);
  EXPECT_EQ(OK(store_->GetAlertChannel(tenant_.id, c.id)).consecutive_failures, 0);
}

TEST_F(NotifierTest, SlackAndTeamsBodiesAndAPermanentRefusal) {
  WebhookServer hook(tls_);
  AlertChannel slack =
      Channel("webhook", {{"url", hook.Url()}, {"format", "slack"}, {"ca_pem", ca_pem_}});
  AlertChannel teams =
      Channel("webhook", {{"url", hook.Url()}, {"format", "teams"}, {"ca_pem", ca_pem_}});
  Raise({slack.id, teams.id});
  auto notifier = MakeNotifier("node-1");
  EXPECT_EQ(notifier->RunOnce(), 2);
  auto got = hook.Received_();
  ASSERT_EQ(got.size(), 2u);
  std::set<std::string> shapes;
  for (const auto& r : got) {
    json body = json::parse(r.body);
    EXPECT_TRUE(r.signature.empty());  // no secret, no signature
    if (body.contains("text")) {
      EXPECT_NE(body["text"].get<std::string>().find("Eicar-Signature"), std::string::npos);
      shapes.insert("slack");
    } else {
      EXPECT_EQ(body["@type"], "MessageCard");
      shapes.insert("teams");
    }
  }
  EXPECT_EQ(shapes, (std::set<std::string>{"slack", "teams"}));
  // 404 cannot get better by retrying: given up at once.
  hook.Answer({404});
  clock_.Advance(2h);
  std::string second = Raise({slack.id});
  EXPECT_EQ(notifier->RunOnce(), 1);
  auto ns = OK(store_->ListNotifications(tenant_.id, second));
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_EQ(ns[0].state, NotificationState::kFailed);
  EXPECT_EQ(ns[0].last_error, "HTTP 404");
}

TEST_F(NotifierTest, ADeadEndpointIsRetriedAndRaisesAChannelFailingAlert) {
  ClosedPort closed;
  AlertChannel c = Channel(
      "webhook",
      {{"url", fmt::format("https://127.0.0.1:{}/hook", closed.port())}, {"ca_pem", ca_pem_}});
  std::string alert = Raise({c.id});
  auto notifier = MakeNotifier("node-1");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(notifier->RunOnce(), 1) << i;
    clock_.Advance(20min);
  }
  auto log = Log(alert);
  ASSERT_EQ(log.size(), 3u);
  for (const auto& a : log) {
    EXPECT_FALSE(a.ok);
    EXPECT_NE(a.detail.find("onnect"), std::string::npos) << a.detail;
  }
  AlertChannel after = OK(store_->GetAlertChannel(tenant_.id, c.id));
  EXPECT_EQ(after.consecutive_failures, 3);
  // The third failure stored one alert_channel_failing event, which raised a built-in alert.
  EventQuery q;
  q.module = "manager";
  q.action = "alert_channel_failing";
  auto events = OK(store_->QueryEvents(tenant_.id, q));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].severity, 3);
  EXPECT_EQ(events[0].doc["ward"]["alert_channel"]["id"], c.id);
  bool raised = false;
  for (const auto& a : OK(store_->ListAlerts(tenant_.id, {}))) {
    if (a.rule_key == "manager.alert_channel_failing") raised = true;
  }
  EXPECT_TRUE(raised);
  // Still pending: the notification is not lost while the endpoint is down.
  EXPECT_EQ(OK(store_->ListNotifications(tenant_.id, alert))[0].state, NotificationState::kPending);
}

TEST_F(NotifierTest, ANodeThatDiesMidDeliveryLosesItsClaimAndAnotherNodeDelivers) {
  WebhookServer hook(tls_);
  AlertChannel c = Channel("webhook", {{"url", hook.Url()}, {"ca_pem", ca_pem_}});
  std::string alert = Raise({c.id});
  // node-1 claimed the notification and was killed before sending it.
  ASSERT_EQ(OK(store_->ClaimNotifications("node-1", clock_.Now(), options_.lease, 10)).size(), 1u);
  auto restarted = MakeNotifier("node-2");
  EXPECT_EQ(restarted->RunOnce(), 0);
  EXPECT_TRUE(hook.Received_().empty());
  clock_.Advance(options_.lease + 1s);
  EXPECT_EQ(restarted->RunOnce(), 1);
  ASSERT_EQ(hook.Received_().size(), 1u);
  EXPECT_EQ(OK(store_->ListNotifications(tenant_.id, alert))[0].state, NotificationState::kSent);
}

TEST_F(NotifierTest, StartedNotifierDeliversWithoutBeingAsked) {
  WebhookServer hook(tls_);
  AlertChannel c = Channel("webhook", {{"url", hook.Url()}, {"ca_pem", ca_pem_}});
  options_.idle_poll = 50ms;
  auto notifier = MakeNotifier("node-1");
  notifier->Start();
  std::string alert = Raise({c.id});
  notifier->Wake();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (hook.Received_().empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);  // polling a condition with a deadline
  }
  notifier->Stop();
  ASSERT_EQ(hook.Received_().size(), 1u);
}

TEST_F(NotifierTest, EmailGoesOverStartTlsWithAuthInEachRecipientsLanguage) {
  test::TempDir mail;
  SmtpServer smtp(tls_, mail.Str(), "pw-1");
  ASSERT_GT(smtp.port(), 0);
  json config = {{"url", fmt::format("smtp://127.0.0.1:{}", smtp.port())},
                 {"username", "ward"},
                 {"password", "pw-1"},
                 {"from", "ward@example.com"},
                 {"recipients",
                  {{{"address", "ops@example.com"}, {"language", "en"}},
                   {{"address", "sec@example.jp"}, {"language", "ja"}}}},
                 {"ca_pem", ca_pem_}};
  ASSERT_FALSE(CheckChannelConfig("email", config));
  AlertChannel c = Channel("email", config);
  std::string alert = Raise({c.id});
  auto notifier = MakeNotifier("node-1");
  EXPECT_EQ(notifier->RunOnce(), 1);
  auto log = Log(alert);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_TRUE(log[0].ok) << log[0].detail;
  std::map<std::string, json> by_rcpt;
  for (const auto& f : std::filesystem::directory_iterator(mail.path())) {
    json m = json::parse(ReadAll(f.path()));
    by_rcpt[m["rcpt_tos"][0]] = m;
  }
  ASSERT_EQ(by_rcpt.size(), 2u);
  for (const auto& [rcpt, m] : by_rcpt) {
    EXPECT_TRUE(m["tls"].get<bool>()) << rcpt;
    EXPECT_EQ(m["mail_from"], "ward@example.com");
    std::string data = m["data"];
    EXPECT_NE(data.find("multipart/alternative"), std::string::npos);
    EXPECT_NE(data.find("text/html"), std::string::npos);
    size_t s = data.find("Subject: =?UTF-8?B?");
    ASSERT_NE(s, std::string::npos);
    size_t b = s + std::strlen("Subject: =?UTF-8?B?");
    auto subject = Base64Decode(data.substr(b, data.find("?=", b) - b));
    ASSERT_TRUE(subject.has_value());
    EXPECT_NE(subject->find("Eicar-Signature"), std::string::npos);
    if (rcpt == "sec@example.jp") {
      EXPECT_NE(subject->find("のアラート"), std::string::npos) << *subject;
    } else {
      EXPECT_NE(subject->find("alert on web-01"), std::string::npos) << *subject;
    }
  }
  // A wrong password is refused by the server: permanent, given up.
  json bad = config;
  bad["password"] = "wrong";
  AlertChannel wrong = Channel("email", bad);
  clock_.Advance(2h);
  std::string second = Raise({wrong.id});
  EXPECT_EQ(notifier->RunOnce(), 1);
  auto ns = OK(store_->ListNotifications(tenant_.id, second));
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_EQ(ns[0].state, NotificationState::kFailed) << ns[0].last_error;
}

// A syslog receiver over TCP: accepts one connection and keeps what it reads.
class TcpSink {
 public:
  TcpSink() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 4);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      for (;;) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        std::lock_guard lock(mu_);
        data_.append(buf, static_cast<size_t>(n));
      }
      ::close(c);
    });
  }
  ~TcpSink() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  std::string Data() {
    std::lock_guard lock(mu_);
    return data_;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::string data_;
};

TEST_F(NotifierTest, SyslogChannelSendsAnOctetCountedRfc5424Message) {
  TcpSink sink;
  json config = {{"transport", "tcp"}, {"host", "127.0.0.1"}, {"port", sink.port()}};
  ASSERT_FALSE(CheckChannelConfig("syslog", config));
  AlertChannel c = Channel("syslog", config);
  std::string alert = Raise({c.id});
  auto notifier = MakeNotifier("node-1");
  EXPECT_EQ(notifier->RunOnce(), 1);
  auto log = Log(alert);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_TRUE(log[0].ok) << log[0].detail;
  // WaitAcknowledged returned: the bytes reached the receiver's socket.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (sink.Data().find("}") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);  // the sink's thread copies what the kernel holds
  }
  std::string data = sink.Data();
  size_t sp = data.find(' ');
  ASSERT_NE(sp, std::string::npos);
  EXPECT_EQ(std::stoul(data.substr(0, sp)), data.size() - sp - 1);  // octet counting
  std::string msg = data.substr(sp + 1);
  EXPECT_TRUE(msg.starts_with("<131>1 ")) << msg;  // local0.err: a high alert
  EXPECT_NE(msg.find(" web-01 ward - alert - "), std::string::npos) << msg;
  json doc = json::parse(msg.substr(msg.find('{')));
  EXPECT_EQ(doc["alert"]["id"], alert);
}

TEST(ChannelConfig, ErrorsNameTheField) {
  EXPECT_EQ(*CheckChannelConfig("webhook", {{"url", "ftp://x"}}),
            "config.url: expected an http:// or https:// URL");
  EXPECT_EQ(*CheckChannelConfig("webhook", {{"url", "https://x"}, {"format", "xml"}}),
            "config.format: expected json, slack or teams");
  EXPECT_EQ(*CheckChannelConfig("webhook", {{"url", "https://x"}, {"token", "t"}}),
            "config.token: unknown field");
  json mail = {{"url", "smtp://x:587"},
               {"from", "a@b"},
               {"recipients", {{{"address", "c@d"}, {"language", "fr"}}}}};
  EXPECT_EQ(*CheckChannelConfig("email", mail), "config.recipients[0].language: expected en or ja");
  EXPECT_EQ(*CheckChannelConfig("pager", json::object()),
            "kind: expected webhook, email or syslog");
  EXPECT_EQ(*CheckChannelConfig("syslog", {{"host", "siem"}, {"port", 0}}),
            "config.port: expected 1..65535");
  EXPECT_FALSE(
      CheckChannelConfig("syslog", {{"transport", "tls"}, {"host", "siem"}, {"port", 6514}}));
}

TEST(ChannelSecrets, AreSealedAtRestAndNeverShown) {
  auto box = SecretBox::Ephemeral();
  json sealed = SealChannelSecrets({{"url", "https://x"}, {"secret", "abc"}}, &box);
  EXPECT_TRUE(SecretBox::IsSealed(sealed["secret"].get<std::string>()));
  EXPECT_EQ(OK(OpenChannelSecrets(sealed, &box))["secret"], "abc");
  json shown = RedactChannelConfig(sealed);
  EXPECT_FALSE(shown.contains("secret"));
  EXPECT_EQ(shown["secret_set"], true);
  auto other = SecretBox::Ephemeral();
  EXPECT_FALSE(OpenChannelSecrets(sealed, &other).has_value());
}

TEST(MailText, EscapesHtmlAndKeepsHeadersOnOneLine) {
  AlertMessage m;
  m.alert.title = "<script>\r\nBcc: x@evil</script>";
  m.hostname = "web-01";
  MailText t = RenderMail(m, "en");
  EXPECT_EQ(t.subject.find('\n'), std::string::npos);
  EXPECT_EQ(t.html.find("<script>"), std::string::npos);
  EXPECT_NE(t.html.find("&lt;script&gt;"), std::string::npos);
  std::string msg = MimeMessage("a@b", {"c@d"}, t, "id-1", TimePoint(1'800'000'000s));
  EXPECT_EQ(msg.find("\r\nBcc:"), std::string::npos);
}

}  // namespace
}  // namespace ward::manager::alerting
