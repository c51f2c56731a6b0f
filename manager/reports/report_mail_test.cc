// Scheduled reports by e-mail, end to end (docs/reports.md, "Delivery by e-mail"): a due schedule
// is run by two manager nodes at once (two stores on one SQLite database, two mailers) against a
// real SMTP server with STARTTLS and AUTH (aiosmtpd, testdata/alerting/smtp_server.py): one
// message per recipient language, each once, with the report's HTML as body and the PDF attached
// in that language; running the job again sends nothing. The mails are queued with the run and
// delivered at least once: an SMTP server that is down at the run gets them when it is up (fake
// clock for the back-off), a node killed between queueing and sending (a real SIGKILL) leaves
// them to the next run after its claim ends, a permanent refusal is recorded without retries, and
// a server down for longer than the bound is given up with an event.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "common/event.h"
#include "common/text.h"
#include "manager/alerting/notifier.h"
#include "manager/alerting/smtp_server_testing.h"
#include "manager/reports/mailer.h"
#include "manager/reports/schedules.h"
#include "manager/services/tls.h"
#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

namespace ward::manager::reports {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

using testing::SmtpServer;

// The decoded parts of a MIME message: content type (without parameters) → decoded body.
std::multimap<std::string, std::string> Parts(const std::string& data) {
  std::multimap<std::string, std::string> out;
  size_t pos = 0;
  while ((pos = data.find("Content-Type: ", pos)) != std::string::npos) {
    size_t end = data.find_first_of(";\r", pos);
    std::string type = data.substr(pos + 14, end - pos - 14);
    size_t head_end = data.find("\r\n\r\n", pos);
    if (head_end == std::string::npos) break;
    std::string head = data.substr(pos, head_end - pos);
    pos = head_end + 4;
    if (head.find("base64") == std::string::npos) continue;
    size_t body_end = data.find("--", pos);
    std::string b64;
    for (char c : data.substr(pos, body_end - pos)) {
      if (c != '\r' && c != '\n') b64 += c;
    }
    auto bytes = Base64Decode(b64);
    out.emplace(type, bytes.value_or("<bad base64>"));
  }
  return out;
}

std::string Subject(const std::string& data) {
  size_t s = data.find("Subject: =?UTF-8?B?");
  if (s == std::string::npos) return "";
  size_t b = s + std::strlen("Subject: =?UTF-8?B?");
  return Base64Decode(data.substr(b, data.find("?=", b) - b)).value_or("");
}

class ReportMailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tls = EnsureSelfSignedCertificate(dir_.path(), "localhost");
    ASSERT_TRUE(tls.has_value()) << tls.error().ToString();
    tls_ = *tls;
    ca_pem_ = ReadAll(tls_.cert);
    for (auto* s : {&node_a_, &node_b_}) {
      auto opened = Store::Open("sqlite:" + dir_.Sub("ward.db"));
      ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
      *s = std::move(opened).value();
      ASSERT_TRUE((*s)->Migrate().ok());
    }
    tenant_.id = "tenant-1";
    tenant_.name = "shop";
    tenant_.created_at = clock_.Now();
    ASSERT_TRUE(node_a_->CreateTenant(tenant_).ok());
  }

  AlertChannel AddEmailChannel(int port, const std::string& password) {
    json config = {{"url", fmt::format("smtp://127.0.0.1:{}", port)},
                   {"username", "ward"},
                   {"password", password},
                   {"from", "ward@example.com"},
                   {"recipients",
                    {{{"address", "ops@example.com"}, {"language", "en"}},
                     {{"address", "Sec@Example.jp"}, {"language", "ja"}}}},
                   {"ca_pem", ca_pem_}};
    AlertChannel c;
    c.id = NewEventId(clock_.Now());
    c.tenant_id = tenant_.id;
    c.name = "mail";
    c.kind = "email";
    c.config = alerting::SealChannelSecrets(config, box_.get());
    c.created_at = c.updated_at = clock_.Now();
    EXPECT_TRUE(node_a_->CreateAlertChannel(c).ok());
    return c;
  }

  // Points the channel at another port (the SMTP server that is up now).
  void MoveChannel(AlertChannel c, int port) {
    json config = alerting::OpenChannelSecrets(c.config, box_.get()).value();
    config["url"] = fmt::format("smtp://127.0.0.1:{}", port);
    c.config = alerting::SealChannelSecrets(config, box_.get());
    ASSERT_TRUE(node_a_->UpdateAlertChannel(c).ok());
  }

  static ReportMailOptions Node(const std::string& holder) {
    ReportMailOptions o;
    o.holder = holder;
    return o;
  }

  // The schedule's last report's mails by language, after checking there are two (en, ja).
  std::map<std::string, ReportMail> Mails(const std::string& schedule_id) {
    auto s = node_a_->GetReportSchedule(tenant_.id, schedule_id);
    EXPECT_TRUE(s.has_value());
    if (!s) return {};
    auto mails = node_a_->ListReportMails(tenant_.id, s->last_report_id);
    EXPECT_TRUE(mails.has_value()) << mails.error().ToString();
    std::map<std::string, ReportMail> out;
    if (mails) {
      for (const auto& m : *mails) out[m.language] = m;
    }
    EXPECT_EQ(out.size(), 2u);
    return out;
  }

  int64_t Pending() {
    auto n = node_a_->CountPendingReportMails();
    EXPECT_TRUE(n.has_value()) << n.error().ToString();
    return n ? *n : -1;
  }

  // The tenant's report_mail_failed events.
  std::vector<StoredEvent> FailedEvents() {
    EventQuery q;
    q.module = "manager";
    q.action = "report_mail_failed";
    auto events = node_a_->QueryEvents(tenant_.id, q);
    EXPECT_TRUE(events.has_value()) << events.error().ToString();
    return events ? *events : std::vector<StoredEvent>{};
  }

  // A daily PDF summary for the day that ends at the fake clock's next midnight, due then.
  ReportSchedule AddSchedule(const std::string& name) {
    ReportSchedule s;
    s.id = NewEventId(clock_.Now());
    s.tenant_id = tenant_.id;
    s.name = name;
    s.frequency = "daily";
    s.kind = "summary";
    s.format = "pdf";
    s.language = "en";
    s.recipients = {"ops@example.com", "sec@example.jp", "auditor@example.org"};
    s.next_run_at = NextRun("daily", clock_.Now());
    s.created_at = clock_.Now();
    EXPECT_TRUE(node_a_->CreateReportSchedule(s).ok());
    return s;
  }

  std::vector<json> Received(const test::TempDir& mail) {
    std::vector<json> out;
    for (const auto& f : std::filesystem::directory_iterator(mail.path())) {
      if (f.path().extension() == ".json") out.push_back(json::parse(ReadAll(f.path())));
    }
    return out;
  }

  // A port nothing answers on: a TCP socket bound to it but not listening (connect is refused),
  // held for the test so that no other process takes the port.
  class RefusingPort {
   public:
    RefusingPort() {
      fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t len = sizeof(a);
      if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
          ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        return;
      }
      port_ = ntohs(a.sin_port);
    }
    ~RefusingPort() {
      if (fd_ >= 0) ::close(fd_);
    }
    RefusingPort(const RefusingPort&) = delete;
    RefusingPort& operator=(const RefusingPort&) = delete;
    int port() const { return port_; }

   private:
    int fd_ = -1;
    int port_ = 0;
  };

  test::TempDir dir_;
  TlsFiles tls_;
  std::string ca_pem_;
  test::FakeClock clock_;
  std::shared_ptr<const SecretBox> box_ = std::make_shared<const SecretBox>(SecretBox::Ephemeral());
  std::unique_ptr<Store> node_a_, node_b_;
  Tenant tenant_;
};

