#include "manager/reports/mailer.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "manager/alerting/notifier.h"
#include "manager/alerting/senders.h"
#include "manager/reports/i18n.h"
#include "manager/reports/render.h"

namespace ward::manager::reports {

namespace {

using json = nlohmann::json;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  });
  return s;
}

}  // namespace

SmtpReportMailer::SmtpReportMailer(Store& store, std::shared_ptr<const SecretBox> box,
                                   std::chrono::milliseconds timeout)
    : store_(store), box_(std::move(box)), timeout_(timeout) {}

Status SmtpReportMailer::Send(const Tenant& tenant, const ReportSchedule& schedule,
                              const StoredReport& report, const ReportData& data) {
  WARD_ASSIGN_OR_RETURN(auto channels, store_.ListAlertChannels(tenant.id));
  const AlertChannel* channel = nullptr;
  for (const auto& c : channels) {
    if (c.kind == "email" && c.enabled) {
      channel = &c;
      break;
    }
  }
  if (channel == nullptr) {
    return FailedPrecondition("no enabled e-mail channel to send the report through");
  }
  WARD_ASSIGN_OR_RETURN(json config, alerting::OpenChannelSecrets(channel->config, box_.get()));
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
  std::vector<std::string> done;
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
    const std::string message = alerting::MimeMessage(
        from, to, text, fmt::format("{}.{}@ward", report.id, LanguageName(language)),
        report.created_at, {attachment});
    alerting::SendResult r = alerting::SendMail(config, from, to, message, timeout_);
    if (!r.ok) {
      std::string detail = r.detail;
      if (!done.empty()) detail += fmt::format(" (sent before: {})", fmt::join(done, ", "));
      return Unavailable(detail);
    }
    done.push_back(fmt::format("{} to {} recipient(s)", LanguageName(language), to.size()));
  }
  return Status::Ok();
}

}  // namespace ward::manager::reports
