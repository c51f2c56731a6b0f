#include "manager/reports/mailer.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "common/event.h"
#include "manager/alerting/notifier.h"
#include "manager/alerting/rules.h"
#include "manager/alerting/senders.h"
#include "manager/jobs/jobs.h"
#include "manager/reports/i18n.h"
#include "manager/reports/render.h"

namespace ward::manager::reports {

namespace {

using json = nlohmann::json;

constexpr auto kRoundBudget = std::chrono::seconds(10);

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  });
  return s;
}

}  // namespace

SmtpReportMailer::SmtpReportMailer(Store& store, std::shared_ptr<const SecretBox> box,
                                   std::chrono::milliseconds timeout, ReportMailOptions options)
    : store_(store), box_(std::move(box)), timeout_(timeout), options_(std::move(options)) {
  if (options_.holder.empty()) options_.holder = MakeNodeId();
}

Result<json> SmtpReportMailer::ChannelConfig(const std::string& tenant_id) {
  WARD_ASSIGN_OR_RETURN(auto channels, store_.ListAlertChannels(tenant_id));
  for (const auto& c : channels) {
    if (c.kind == "email" && c.enabled) return alerting::OpenChannelSecrets(c.config, box_.get());
  }
  return FailedPrecondition("no enabled e-mail channel to send the report through");
}

Result<std::vector<ReportMail>> SmtpReportMailer::Compose(const Tenant& tenant,
                                                          const ReportSchedule& schedule,
                                                          const StoredReport& report,
                                                          const ReportData& data, TimePoint now) {
  WARD_ASSIGN_OR_RETURN(json config, ChannelConfig(tenant.id));
  // The channel's recipients know their language; anyone else reads the schedule's.
  std::map<std::string, Language> known;
  if (config.contains("recipients") && config["recipients"].is_array()) {
    for (const json& r : config["recipients"]) {
      Language l = Language::kEn;
      if (!r.is_object() || !r.contains("address") || !r["address"].is_string()) continue;
      if (r.contains("language") && r["language"].is_string()) {
        ParseLanguage(r["language"].get<std::string>(), l);
      }
      known[Lower(r["address"].get<std::string>())] = l;
    }
  }
  std::map<Language, std::vector<std::string>> by_language;
  for (const std::string& to : schedule.recipients) {
    auto it = known.find(Lower(to));
    by_language[it != known.end() ? it->second : data.request.language].push_back(to);
  }
  const std::string from = config.contains("from") && config["from"].is_string()
                               ? config["from"].get<std::string>()
                               : "";
  std::vector<ReportMail> out;
  for (const auto& [language, to] : by_language) {
    ReportData d = data;
    d.request.language = language;
    std::string pdf;
    if (report.format == "pdf" && report.language == LanguageName(language)) {
      pdf = report.content;
    } else {
      WARD_ASSIGN_OR_RETURN(pdf, RenderPdf(d));
    }
    const std::string title(Text(language, "report." + std::string(KindName(d.request.kind))));
    const std::string first = DayText(d.request.from);
    const std::string last = DayText(d.request.to - std::chrono::seconds(1));
    alerting::MailText text;
    text.subject = Fill(Text(language, "mail.subject"), {title, tenant.name, first, last});
    text.text = Fill(Text(language, "mail.text"), {tenant.name, first, last}) + "\n";
    text.html = RenderHtml(d);
    alerting::MailAttachment attachment;
    attachment.filename =
        fmt::format("ward-{}-{}-{}.pdf", KindName(d.request.kind), first, LanguageName(language));
    attachment.content_type = "application/pdf";
    attachment.bytes = std::move(pdf);
    ReportMail m;
    m.id = NewEventId(now);
    m.tenant_id = tenant.id;
    m.schedule_id = schedule.id;
    m.report_id = report.id;
    m.language = std::string(LanguageName(language));
    m.mail_from = from;
    m.recipients = to;
    m.message =
        alerting::MimeMessage(from, to, text, fmt::format("{}.{}@ward", report.id, m.language),
                              report.created_at, {attachment});
    m.created_at = now;
    m.next_attempt_at = now;
    out.push_back(std::move(m));
  }
  return out;
}

