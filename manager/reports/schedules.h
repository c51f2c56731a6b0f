// Scheduled reports (docs/reports.md, "Schedules"): when a schedule is due, the report of the
// period that just ended is made, kept (Store::RecordScheduledRun) and then handed to a
// ReportMailer when the manager has one. Run by the manager's job runner under the "reports"
// lease, so one node of several makes each report; RecordScheduledRun refuses a run already
// recorded, and only the node whose record succeeded sends the e-mail: even two nodes racing, or
// the job run again, send it once. A failed e-mail is recorded on the schedule (last_error) and
// not sent again (the report is kept for download).
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

// Sends a scheduled report to its recipients (mailer.h: through the tenant's e-mail channel of
// the alerts, docs/alerts.md); `report` is the kept one, `data` what it was rendered from (to
// render it again in a recipient's language). An error is recorded on the schedule.
class ReportMailer {
 public:
  virtual ~ReportMailer() = default;
  virtual Status Send(const Tenant& tenant, const ReportSchedule& schedule,
                      const StoredReport& report, const ReportData& data) = 0;
};

struct ScheduleRunReport {
  int made = 0;    // reports made and kept
  int failed = 0;  // runs recorded with an error (an e-mail that failed included)
  int mailed = 0;  // reports e-mailed
};

// Makes every due report (at most `limit` per call). `mailer` may be null (kept for download
// only).
Result<ScheduleRunReport> RunReportSchedules(Store& store, const Clock& clock, ReportMailer* mailer,
                                             int limit = 20);

}  // namespace ward::manager::reports
