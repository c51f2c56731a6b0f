// Reports kept for download (content stored as base64 text, the same on every backend) and
// report schedules (docs/reports.md).
#include <fmt/format.h>

#include <algorithm>

#include "common/text.h"
#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

namespace {

constexpr size_t kMaxReportBytes = 8u << 20;

constexpr const char* kReportCols =
    "id, tenant_id, schedule_id, kind, format, language, period_from, period_to, created_by, "
    "created_at, size";
constexpr const char* kReportSig = "ssssssiisii";

StoredReport ReportFrom(const Row& r) {
  StoredReport x;
  x.id = r.S(0);
  x.tenant_id = r.S(1);
  x.schedule_id = r.S(2);
  x.kind = r.S(3);
  x.format = r.S(4);
  x.language = r.S(5);
  x.period_from = FromMicros(r.I(6));
  x.period_to = FromMicros(r.I(7));
  x.created_by = r.S(8);
  x.created_at = FromMicros(r.I(9));
  x.size = r.I(10);
  return x;
}

constexpr const char* kScheduleCols =
    "id, tenant_id, name, frequency, kind, format, language, recipients, enabled, next_run_at, "
    "last_run_at, last_report_id, last_error, created_at";
constexpr const char* kScheduleSig = "ssssssssiiissi";

ReportSchedule ScheduleFrom(const Row& r) {
  ReportSchedule s;
  s.id = r.S(0);
  s.tenant_id = r.S(1);
  s.name = r.S(2);
  s.frequency = r.S(3);
  s.kind = r.S(4);
  s.format = r.S(5);
  s.language = r.S(6);
  json rec = ParseJson(r.S(7), json::array());
  if (rec.is_array()) {
    for (const auto& e : rec) {
      if (e.is_string()) s.recipients.push_back(e.get<std::string>());
    }
  }
  s.enabled = r.I(8) != 0;
  s.next_run_at = FromMicros(r.I(9));
  if (auto v = r.OptI(10)) s.last_run_at = FromMicros(*v);
  s.last_report_id = r.S(11);
  s.last_error = r.S(12);
  s.created_at = FromMicros(r.I(13));
  return s;
}

Status CheckReport(const StoredReport& r) {
  WARD_RETURN_IF_ERROR(CheckId("report.id", r.id));
  WARD_RETURN_IF_ERROR(CheckId("report.tenant_id", r.tenant_id));
  WARD_RETURN_IF_ERROR(CheckLen("report.schedule_id", r.schedule_id, kIdMax));
  WARD_RETURN_IF_ERROR(CheckId("report.kind", r.kind));
  WARD_RETURN_IF_ERROR(CheckId("report.format", r.format));
  WARD_RETURN_IF_ERROR(CheckId("report.language", r.language));
  WARD_RETURN_IF_ERROR(CheckLen("report.created_by", r.created_by, kNameMax));
  if (r.content.size() > kMaxReportBytes) {
    return InvalidArgument(fmt::format("report.content: longer than {} bytes", kMaxReportBytes));
  }
  return Status::Ok();
}

Status CheckSchedule(const ReportSchedule& s) {
  WARD_RETURN_IF_ERROR(CheckId("schedule.id", s.id));
  WARD_RETURN_IF_ERROR(CheckId("schedule.tenant_id", s.tenant_id));
  if (s.name.empty()) return InvalidArgument("schedule.name: empty");
  WARD_RETURN_IF_ERROR(CheckLen("schedule.name", s.name, kNameMax));
  WARD_RETURN_IF_ERROR(CheckId("schedule.frequency", s.frequency));
  WARD_RETURN_IF_ERROR(CheckId("schedule.kind", s.kind));
  WARD_RETURN_IF_ERROR(CheckId("schedule.format", s.format));
  WARD_RETURN_IF_ERROR(CheckId("schedule.language", s.language));
  WARD_RETURN_IF_ERROR(CheckLen("schedule.last_report_id", s.last_report_id, kIdMax));
  return Status::Ok();
}

std::string RecipientsText(const std::vector<std::string>& r) { return DumpJson(json(r)); }

void InsertReport(soci::session& sql, const StoredReport& r) {
  Params p;
  Exec(sql,
       fmt::format("INSERT INTO reports ({}, content) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, "
                   "{}, {}, {})",
                   kReportCols, p.S(r.id), p.S(r.tenant_id), p.S(r.schedule_id), p.S(r.kind),
                   p.S(r.format), p.S(r.language), p.I(Micros(r.period_from)),
                   p.I(Micros(r.period_to)), p.S(r.created_by), p.I(Micros(r.created_at)),
                   p.I(static_cast<long long>(r.content.size())), p.S(Base64Encode(r.content))),
       p);
}

}  // namespace