Result<MailRound> SmtpReportMailer::DeliverDue(const Clock& clock) {
  MailRound round;
  // More claims only while the round is short: it runs on the job runner's thread, whose other
  // jobs wait meanwhile (a dead server costs one claim's attempts, each bounded by `timeout_`).
  const auto began = std::chrono::steady_clock::now();
  for (int claims = 0; claims < 8 && std::chrono::steady_clock::now() - began < kRoundBudget;
       ++claims) {
    WARD_ASSIGN_OR_RETURN(auto claimed,
                          store_.ClaimReportMails(options_.holder, clock.Now(), options_.lease,
                                                  options_.claim_batch));
    for (const ReportMail& m : claimed) {
      if (options_.before_send) options_.before_send(m);
      const TimePoint start = clock.Now();
      alerting::SendResult sent;
      auto config = ChannelConfig(m.tenant_id);
      if (!config) {
        // No channel at the moment (removed, disabled, the database away): tried again later.
        sent = {false, false, config.error().ToString()};
      } else {
        sent = alerting::SendMail(*config, m.mail_from, m.recipients, m.message, timeout_);
      }
      ReportMailOutcome outcome;
      outcome.at = start;
      outcome.ok = sent.ok;
      outcome.detail = sent.detail;
      if (!sent.ok && !sent.permanent && start - m.created_at < options_.give_up_after) {
        outcome.retry_at = start + alerting::RetryBackoff(m.attempts + 1, options_.base_backoff,
                                                          options_.max_backoff);
      }
      auto after = store_.CompleteReportMail(options_.holder, m, outcome);
      if (!after) {
        // Taken over by another node (this claim ran out) or the database is away: the row is
        // looked at again when its claim ends.
        spdlog::warn("report mail {} of report {}: not settled: {}", m.id, m.report_id,
                     after.error().ToString());
        continue;
      }
      if (sent.ok) {
        ++round.sent;
        spdlog::info("report {} mailed in {} to {} recipient(s) (attempt {})", m.report_id,
                     m.language, m.recipients.size(), after->attempts);
      } else if (outcome.retry_at) {
        ++round.retrying;
        spdlog::warn("report mail {} of report {} failed (attempt {}), retried at {}: {}", m.id,
                     m.report_id, after->attempts, FormatTimestamp(*outcome.retry_at), sent.detail);
      } else {
        ++round.given_up;
        spdlog::error("report mail {} of report {} given up after {} attempt(s): {}", m.id,
                      m.report_id, after->attempts, sent.detail);
        GaveUp(*after, start);
      }
    }
    if (static_cast<int>(claimed.size()) < options_.claim_batch) break;
  }
  return round;
}

void SmtpReportMailer::GaveUp(const ReportMail& m, TimePoint now) {
  StoredEvent e;
  e.id = NewEventId(now);
  e.tenant_id = m.tenant_id;
  e.agent_id = "manager";
  e.timestamp = now;
  e.module = "manager";
  e.action = "report_mail_failed";
  e.severity = 3;
  e.doc = {{"@timestamp", FormatTimestamp(now)},
           {"event",
            {{"id", e.id},
             {"kind", "event"},
             {"module", "manager"},
             {"type", "error"},
             {"action", e.action},
             {"severity", e.severity}}},
           {"message", fmt::format("report {} could not be e-mailed ({}, {} attempt(s)): {}",
                                   m.report_id, m.language, m.attempts, m.last_error)},
           {"ward",
            {{"report_mail",
              {{"id", m.id},
               {"report_id", m.report_id},
               {"schedule_id", m.schedule_id},
               {"language", m.language},
               {"recipients", m.recipients},
               {"attempts", m.attempts},
               {"last_error", m.last_error}}}}}};
  std::vector<AlertSignal> signals;
  auto rules = store_.ListAlertRules(m.tenant_id);
  auto channels = store_.ListAlertChannels(m.tenant_id);
  if (rules && channels) {
    signals = alerting::SignalsFor(
        {e}, "", alerting::CompileTenantRules(*rules, *channels), [now] { return NewEventId(now); },
        now);
  }
  auto r = store_.InsertEventsWithAlerts({e}, signals, std::chrono::hours(1));
  if (!r) {
    spdlog::error("report_mail_failed event for report {} not stored: {}", m.report_id,
                  r.error().ToString());
  }
}

}  // namespace ward::manager::reports