TEST_F(ReportMailTest, ADueReportIsMailedOncePerLanguageByOneOfTwoNodes) {
  test::TempDir mail;
  SmtpServer smtp(tls_, mail.Str(), "pw-1");
  ASSERT_GT(smtp.port(), 0);
  AddEmailChannel(smtp.port(), "pw-1");
  ReportSchedule s = AddSchedule("daily summary");
  clock_.Advance(24h);  // past the schedule's next run
  SmtpReportMailer mailer_a(*node_a_, box_, 30s, Node("node-a"));
  SmtpReportMailer mailer_b(*node_b_, box_, 30s, Node("node-b"));
  Result<ScheduleRunReport> run_a = ScheduleRunReport{}, run_b = ScheduleRunReport{};
  std::thread a([&] { run_a = RunReportSchedules(*node_a_, clock_, &mailer_a); });
  std::thread b([&] { run_b = RunReportSchedules(*node_b_, clock_, &mailer_b); });
  a.join();
  b.join();
  ASSERT_TRUE(run_a.has_value()) << run_a.error().ToString();
  ASSERT_TRUE(run_b.has_value()) << run_b.error().ToString();
  EXPECT_EQ(run_a->made + run_b->made, 1);
  EXPECT_EQ(run_a->queued + run_b->queued, 2);
  EXPECT_EQ(run_a->failed + run_b->failed, 0);
  // Node b may have looked at the outbox before node a's run was committed: the mails are sent
  // by this round or the next, each by one node.
  int mailed = run_a->mailed + run_b->mailed;
  for (auto* node : {&mailer_a, &mailer_b}) {
    auto again = RunReportSchedules(node == &mailer_a ? *node_a_ : *node_b_, clock_, node);
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->made, 0);
    EXPECT_EQ(again->queued, 0);
    mailed += again->mailed;
  }
  EXPECT_EQ(mailed, 2);
  EXPECT_EQ(Pending(), 0);

  auto got = node_a_->GetReportSchedule(tenant_.id, s.id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->last_error, "");
  ASSERT_FALSE(got->last_report_id.empty());
  auto kept = node_a_->GetReport(tenant_.id, got->last_report_id, true);
  ASSERT_TRUE(kept.has_value());
  ASSERT_TRUE(kept->content.starts_with("%PDF-"));
  for (const auto& [language, m] : Mails(s.id)) {
    EXPECT_EQ(m.state, ReportMailState::kSent) << language;
    EXPECT_EQ(m.attempts, 1) << language;
    EXPECT_EQ(m.last_error, "");
    EXPECT_TRUE(m.sent_at.has_value());
  }

  // One message in English (ops, and the auditor the channel does not know: the schedule's
  // language) and one in Japanese (sec, matched without regard to case).
  auto received = Received(mail);
  ASSERT_EQ(received.size(), 2u);
  std::map<std::string, json> by_first_rcpt;
  for (const json& m : received) by_first_rcpt[m["rcpt_tos"][0]] = m;
  ASSERT_EQ(by_first_rcpt.count("ops@example.com"), 1u);
  ASSERT_EQ(by_first_rcpt.count("sec@example.jp"), 1u);
  const json& en = by_first_rcpt["ops@example.com"];
  const json& ja = by_first_rcpt["sec@example.jp"];
  EXPECT_EQ(en["rcpt_tos"], json({"ops@example.com", "auditor@example.org"}));
  EXPECT_EQ(ja["rcpt_tos"], json({"sec@example.jp"}));
  for (const json* m : {&en, &ja}) {
    EXPECT_TRUE((*m)["tls"].get<bool>());
    EXPECT_EQ((*m)["mail_from"], "ward@example.com");
    const std::string data = (*m)["data"];
    EXPECT_NE(data.find("multipart/mixed"), std::string::npos);
    EXPECT_NE(data.find(fmt::format("Message-ID: <{}.", got->last_report_id)), std::string::npos);
    auto parts = Parts(data);
    ASSERT_EQ(parts.count("text/plain"), 1u);
    ASSERT_EQ(parts.count("text/html"), 1u);
    ASSERT_EQ(parts.count("application/pdf"), 1u);
    EXPECT_TRUE(parts.find("application/pdf")->second.starts_with("%PDF-"));
    EXPECT_NE(parts.find("text/html")->second.find("shop"), std::string::npos);
  }
  const std::string en_data = en["data"], ja_data = ja["data"];
  EXPECT_NE(en_data.find(fmt::format("Message-ID: <{}.en@ward>", got->last_report_id)),
            std::string::npos);
  EXPECT_NE(ja_data.find(fmt::format("Message-ID: <{}.ja@ward>", got->last_report_id)),
            std::string::npos);
  EXPECT_NE(Subject(en_data).find("Security summary for shop"), std::string::npos)
      << Subject(en_data);
  EXPECT_NE(Subject(ja_data).find("セキュリティ概要レポート"), std::string::npos)
      << Subject(ja_data);
  EXPECT_NE(Parts(ja_data).find("text/html")->second.find("lang=\"ja\""), std::string::npos);
  // The English PDF is the kept report itself; the Japanese one was rendered for its reader.
  EXPECT_EQ(Parts(en_data).find("application/pdf")->second, kept->content);
  EXPECT_NE(Parts(ja_data).find("application/pdf")->second, kept->content);
  EXPECT_NE(en_data.find("filename=\"ward-summary-"), std::string::npos);
}

