// Scheduled reports by e-mail, end to end (docs/reports.md, "Delivery by e-mail"): a due schedule
// is run by two manager nodes at once (two stores on one SQLite database, two mailers) against a
// real SMTP server with STARTTLS and AUTH (aiosmtpd, testdata/alerting/smtp_server.py): one
// message per recipient language, each once, with the report's HTML as body and the PDF attached
// in that language; running the job again sends nothing; an SMTP server that refuses is recorded
// on the schedule.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
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

  void AddEmailChannel(int port, const std::string& password) {
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
    ASSERT_TRUE(node_a_->CreateAlertChannel(c).ok());
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
  SmtpReportMailer mailer_a(*node_a_, box_), mailer_b(*node_b_, box_);
  Result<ScheduleRunReport> run_a = ScheduleRunReport{}, run_b = ScheduleRunReport{};
  std::thread a([&] { run_a = RunReportSchedules(*node_a_, clock_, &mailer_a); });
  std::thread b([&] { run_b = RunReportSchedules(*node_b_, clock_, &mailer_b); });
  a.join();
  b.join();
  ASSERT_TRUE(run_a.has_value()) << run_a.error().ToString();
  ASSERT_TRUE(run_b.has_value()) << run_b.error().ToString();
  EXPECT_EQ(run_a->made + run_b->made, 1);
  EXPECT_EQ(run_a->mailed + run_b->mailed, 1);
  EXPECT_EQ(run_a->failed + run_b->failed, 0);
  // The job again (a retry, the next tick): nothing is due, nothing is sent.
  auto again = RunReportSchedules(*node_b_, clock_, &mailer_b);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->made, 0);
  EXPECT_EQ(again->mailed, 0);

  auto got = node_a_->GetReportSchedule(tenant_.id, s.id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->last_error, "");
  ASSERT_FALSE(got->last_report_id.empty());
  auto kept = node_a_->GetReport(tenant_.id, got->last_report_id, true);
  ASSERT_TRUE(kept.has_value());
  ASSERT_TRUE(kept->content.starts_with("%PDF-"));

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

TEST_F(ReportMailTest, ARefusedEmailIsRecordedAndTheReportKept) {
  test::TempDir mail;
  SmtpServer smtp(tls_, mail.Str(), "pw-1");
  ASSERT_GT(smtp.port(), 0);
  AddEmailChannel(smtp.port(), "wrong password");
  ReportSchedule s = AddSchedule("refused");
  clock_.Advance(24h);
  SmtpReportMailer mailer(*node_a_, box_, 10s);
  auto run = RunReportSchedules(*node_a_, clock_, &mailer);
  ASSERT_TRUE(run.has_value()) << run.error().ToString();
  EXPECT_EQ(run->made, 1);
  EXPECT_EQ(run->mailed, 0);
  EXPECT_EQ(run->failed, 1);
  auto got = node_a_->GetReportSchedule(tenant_.id, s.id);
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->last_error.starts_with("e-mail: ")) << got->last_error;
  EXPECT_FALSE(got->last_report_id.empty());
  EXPECT_GT(got->next_run_at, clock_.Now());
  EXPECT_TRUE(Received(mail).empty());
}

TEST_F(ReportMailTest, WithoutAnEmailChannelTheErrorSaysSo) {
  ReportSchedule s = AddSchedule("no channel");
  clock_.Advance(24h);
  SmtpReportMailer mailer(*node_a_, box_);
  auto run = RunReportSchedules(*node_a_, clock_, &mailer);
  ASSERT_TRUE(run.has_value()) << run.error().ToString();
  EXPECT_EQ(run->made, 1);
  auto got = node_a_->GetReportSchedule(tenant_.id, s.id);
  ASSERT_TRUE(got.has_value());
  EXPECT_NE(got->last_error.find("no enabled e-mail channel"), std::string::npos)
      << got->last_error;
}

}  // namespace
}  // namespace ward::manager::reports