Status SociStore::CreateReport(const StoredReport& r) {
  WARD_RETURN_IF_ERROR(CheckReport(r));
  return RunStatus("create report", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(GetTenantIn(sql, r.tenant_id, false).status());
    InsertReport(sql, r);
    return Status::Ok();
  });
}

Result<std::vector<StoredReport>> SociStore::ListReports(
    const std::string& tenant_id, std::optional<std::pair<TimePoint, std::string>> before,
    int limit) {
  return Run("list reports", false, [&](soci::session& sql) -> Result<std::vector<StoredReport>> {
    Params p;
    std::string q =
        fmt::format("SELECT {} FROM reports WHERE tenant_id = {}", kReportCols, p.S(tenant_id));
    if (before) {
      long long us = Micros(before->first);
      q += fmt::format(" AND (created_at < {} OR (created_at = {} AND id < {}))", p.I(us), p.I(us),
                       p.S(before->second));
    }
    q += fmt::format(" ORDER BY created_at DESC, id DESC LIMIT {}", std::clamp(limit, 1, 1000));
    std::vector<StoredReport> out;
    Select(sql, q, p, kReportSig, [&](const Row& r) { out.push_back(ReportFrom(r)); });
    return out;
  });
}

Result<StoredReport> SociStore::GetReport(const std::string& tenant_id, const std::string& id,
                                          bool with_content) {
  return Run("get report", false, [&](soci::session& sql) -> Result<StoredReport> {
    Params p;
    std::optional<StoredReport> out;
    std::string content;
    Select(sql,
           fmt::format("SELECT {}, {} FROM reports WHERE tenant_id = {} AND id = {}", kReportCols,
                       with_content ? "content" : "''", p.S(tenant_id), p.S(id)),
           p, std::string(kReportSig) + "s", [&](const Row& r) {
             out = ReportFrom(r);
             content = r.S(11);
           });
    if (!out) return NotFound(fmt::format("no such report: {}", id));
    if (with_content) {
      auto bytes = Base64Decode(content);
      if (!bytes) return DataLoss(fmt::format("report {}: stored content is not base64", id));
      out->content = std::move(*bytes);
    }
    return *out;
  });
}

Status SociStore::DeleteReport(const std::string& tenant_id, const std::string& id) {
  return RunStatus("delete report", true, [&](soci::session& sql) -> Status {
    Params p;
    if (Exec(sql,
             fmt::format("DELETE FROM reports WHERE tenant_id = {} AND id = {}", p.S(tenant_id),
                         p.S(id)),
             p) == 0) {
      return NotFound(fmt::format("no such report: {}", id));
    }
    return Status::Ok();
  });
}

Status SociStore::CreateReportSchedule(const ReportSchedule& s) {
  WARD_RETURN_IF_ERROR(CheckSchedule(s));
  return RunStatus("create report schedule", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(GetTenantIn(sql, s.tenant_id, false).status());
    Params p;
    std::optional<long long> last;
    if (s.last_run_at) last = Micros(*s.last_run_at);
    Exec(sql,
         fmt::format("INSERT INTO report_schedules ({}) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, "
                     "{}, {}, {}, {}, {}, {})",
                     kScheduleCols, p.S(s.id), p.S(s.tenant_id), p.S(s.name), p.S(s.frequency),
                     p.S(s.kind), p.S(s.format), p.S(s.language), p.S(RecipientsText(s.recipients)),
                     p.I(s.enabled ? 1 : 0), p.I(Micros(s.next_run_at)), p.OptI(last),
                     p.S(s.last_report_id), p.S(s.last_error), p.I(Micros(s.created_at))),
         p);
    return Status::Ok();
  });
}

Result<std::vector<ReportSchedule>> SociStore::ListReportSchedules(const std::string& tenant_id) {
  return Run("list report schedules", false,
             [&](soci::session& sql) -> Result<std::vector<ReportSchedule>> {
               Params p;
               std::vector<ReportSchedule> out;
               Select(sql,
                      fmt::format("SELECT {} FROM report_schedules WHERE tenant_id = {} ORDER BY "
                                  "name, id",
                                  kScheduleCols, p.S(tenant_id)),
                      p, kScheduleSig, [&](const Row& r) { out.push_back(ScheduleFrom(r)); });
               return out;
             });
}

Result<ReportSchedule> SociStore::GetReportSchedule(const std::string& tenant_id,
                                                    const std::string& id) {
  return Run("get report schedule", false, [&](soci::session& sql) -> Result<ReportSchedule> {
    Params p;
    std::optional<ReportSchedule> out;
    Select(sql,
           fmt::format("SELECT {} FROM report_schedules WHERE tenant_id = {} AND id = {}",
                       kScheduleCols, p.S(tenant_id), p.S(id)),
           p, kScheduleSig, [&](const Row& r) { out = ScheduleFrom(r); });
    if (!out) return NotFound(fmt::format("no such report schedule: {}", id));
    return *out;
  });
}