TEST_F(ReportMailTest, AServerDownAtTheRunGetsTheMailsOnceItIsUp) {
  RefusingPort down;
  ASSERT_GT(down.port(), 0);
  AlertChannel channel = AddEmailChannel(down.port(), "pw-1");
  ReportSchedule s = AddSchedule("down");
  clock_.Advance(24h);
  SmtpReportMailer mailer(*node_a_, box_, 10s, Node("node-a"));
  auto run = RunReportSchedules(*node_a_, clock_, &mailer);
  ASSERT_TRUE(run.has_value()) << run.error().ToString();
  EXPECT_EQ(run->made, 1);
  EXPECT_EQ(run->queued, 2);
  EXPECT_EQ(run->mailed, 0);
  EXPECT_EQ(run->retrying, 2);
  EXPECT_EQ(run->failed, 0);
  const TimePoint first_try = clock_.Now();
  for (const auto& [language, m] : Mails(s.id)) {
    EXPECT_EQ(m.state, ReportMailState::kPending) << language;
    EXPECT_EQ(m.attempts, 1);
    EXPECT_FALSE(m.last_error.empty());
    // The first back-off: 60 s ± 20 %.
    EXPECT_GE(m.next_attempt_at, first_try + 48s);
    EXPECT_LE(m.next_attempt_at, first_try + 72s);
  }
  // Not due yet: the next tick sends nothing, not even to a server that is up.
  test::TempDir mail;
  SmtpServer smtp(tls_, mail.Str(), "pw-1");
  ASSERT_GT(smtp.port(), 0);
  MoveChannel(channel, smtp.port());
  clock_.Advance(15s);
  run = RunReportSchedules(*node_a_, clock_, &mailer);
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->mailed + run->retrying + run->given_up, 0);
  EXPECT_TRUE(Received(mail).empty());
  // Past the back-off: both arrive, once.
  clock_.Advance(60s);
  run = RunReportSchedules(*node_a_, clock_, &mailer);
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->mailed, 2);
  EXPECT_EQ(Received(mail).size(), 2u);
  for (const auto& [language, m] : Mails(s.id)) {
    EXPECT_EQ(m.state, ReportMailState::kSent) << language;
    EXPECT_EQ(m.attempts, 2);
    EXPECT_EQ(m.last_error, "");
  }
  clock_.Advance(1h);
  run = RunReportSchedules(*node_a_, clock_, &mailer);
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->mailed, 0);
  EXPECT_EQ(Received(mail).size(), 2u);
  auto got = node_a_->GetReportSchedule(tenant_.id, s.id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->last_error, "");
}

