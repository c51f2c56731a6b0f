// The report e-mail outbox (issue #19, s9-reportmail; docs/reports.md "Delivery by e-mail"):
// messages of scheduled reports queued in the run's transaction (reports.cc,
// RecordScheduledRunWithMails), claimed with a lease by one node at a time and settled per
// attempt, as the alert notifications' outbox (alert_rules.cc) does.
#include <fmt/format.h>

#include <algorithm>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

namespace {

constexpr const char* kMailCols =
    "id, tenant_id, schedule_id, report_id, language, mail_from, recipients, state, attempts, "
    "created_at, next_attempt_at, last_attempt_at, sent_at, last_error";
constexpr const char* kMailSig = "sssssssiiiiiis";

constexpr size_t kMaxErrorBytes = 1024;

std::string ClipError(std::string s) {
  if (s.size() > kMaxErrorBytes) s.resize(kMaxErrorBytes);
  return s;
}

ReportMail MailFrom(const Row& r) {
  ReportMail m;
  m.id = r.S(0);
  m.tenant_id = r.S(1);
  m.schedule_id = r.S(2);
  m.report_id = r.S(3);
  m.language = r.S(4);
  m.mail_from = r.S(5);
  json rec = ParseJson(r.S(6), json::array());
  if (rec.is_array()) {
    for (const auto& e : rec) {
      if (e.is_string()) m.recipients.push_back(e.get<std::string>());
    }
  }
  long long st = r.I(7);
  m.state = st == 1   ? ReportMailState::kSent
            : st == 2 ? ReportMailState::kFailed
                      : ReportMailState::kPending;
  m.attempts = static_cast<int>(r.I(8));
  m.created_at = FromMicros(r.I(9));
  m.next_attempt_at = FromMicros(r.I(10));
  if (auto v = r.OptI(11)) m.last_attempt_at = FromMicros(*v);
  if (auto v = r.OptI(12)) m.sent_at = FromMicros(*v);
  m.last_error = r.S(13);
  return m;
}

Result<ReportMail> GetMailIn(soci::session& sql, const std::string& id, bool with_message,
                             const std::string& for_update) {
  Params p;
  std::optional<ReportMail> out;
  Select(sql,
         fmt::format("SELECT {}, {} FROM report_mails WHERE id = {}{}", kMailCols,
                     with_message ? "message" : "''", p.S(id), for_update),
         p, std::string(kMailSig) + "s", [&](const Row& r) {
           out = MailFrom(r);
           out->message = r.S(14);
         });
  if (!out) return NotFound(fmt::format("no such report mail: {}", id));
  return *out;
}

}  // namespace

Status SociStore::CheckReportMail(const ReportMail& m) {
  WARD_RETURN_IF_ERROR(CheckId("mail.id", m.id));
  WARD_RETURN_IF_ERROR(CheckId("mail.tenant_id", m.tenant_id));
  WARD_RETURN_IF_ERROR(CheckLen("mail.schedule_id", m.schedule_id, kIdMax));
  WARD_RETURN_IF_ERROR(CheckId("mail.report_id", m.report_id));
  WARD_RETURN_IF_ERROR(CheckId("mail.language", m.language));
  if (m.recipients.empty()) return InvalidArgument("mail.recipients: empty");
  if (m.message.empty()) return InvalidArgument("mail.message: empty");
  return Status::Ok();
}

void SociStore::InsertReportMail(soci::session& sql, const ReportMail& m) {
  Params p;
  std::optional<long long> last, sent;
  if (m.last_attempt_at) last = Micros(*m.last_attempt_at);
  if (m.sent_at) sent = Micros(*m.sent_at);
  Exec(sql,
       fmt::format("INSERT INTO report_mails ({}, message) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, "
                   "{}, {}, {}, {}, {}, {}, {})",
                   kMailCols, p.S(m.id), p.S(m.tenant_id), p.S(m.schedule_id), p.S(m.report_id),
                   p.S(m.language), p.S(m.mail_from), p.S(DumpJson(json(m.recipients))),
                   p.I(static_cast<long long>(m.state)), p.I(m.attempts), p.I(Micros(m.created_at)),
                   p.I(Micros(m.next_attempt_at)), p.OptI(last), p.OptI(sent),
                   p.S(ClipError(m.last_error)), p.S(m.message)),
       p);
}