Status SociStore::UpdateReportSchedule(const ReportSchedule& s) {
  WARD_RETURN_IF_ERROR(CheckSchedule(s));
  return RunStatus("update report schedule", true, [&](soci::session& sql) -> Status {
    Params p;
    std::optional<long long> last;
    if (s.last_run_at) last = Micros(*s.last_run_at);
    long long n = Exec(
        sql,
        fmt::format("UPDATE report_schedules SET name = {}, frequency = {}, kind = {}, format = "
                    "{}, language = {}, recipients = {}, enabled = {}, next_run_at = {}, "
                    "last_run_at = {}, last_report_id = {}, last_error = {} WHERE tenant_id = {} "
                    "AND id = {}",
                    p.S(s.name), p.S(s.frequency), p.S(s.kind), p.S(s.format), p.S(s.language),
                    p.S(RecipientsText(s.recipients)), p.I(s.enabled ? 1 : 0),
                    p.I(Micros(s.next_run_at)), p.OptI(last), p.S(s.last_report_id),
                    p.S(s.last_error), p.S(s.tenant_id), p.S(s.id)),
        p);
    if (n == 0) {
      // MySQL counts changed rows only: tell "no such schedule" from "nothing changed".
      Params q;
      if (SelectInt(sql,
                    fmt::format("SELECT COUNT(*) FROM report_schedules WHERE tenant_id = {} AND "
                                "id = {}",
                                q.S(s.tenant_id), q.S(s.id)),
                    q, 0) == 0) {
        return NotFound(fmt::format("no such report schedule: {}", s.id));
      }
    }
    return Status::Ok();
  });
}

Status SociStore::DeleteReportSchedule(const std::string& tenant_id, const std::string& id) {
  return RunStatus("delete report schedule", true, [&](soci::session& sql) -> Status {
    Params p;
    if (Exec(sql,
             fmt::format("DELETE FROM report_schedules WHERE tenant_id = {} AND id = {}",
                         p.S(tenant_id), p.S(id)),
             p) == 0) {
      return NotFound(fmt::format("no such report schedule: {}", id));
    }
    return Status::Ok();
  });
}

Result<std::vector<ReportSchedule>> SociStore::DueReportSchedules(TimePoint now, int limit) {
  return Run("due report schedules", false,
             [&](soci::session& sql) -> Result<std::vector<ReportSchedule>> {
               Params p;
               std::vector<ReportSchedule> out;
               Select(sql,
                      fmt::format("SELECT {} FROM report_schedules WHERE enabled = 1 AND "
                                  "next_run_at <= {} ORDER BY next_run_at, id LIMIT {}",
                                  kScheduleCols, p.I(Micros(now)), std::clamp(limit, 1, 1000)),
                      p, kScheduleSig, [&](const Row& r) { out.push_back(ScheduleFrom(r)); });
               return out;
             });
}

Status SociStore::RecordScheduledRun(const std::string& tenant_id, const std::string& schedule_id,
                                     TimePoint expected_next, TimePoint next, TimePoint ran_at,
                                     const std::optional<StoredReport>& report,
                                     const std::string& error) {
  return RecordScheduledRunWithMails(tenant_id, schedule_id, expected_next, next, ran_at, report,
                                     error, {});
}

Status SociStore::RecordScheduledRunWithMails(
    const std::string& tenant_id, const std::string& schedule_id, TimePoint expected_next,
    TimePoint next, TimePoint ran_at, const std::optional<StoredReport>& report,
    const std::string& error, const std::vector<ReportMail>& mails) {
  if (report) WARD_RETURN_IF_ERROR(CheckReport(*report));
  for (const ReportMail& m : mails) {
    WARD_RETURN_IF_ERROR(CheckReportMail(m));
    if (m.tenant_id != tenant_id) return InvalidArgument("mail.tenant_id: not the schedule's");
  }
  return RunStatus("record scheduled report", true, [&](soci::session& sql) -> Status {
    Params p;
    long long n = Exec(
        sql,
        fmt::format("UPDATE report_schedules SET next_run_at = {}, last_run_at = {}, "
                    "last_report_id = {}, last_error = {} WHERE tenant_id = {} AND id = {} AND "
                    "next_run_at = {}",
                    p.I(Micros(next)), p.I(Micros(ran_at)), p.S(report ? report->id : ""),
                    p.S(error), p.S(tenant_id), p.S(schedule_id), p.I(Micros(expected_next))),
        p);
    if (n == 0) {
      return FailedPrecondition(
          fmt::format("report schedule {}: this run was already recorded", schedule_id));
    }
    if (report) InsertReport(sql, *report);
    for (const ReportMail& m : mails) InsertReportMail(sql, m);
    return Status::Ok();
  });
}

}  // namespace ward::manager::soci_backend