TEST_F(ReportMailTest, AManagerKilledBetweenQueueingAndSendingSendsAfterTheRestart) {
  test::TempDir mail;
  SmtpServer smtp(tls_, mail.Str(), "pw-1");
  ASSERT_GT(smtp.port(), 0);
  AddEmailChannel(smtp.port(), "pw-1");
  ReportSchedule s = AddSchedule("killed");
  clock_.Advance(24h);
  // The first manager process records the run with its mails, claims them and is killed (a
  // real SIGKILL) before it sends any.
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto store = Store::Open("sqlite:" + dir_.Sub("ward.db"));
    if (!store) ::_exit(2);
    ReportMailOptions o = Node("first-life");
    o.before_send = [](const ReportMail&) { ::raise(SIGKILL); };
    SmtpReportMailer mailer(**store, box_, 10s, o);
    (void)RunReportSchedules(**store, clock_, &mailer);
    ::_exit(3);  // not reached when a mail was claimed
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  EXPECT_EQ(Pending(), 2);
  EXPECT_TRUE(Received(mail).empty());

  // After the restart (a new node id), the run is not made again; the dead node's claims hold
  // until their lease (300 s) ends, then the mails go out.
  SmtpReportMailer mailer(*node_a_, box_, 10s, Node("second-life"));
  auto run = RunReportSchedules(*node_a_, clock_, &mailer);
  ASSERT_TRUE(run.has_value()) << run.error().ToString();
  EXPECT_EQ(run->made, 0);
  EXPECT_EQ(run->mailed, 0);
  clock_.Advance(301s);
  run = RunReportSchedules(*node_a_, clock_, &mailer);
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->made, 0);
  EXPECT_EQ(run->mailed, 2);
  EXPECT_EQ(Received(mail).size(), 2u);
  for (const auto& [language, m] : Mails(s.id)) {
    EXPECT_EQ(m.state, ReportMailState::kSent) << language;
    EXPECT_EQ(m.attempts, 1);  // the killed attempt never settled
  }
}

