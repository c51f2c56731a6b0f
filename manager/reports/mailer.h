// Scheduled reports by e-mail (docs/reports.md, "Delivery by e-mail"): the ReportMailer that
// sends through the tenant's e-mail notification channel (docs/alerts.md, "Channels"), over the
// alerts' SMTP sender (STARTTLS, AUTH). Part of ward::manager_server.
//
// Compose: one message per language among the schedule's recipients: a recipient listed in the
// channel's recipients has that entry's language, anyone else the schedule's. Each message has a
// plain text and an HTML body (the report's HTML) in that language and the report attached as PDF
// in that language. Message-ID "<report id>.<language>@ward", so a receiver can tell a resend.
//
// DeliverDue: the report e-mail outbox (Store::ClaimReportMails), like the alert notifications'
// (manager/alerting/notifier.h): each due message is claimed for `lease` by this node (a node
// killed mid-delivery loses its claim when the lease ends, and another node, or itself after a
// restart, sends it: at least once, a duplicate carries the same Message-ID), sent through the
// tenant's first enabled e-mail channel as it is now, and settled: sent; retried after
// alerting::RetryBackoff on a temporary failure (4xx, connection refused, timeout, no e-mail
// channel at the moment); failed at once on a permanent refusal (5xx, a refused login) or when
// the message is older than `give_up_after`. A message given up is recorded on its schedule
// (last_error) and stores a `manager` event `report_mail_failed` (severity 3) in the tenant,
// which raises a built-in alert.
// Thread-safety: Compose and DeliverDue may run on several threads at once.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "manager/auth/secret_box.h"
#include "manager/reports/schedules.h"

namespace ward::manager::reports {

struct ReportMailOptions {
  std::string holder;  // names this node in claims; "" = MakeNodeId()
  int claim_batch = 4;
  std::chrono::seconds lease{300};  // > claim_batch × the SMTP timeout
  std::chrono::seconds base_backoff{60};
  std::chrono::seconds max_backoff{3600};
  std::chrono::seconds give_up_after{24 * 3600};  // from the message's queueing
  // Fault injection for tests: called after a message is claimed, before it is sent.
  std::function<void(const ReportMail&)> before_send;
};

class SmtpReportMailer final : public ReportMailer {
 public:
  // `box` opens the channel's sealed password (null: only unsealed configurations work).
  SmtpReportMailer(Store& store, std::shared_ptr<const SecretBox> box,
                   std::chrono::milliseconds timeout = std::chrono::seconds(30),
                   ReportMailOptions options = {});

  // kFailedPrecondition when the tenant has no enabled e-mail channel.
  Result<std::vector<ReportMail>> Compose(const Tenant& tenant, const ReportSchedule& schedule,
                                          const StoredReport& report, const ReportData& data,
                                          TimePoint now) override;
  Result<MailRound> DeliverDue(const Clock& clock) override;

 private:
  // The tenant's first enabled e-mail channel's configuration, its secrets opened.
  Result<nlohmann::json> ChannelConfig(const std::string& tenant_id);
  void GaveUp(const ReportMail& m, TimePoint now);

  Store& store_;
  std::shared_ptr<const SecretBox> box_;
  std::chrono::milliseconds timeout_;
  ReportMailOptions options_;
};

}  // namespace ward::manager::reports
