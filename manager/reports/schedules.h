// Scheduled reports (docs/reports.md, "Schedules"): when a schedule is due, the report of the
// period that just ended is made and kept, and its e-mails (one per recipient language, composed
// by the ReportMailer) are queued in the same transaction (Store::RecordScheduledRunWithMails).
// Run by the manager's job runner under the "reports" lease, so one node of several makes each
// report; the store refuses a run already recorded, so two nodes racing, or the job run again,
// queue the mails once. The queued mails are then sent by ReportMailer::DeliverDue: claimed with
// a lease (one node sends each), retried with back-off, given up after a bound or at once on a
// permanent refusal (mailer.h): at least once, never lost to a refused server or a killed node.
// Thread-safety: the functions are safe to call concurrently (the store is).
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "manager/reports/report.h"
#include "manager/store/store.h"

namespace ward::manager::reports {

// "daily", "weekly", "monthly".
bool ValidFrequency(std::string_view f);
// The end of the first period of `frequency` that ends after `now`: the next 00:00 UTC (daily),
// the next Monday 00:00 UTC (weekly), the next 1st of a month 00:00 UTC (monthly).
// REQUIRES: ValidFrequency(frequency).
TimePoint NextRun(std::string_view frequency, TimePoint now);
// The start of the period of `frequency` that ends at `end` (a NextRun value).
TimePoint PeriodStart(std::string_view frequency, TimePoint end);

// What one round of sending queued report mails came to.
struct MailRound {
  int sent = 0;      // messages accepted by the SMTP server
  int retrying = 0;  // failed temporarily, tried again later
  int given_up = 0;  // failed permanently or for too long (state failed)
};

// E-mails scheduled reports to their recipients (mailer.h: through the tenant's e-mail channel of
// the alerts, docs/alerts.md).
class ReportMailer {
 public:
  virtual ~ReportMailer() = default;
  // The messages of a kept report, one per recipient language, ready to be queued with the run
  // (pending, due at `now`). `report` is the kept one, `data` what it was rendered from (to render
  // it again in a recipient's language). An error (e.g. no e-mail channel) is recorded on the
  // schedule and nothing is queued.
  virtual Result<std::vector<ReportMail>> Compose(const Tenant& tenant,
                                                  const ReportSchedule& schedule,
                                                  const StoredReport& report,
                                                  const ReportData& data, TimePoint now) = 0;
  // Sends the queued report mails (any tenant) that are due at clock.Now().
  virtual Result<MailRound> DeliverDue(const Clock& clock) = 0;
};

struct ScheduleRunReport {
  int made = 0;      // reports made and kept
  int failed = 0;    // runs recorded with an error (a mail that could not be composed included)
  int queued = 0;    // report mails queued with the runs
  int mailed = 0;    // report mails sent (this call's, queued now or before)
  int retrying = 0;  // report mails that failed and will be tried again
  int given_up = 0;  // report mails given up
};

// Makes every due report (at most `limit` per call), then sends the due report mails through
// `mailer`. `mailer` may be null (kept for download only, nothing queued or sent).
Result<ScheduleRunReport> RunReportSchedules(Store& store, const Clock& clock, ReportMailer* mailer,
                                             int limit = 20);

}  // namespace ward::manager::reports