TEST_F(ReportMailTest, APermanentRefusalIsRecordedOnceAndNotRetried) {
  test::TempDir mail;
  SmtpServer smtp(tls_, mail.Str(), "pw-1");
  ASSERT_GT(smtp.port(), 0);
  AddEmailChannel(smtp.port(), "wrong password");
  ReportSchedule s = AddSchedule("refused");
  clock_.Advance(24h);
  SmtpReportMailer mailer(*node_a_, box_, 10s, Node("node-a"));
  auto run = RunReportSchedules(*node_a_, clock_, &mailer);
  ASSERT_TRUE(run.has_value()) << run.error().ToString();
  EXPECT_EQ(run->made, 1);
  EXPECT_EQ(run->mailed, 0);
  EXPECT_EQ(run->retrying, 0);
  EXPECT_EQ(run->given_up, 2);
  auto got = node_a_->GetReportSchedule(tenant_.id, s.id);
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->last_error.starts_with("e-mail: ")) << got->last_error;
  EXPECT_FALSE(got->last_report_id.empty());
  EXPECT_GT(got->next_run_at, clock_.Now());
  for (const auto& [language, m] : Mails(s.id)) {
    EXPECT_EQ(m.state, ReportMailState::kFailed) << language;
    EXPECT_EQ(m.attempts, 1);
    EXPECT_FALSE(m.last_error.empty());
  }
  // Told to the tenant: one event per mail given up, which raises a built-in alert.
  auto events = FailedEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].severity, 3);
  AlertFilter aq;
  auto alerts = node_a_->ListAlerts(tenant_.id, aq);
  ASSERT_TRUE(alerts.has_value()) << alerts.error().ToString();
  EXPECT_FALSE(alerts->empty());
  // No retry storm: a day of ticks later nothing more was tried (the schedule is switched off so
  // that its next run does not queue new mails).
  got->enabled = false;
  ASSERT_TRUE(node_a_->UpdateReportSchedule(*got).ok());
  for (int i = 0; i < 24; ++i) {
    clock_.Advance(1h);
    run = RunReportSchedules(*node_a_, clock_, &mailer);
    ASSERT_TRUE(run.has_value());
    EXPECT_EQ(run->mailed + run->retrying + run->given_up, 0);
  }
  for (const auto& [language, m] : Mails(s.id)) EXPECT_EQ(m.attempts, 1) << language;
  EXPECT_EQ(FailedEvents().size(), 2u);
  EXPECT_TRUE(Received(mail).empty());
}

TEST_F(ReportMailTest, AServerDownForMoreThanADayIsGivenUpWithBoundedAttempts) {
  RefusingPort down;
  ASSERT_GT(down.port(), 0);
  AddEmailChannel(down.port(), "pw-1");
  ReportSchedule s = AddSchedule("gone");
  clock_.Advance(24h);
  SmtpReportMailer mailer(*node_a_, box_, 10s, Node("node-a"));
  // A tick every 15 minutes for 26 hours (the schedule's own next runs come in between).
  int given_up = 0;
  for (int i = 0; i < 26 * 4; ++i) {
    auto run = RunReportSchedules(*node_a_, clock_, &mailer);
    ASSERT_TRUE(run.has_value()) << run.error().ToString();
    given_up += run->given_up;
    clock_.Advance(15min);
  }
  auto mails = node_a_->ListReportMails(tenant_.id, [&] {
    // The first run's report: the oldest of the schedule.
    auto list = node_a_->ListReports(tenant_.id, std::nullopt, 100);
    return list.has_value() && !list->empty() ? list->back().id : std::string();
  }());
  ASSERT_TRUE(mails.has_value()) << mails.error().ToString();
  ASSERT_EQ(mails->size(), 2u);
  for (const ReportMail& m : *mails) {
    EXPECT_EQ(m.state, ReportMailState::kFailed) << m.language;
    // 60 s doubling to 1 h, then hourly, for 24 h: about 30 attempts, never a storm.
    EXPECT_GE(m.attempts, 20) << m.language;
    EXPECT_LE(m.attempts, 40) << m.language;
    EXPECT_FALSE(m.last_error.empty());
  }
  EXPECT_GE(given_up, 2);
  EXPECT_GE(FailedEvents().size(), 2u);
}

TEST_F(ReportMailTest, WithoutAnEmailChannelTheErrorSaysSo) {
  ReportSchedule s = AddSchedule("no channel");
  clock_.Advance(24h);
  SmtpReportMailer mailer(*node_a_, box_, 30s, Node("node-a"));
  auto run = RunReportSchedules(*node_a_, clock_, &mailer);
  ASSERT_TRUE(run.has_value()) << run.error().ToString();
  EXPECT_EQ(run->made, 1);
  EXPECT_EQ(run->queued, 0);
  auto got = node_a_->GetReportSchedule(tenant_.id, s.id);
  ASSERT_TRUE(got.has_value());
  EXPECT_NE(got->last_error.find("no enabled e-mail channel"), std::string::npos)
      << got->last_error;
  EXPECT_EQ(Pending(), 0);
}

}  // namespace
}  // namespace ward::manager::reports