Result<std::vector<ReportMail>> SociStore::ClaimReportMails(const std::string& holder,
                                                            TimePoint now,
                                                            std::chrono::seconds lease, int limit) {
  if (holder.empty()) return InvalidArgument("holder: empty");
  WARD_RETURN_IF_ERROR(CheckLen("holder", holder, kNameMax));
  return Run(
      "claim report mails", true, [&](soci::session& sql) -> Result<std::vector<ReportMail>> {
        const long long now_us = Micros(now);
        Params p;
        std::vector<ReportMail> out;
        Select(sql,
               fmt::format("SELECT {}, message FROM report_mails WHERE state = 0 AND "
                           "next_attempt_at <= {} AND (claim_until IS NULL OR claim_until < {}) "
                           "ORDER BY next_attempt_at, id LIMIT {}{}",
                           kMailCols, p.I(now_us), p.I(now_us), std::clamp(limit, 1, 100),
                           d_ == Dialect::kSqlite ? "" : " FOR UPDATE SKIP LOCKED"),
               p, std::string(kMailSig) + "s", [&](const Row& r) {
                 out.push_back(MailFrom(r));
                 out.back().message = r.S(14);
               });
        const long long until = Micros(now + lease);
        for (const ReportMail& m : out) {
          Params u;
          Exec(
              sql,
              fmt::format("UPDATE report_mails SET claimed_by = {}, claim_until = {} WHERE id = {}",
                          u.S(holder), u.I(until), u.S(m.id)),
              u);
        }
        return out;
      });
}

Result<ReportMail> SociStore::CompleteReportMail(const std::string& holder, const ReportMail& m,
                                                 const ReportMailOutcome& outcome) {
  return Run("complete report mail", true, [&](soci::session& sql) -> Result<ReportMail> {
    Params c;
    std::optional<int> attempts;
    Select(sql,
           fmt::format("SELECT attempts FROM report_mails WHERE id = {} AND claimed_by = {} AND "
                       "state = 0{}",
                       c.S(m.id), c.S(holder), ForUpdate()),
           c, "i", [&](const Row& r) { attempts = static_cast<int>(r.I(0)); });
    if (!attempts) {
      return FailedPrecondition(
          fmt::format("report mail {} is no longer held by {}", m.id, holder));
    }
    const long long at = Micros(outcome.at);
    Params u;
    if (outcome.ok) {
      Exec(sql,
           fmt::format("UPDATE report_mails SET state = 1, attempts = {}, last_attempt_at = {}, "
                       "sent_at = {}, last_error = '', claimed_by = NULL, claim_until = NULL "
                       "WHERE id = {}",
                       u.I(*attempts + 1), u.I(at), u.I(at), u.S(m.id)),
           u);
    } else {
      const bool retry = outcome.retry_at.has_value();
      Exec(sql,
           fmt::format("UPDATE report_mails SET state = {}, attempts = {}, last_attempt_at = {}, "
                       "next_attempt_at = {}, last_error = {}, claimed_by = NULL, claim_until = "
                       "NULL WHERE id = {}",
                       u.I(retry ? 0 : 2), u.I(*attempts + 1), u.I(at),
                       u.I(retry ? Micros(*outcome.retry_at) : at), u.S(ClipError(outcome.detail)),
                       u.S(m.id)),
           u);
      if (!retry && !m.schedule_id.empty()) {
        Params s;
        Exec(sql,
             fmt::format("UPDATE report_schedules SET last_error = {} WHERE tenant_id = {} AND "
                         "id = {} AND last_report_id = {}",
                         s.S(ClipError("e-mail: " + outcome.detail)), s.S(m.tenant_id),
                         s.S(m.schedule_id), s.S(m.report_id)),
             s);
      }
    }
    return GetMailIn(sql, m.id, false, "");
  });
}

Result<std::vector<ReportMail>> SociStore::ListReportMails(const std::string& tenant_id,
                                                           const std::string& report_id) {
  return Run("list report mails", false,
             [&](soci::session& sql) -> Result<std::vector<ReportMail>> {
               Params q;
               bool found = false;
               Select(sql,
                      fmt::format("SELECT id FROM reports WHERE tenant_id = {} AND id = {}",
                                  q.S(tenant_id), q.S(report_id)),
                      q, "s", [&](const Row&) { found = true; });
               if (!found) return NotFound(fmt::format("no such report: {}", report_id));
               Params p;
               std::vector<ReportMail> out;
               Select(sql,
                      fmt::format("SELECT {} FROM report_mails WHERE tenant_id = {} AND "
                                  "report_id = {} ORDER BY language, id",
                                  kMailCols, p.S(tenant_id), p.S(report_id)),
                      p, kMailSig, [&](const Row& r) { out.push_back(MailFrom(r)); });
               return out;
             });
}

Result<int64_t> SociStore::CountPendingReportMails() {
  return Run("count pending report mails", false, [&](soci::session& sql) -> Result<int64_t> {
    Params p;
    return static_cast<int64_t>(
        SelectInt(sql, "SELECT COUNT(*) FROM report_mails WHERE state = 0", p, 0));
  });
}

}  // namespace ward::manager::soci_backend
