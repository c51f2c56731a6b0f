#include "manager/reports/schedules.h"

#include <fmt/format.h>

#include "common/event.h"
#include "common/log.h"
#include "manager/reports/render.h"

namespace ward::manager::reports {

namespace {

using std::chrono::days;
using std::chrono::sys_days;
using std::chrono::year_month_day;

}  // namespace

bool ValidFrequency(std::string_view f) { return f == "daily" || f == "weekly" || f == "monthly"; }

TimePoint NextRun(std::string_view frequency, TimePoint now) {
  sys_days today = std::chrono::floor<days>(now);
  if (frequency == "daily") return today + days(1);
  if (frequency == "weekly") {
    std::chrono::weekday wd(today);
    // Days until the next Monday (strictly after today).
    unsigned ahead = (8 - wd.iso_encoding()) % 7;
    return today + days(ahead == 0 ? 7 : ahead);
  }
  year_month_day ymd(today);
  auto next_month = std::chrono::year_month(ymd.year(), ymd.month()) + std::chrono::months(1);
  return sys_days(next_month / 1);
}

TimePoint PeriodStart(std::string_view frequency, TimePoint end) {
  sys_days e = std::chrono::floor<days>(end);
  if (frequency == "daily") return e - days(1);
  if (frequency == "weekly") return e - days(7);
  year_month_day ymd(e);
  auto previous = std::chrono::year_month(ymd.year(), ymd.month()) - std::chrono::months(1);
  return sys_days(previous / 1);
}

Result<ScheduleRunReport> RunReportSchedules(Store& store, const Clock& clock, ReportMailer* mailer,
                                             int limit) {
  const TimePoint now = clock.Now();
  auto due = store.DueReportSchedules(now, limit);
  if (!due) return due.error();
  ScheduleRunReport out;
  for (const auto& s : *due) {
    TimePoint next = NextRun(s.frequency, now);
    std::optional<StoredReport> kept;
    std::optional<ReportData> made;
    std::string error;
    auto tenant = store.GetTenant(s.tenant_id);
    ReportRequest req;
    if (!ParseKind(s.kind, req.kind) || !ParseLanguage(s.language, req.language) ||
        !ValidFrequency(s.frequency)) {
      error = "schedule: unknown kind, language or frequency";
    }
    ReportFormat format = ReportFormat::kPdf;
    if (error.empty() && !ParseFormat(s.format, format)) error = "schedule: unknown format";
    if (!tenant) error = tenant.error().ToString();
    if (error.empty()) {
      req.to = s.next_run_at;
      req.from = PeriodStart(s.frequency, s.next_run_at);
      auto data = BuildReport(store, *tenant, req, now);
      if (!data) {
        error = data.error().ToString();
      } else {
        auto bytes = Render(*data, format);
        if (!bytes) {
          error = bytes.error().ToString();
        } else {
          StoredReport r;
          r.id = NewEventId(now);
          r.tenant_id = s.tenant_id;
          r.schedule_id = s.id;
          r.kind = s.kind;
          r.format = s.format;
          r.language = s.language;
          r.period_from = req.from;
          r.period_to = req.to;
          r.created_by = "schedule:" + s.id;
          r.created_at = now;
          r.content = std::move(*bytes);
          kept = std::move(r);
          made = std::move(*data);
        }
      }
    }
    // The mails are composed before and queued with the run: only the node whose record
    // succeeds queues them, and a run is never recorded without its mails.
    std::vector<ReportMail> mails;
    if (kept && mailer != nullptr && !s.recipients.empty()) {
      auto composed = mailer->Compose(*tenant, s, *kept, *made, now);
      if (composed) {
        mails = std::move(*composed);
      } else {
        error = "e-mail: " + composed.error().ToString();
      }
    }
    Status st = store.RecordScheduledRunWithMails(s.tenant_id, s.id, s.next_run_at, next, now, kept,
                                                  error, mails);
    if (st.code() == StatusCode::kFailedPrecondition) continue;  // another node recorded it
    if (!st.ok()) return st;
    if (kept) ++out.made;
    out.queued += static_cast<int>(mails.size());
    if (!error.empty()) {
      ++out.failed;
      spdlog::warn("report schedule {} of tenant {}: {}", s.id, s.tenant_id, error);
    }
  }
  if (mailer != nullptr) {
    auto round = mailer->DeliverDue(clock);
    if (!round) return round.error();
    out.mailed = round->sent;
    out.retrying = round->retrying;
    out.given_up = round->given_up;
  }
  return out;
}

}  // namespace ward::manager::reports
