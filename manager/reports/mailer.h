// Scheduled reports by e-mail (docs/reports.md, "Delivery by e-mail"): the ReportMailer that
// sends through the tenant's e-mail notification channel (docs/alerts.md, "Channels"), over the
// alerts' SMTP sender (STARTTLS, AUTH). Part of ward::manager_server.
//
// One message per language among the schedule's recipients: a recipient listed in the channel's
// recipients has that entry's language, anyone else the schedule's. Each message has a plain
// text and an HTML body (the report's HTML) in that language and the report attached as PDF in
// that language. Message-ID "<report id>.<language>@ward", so a receiver can tell a resend.
// Thread-safety: Send may run on several threads at once.
#pragma once

#include <chrono>
#include <memory>

#include "manager/auth/secret_box.h"
#include "manager/reports/schedules.h"

namespace ward::manager::reports {

class SmtpReportMailer final : public ReportMailer {
 public:
  // `box` opens the channel's sealed password (null: only unsealed configurations work).
  SmtpReportMailer(Store& store, std::shared_ptr<const SecretBox> box,
                   std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // kFailedPrecondition when the tenant has no enabled e-mail channel; kUnavailable when the
  // SMTP server refused or could not be reached (its answer in the message).
  Status Send(const Tenant& tenant, const ReportSchedule& schedule, const StoredReport& report,
              const ReportData& data) override;

 private:
  Store& store_;
  std::shared_ptr<const SecretBox> box_;
  std::chrono::milliseconds timeout_;
};

}  // namespace ward::manager::reports
