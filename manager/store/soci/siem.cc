// SIEM forwarders and their cursors over the events' commit order (docs/siem.md, schema
// VSiemForwarders in manager/store/schema.cc).
#include <fmt/format.h>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

namespace {

constexpr const char* kForwarderCols =
    "id, tenant_id, name, transport, host, port, format, facility, min_severity, enabled, "
    "ca_pem, server_name, tls_verify, created_at, updated_at, cursor_pos, cursor_id, flight_pos, "
    "flight_id, sent, skipped, resent, last_sent_at, last_error, last_error_at";
constexpr const char* kForwarderSig = "sssssisiiissiiiisisiiiisi";

constexpr size_t kMaxError = 1024;
constexpr size_t kMaxPem = 64 * 1024;

SiemForwarder ForwarderFrom(const Row& r) {
  SiemForwarder f;
  f.id = r.S(0);
  f.tenant_id = r.S(1);
  f.name = r.S(2);
  f.transport = r.S(3);
  f.host = r.S(4);
  f.port = static_cast<int>(r.I(5));
  f.format = r.S(6);
  f.facility = static_cast<int>(r.I(7));
  f.min_severity = static_cast<int>(r.I(8));
  f.enabled = r.I(9) != 0;
  f.ca_pem = r.S(10);
  f.server_name = r.S(11);
  f.tls_verify = r.I(12) != 0;
  f.created_at = FromMicros(r.I(13));
  f.updated_at = FromMicros(r.I(14));
  f.cursor = {r.I(15), r.S(16)};
  f.in_flight = {r.I(17), r.S(18)};
  f.sent = r.I(19);
  f.skipped = r.I(20);
  f.resent = r.I(21);
  if (auto v = r.OptI(22)) f.last_sent_at = FromMicros(*v);
  f.last_error = r.S(23);
  if (auto v = r.OptI(24)) f.last_error_at = FromMicros(*v);
  return f;
}

Status CheckForwarder(const SiemForwarder& f) {
  WARD_RETURN_IF_ERROR(CheckId("siem_forwarder.id", f.id));
  WARD_RETURN_IF_ERROR(CheckId("siem_forwarder.tenant_id", f.tenant_id));
  if (f.name.empty()) return InvalidArgument("siem_forwarder.name: empty");
  WARD_RETURN_IF_ERROR(CheckLen("siem_forwarder.name", f.name, kNameMax));
  WARD_RETURN_IF_ERROR(CheckLen("siem_forwarder.transport", f.transport, kIdMax));
  WARD_RETURN_IF_ERROR(CheckLen("siem_forwarder.host", f.host, kNameMax));
  WARD_RETURN_IF_ERROR(CheckLen("siem_forwarder.format", f.format, kIdMax));
  WARD_RETURN_IF_ERROR(CheckLen("siem_forwarder.server_name", f.server_name, kNameMax));
  WARD_RETURN_IF_ERROR(CheckLen("siem_forwarder.ca_pem", f.ca_pem, kMaxPem));
  WARD_RETURN_IF_ERROR(CheckLen("siem_forwarder.cursor", f.cursor.id, kIdMax));
  return Status::Ok();
}

}  // namespace

// The events stored after `after` in the ingest sequence (events.seq: per tenant, in commit
// order, docs/manager-store.md "Ingest sequence"). Events stored before that column existed all
// have seq 0: their id orders them.
std::string SociStore::SiemAfter(const SiemCursor& after, Params& p) const {
  return fmt::format(" AND (seq > {} OR (seq = {} AND id > {}))", p.I(after.pos), p.I(after.pos),
                     p.S(after.id));
}

Status SociStore::CreateSiemForwarder(const SiemForwarder& f) {
  WARD_RETURN_IF_ERROR(CheckForwarder(f));
  return RunStatus("create siem forwarder", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(GetTenantIn(sql, f.tenant_id, false).status());
    Params p;
    Exec(sql,
         fmt::format("INSERT INTO siem_forwarders ({}) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, "
                     "{}, {}, {}, {}, {}, {}, {}, {}, 0, '', 0, 0, 0, NULL, '', NULL)",
                     kForwarderCols, p.S(f.id), p.S(f.tenant_id), p.S(f.name), p.S(f.transport),
                     p.S(f.host), p.I(f.port), p.S(f.format), p.I(f.facility), p.I(f.min_severity),
                     p.I(f.enabled ? 1 : 0), p.S(f.ca_pem), p.S(f.server_name),
                     p.I(f.tls_verify ? 1 : 0), p.I(Micros(f.created_at)),
                     p.I(Micros(f.updated_at)), p.I(f.cursor.pos), p.S(f.cursor.id)),
         p);
    return Status::Ok();
  });
}

Result<SiemForwarder> SociStore::GetSiemForwarder(const std::string& tenant_id,
                                                  const std::string& id) {
  return Run("get siem forwarder", false, [&](soci::session& sql) -> Result<SiemForwarder> {
    Params p;
    std::optional<SiemForwarder> out;
    Select(sql,
           fmt::format("SELECT {} FROM siem_forwarders WHERE tenant_id = {} AND id = {}",
                       kForwarderCols, p.S(tenant_id), p.S(id)),
           p, kForwarderSig, [&](const Row& r) { out = ForwarderFrom(r); });
    if (!out) return NotFound("no such siem forwarder");
    return *out;
  });
}

Result<std::vector<SiemForwarder>> SociStore::ListSiemForwarders(const std::string& tenant_id) {
  return Run("list siem forwarders", false,
             [&](soci::session& sql) -> Result<std::vector<SiemForwarder>> {
               Params p;
               std::vector<SiemForwarder> out;
               Select(sql,
                      fmt::format("SELECT {} FROM siem_forwarders WHERE tenant_id = {} ORDER BY "
                                  "created_at, id",
                                  kForwarderCols, p.S(tenant_id)),
                      p, kForwarderSig, [&](const Row& r) { out.push_back(ForwarderFrom(r)); });
               return out;
             });
}

Result<std::vector<SiemForwarder>> SociStore::ListAllSiemForwarders() {
  return Run("list all siem forwarders", false,
             [&](soci::session& sql) -> Result<std::vector<SiemForwarder>> {
               Params p;
               std::vector<SiemForwarder> out;
               Select(sql,
                      fmt::format("SELECT {} FROM siem_forwarders ORDER BY created_at, id",
                                  kForwarderCols),
                      p, kForwarderSig, [&](const Row& r) { out.push_back(ForwarderFrom(r)); });
               return out;
             });
}

Status SociStore::UpdateSiemForwarder(const SiemForwarder& f) {
  WARD_RETURN_IF_ERROR(CheckForwarder(f));
  return RunStatus("update siem forwarder", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(RequireRow(sql, "siem_forwarders", f.tenant_id, f.id, "siem forwarder"));
    Params p;
    Exec(sql,
         fmt::format("UPDATE siem_forwarders SET name = {}, transport = {}, host = {}, port = {}, "
                     "format = {}, facility = {}, min_severity = {}, enabled = {}, ca_pem = {}, "
                     "server_name = {}, tls_verify = {}, updated_at = {} WHERE tenant_id = {} AND "
                     "id = {}",
                     p.S(f.name), p.S(f.transport), p.S(f.host), p.I(f.port), p.S(f.format),
                     p.I(f.facility), p.I(f.min_severity), p.I(f.enabled ? 1 : 0), p.S(f.ca_pem),
                     p.S(f.server_name), p.I(f.tls_verify ? 1 : 0), p.I(Micros(f.updated_at)),
                     p.S(f.tenant_id), p.S(f.id)),
         p);
    return Status::Ok();
  });
}

Status SociStore::DeleteSiemForwarder(const std::string& tenant_id, const std::string& id) {
  return RunStatus("delete siem forwarder", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(RequireRow(sql, "siem_forwarders", tenant_id, id, "siem forwarder"));
    Params p;
    Exec(sql,
         fmt::format("DELETE FROM siem_forwarders WHERE tenant_id = {} AND id = {}", p.S(tenant_id),
                     p.S(id)),
         p);
    return Status::Ok();
  });
}

Result<SiemCursor> SociStore::SiemLogEnd(const std::string& tenant_id) {
  return Run("siem log end", false, [&](soci::session& sql) -> Result<SiemCursor> {
    // Numbers become visible in order (the counter row is locked until the inserting
    // transaction ends), so the newest visible event is "now".
    Params p;
    SiemCursor end;
    Select(sql,
           fmt::format("SELECT seq, id FROM events WHERE tenant_id = {} ORDER BY seq DESC, id DESC "
                       "LIMIT 1",
                       p.S(tenant_id)),
           p, "is", [&](const Row& r) {
             end = {r.I(0), r.S(1)};
           });
    return end;
  });
}

Result<std::vector<SiemEvent>> SociStore::ReadSiemEvents(const std::string& tenant_id,
                                                         const SiemCursor& after, int limit) {
  if (limit < 1 || limit > 100'000) return InvalidArgument("limit: expected 1..100000");
  return Run("read siem events", false, [&](soci::session& sql) -> Result<std::vector<SiemEvent>> {
    Params p;
    std::string q = fmt::format(
        "SELECT seq, id, id, agent_id, module, action, path, rule, doc, ts, severity FROM "
        "events WHERE tenant_id = {}",
        p.S(tenant_id));
    q += SiemAfter(after, p) + fmt::format(" ORDER BY seq, id LIMIT {}", limit);
    std::vector<SiemEvent> out;
    Select(sql, q, p, "issssssssii", [&](const Row& r) {
      SiemEvent e;
      e.at = {r.I(0), r.S(1)};
      e.event.id = r.S(2);
      e.event.tenant_id = tenant_id;
      e.event.agent_id = r.S(3);
      e.event.module = r.S(4);
      e.event.action = r.S(5);
      e.event.path = r.S(6);
      e.event.rule = r.S(7);
      e.event.doc_text = r.S(8);
      e.event.timestamp = FromMicros(r.I(9));
      e.event.severity = static_cast<int>(r.I(10));
      out.push_back(std::move(e));
    });
    return out;
  });
}

Result<int64_t> SociStore::CountSiemEvents(const std::string& tenant_id, const SiemCursor& after,
                                           int64_t cap) {
  return Run("count siem events", false, [&](soci::session& sql) -> Result<int64_t> {
    Params p;
    std::string inner = fmt::format("SELECT 1 FROM events WHERE tenant_id = {}", p.S(tenant_id)) +
                        SiemAfter(after, p) + fmt::format(" LIMIT {}", std::max<int64_t>(cap, 0));
    return static_cast<int64_t>(
        SelectInt(sql, fmt::format("SELECT COUNT(*) FROM ({}) backlog", inner), p, 0));
  });
}

Status SociStore::BeginSiemBatch(const std::string& tenant_id, const std::string& id,
                                 const SiemCursor& from, const SiemCursor& to) {
  return RunStatus("begin siem batch", true, [&](soci::session& sql) -> Status {
    Params p;
    long long n = Exec(
        sql,
        fmt::format("UPDATE siem_forwarders SET flight_pos = {}, flight_id = {} "
                    "WHERE tenant_id = {} AND id = {} AND cursor_pos = {} AND "
                    "cursor_id = {}",
                    p.I(to.pos), p.S(to.id), p.S(tenant_id), p.S(id), p.I(from.pos), p.S(from.id)),
        p);
    if (n == 0) {
      WARD_RETURN_IF_ERROR(RequireRow(sql, "siem_forwarders", tenant_id, id, "siem forwarder"));
      // MySQL counts only changed rows: the same in_flight again is not a lost race.
      if (d_ == Dialect::kMysql) {
        Params q;
        long long same = SelectInt(
            sql,
            fmt::format("SELECT COUNT(*) FROM siem_forwarders WHERE tenant_id = {} AND id = {} "
                        "AND cursor_pos = {} AND cursor_id = {}",
                        q.S(tenant_id), q.S(id), q.I(from.pos), q.S(from.id)),
            q, 0);
        if (same > 0) return Status::Ok();
      }
      return FailedPrecondition("siem forwarder cursor moved (another node forwards it)");
    }
    return Status::Ok();
  });
}

Status SociStore::AdvanceSiemCursor(const std::string& tenant_id, const std::string& id,
                                    const SiemCursor& from, const SiemCursor& to, int64_t sent,
                                    int64_t skipped, int64_t resent, TimePoint at) {
  return AdvanceSiemCursorAndBegin(tenant_id, id, from, to, sent, skipped, resent, at, {});
}

Status SociStore::AdvanceSiemCursorAndBegin(const std::string& tenant_id, const std::string& id,
                                            const SiemCursor& from, const SiemCursor& to,
                                            int64_t sent, int64_t skipped, int64_t resent,
                                            TimePoint at, const SiemCursor& next_to) {
  return RunStatus("advance siem cursor", true, [&](soci::session& sql) -> Status {
    Params p;
    long long n = Exec(
        sql,
        fmt::format("UPDATE siem_forwarders SET cursor_pos = {}, cursor_id = {}, flight_pos = {}, "
                    "flight_id = {}, sent = sent + {}, skipped = skipped + {}, resent = resent + "
                    "{}, last_sent_at = {}, last_error = '', last_error_at = NULL WHERE tenant_id "
                    "= {} AND id = {} AND cursor_pos = {} AND cursor_id = {}",
                    p.I(to.pos), p.S(to.id), p.I(next_to.pos), p.S(next_to.id), p.I(sent),
                    p.I(skipped), p.I(resent), p.I(Micros(at)), p.S(tenant_id), p.S(id),
                    p.I(from.pos), p.S(from.id)),
        p);
    if (n == 0) {
      WARD_RETURN_IF_ERROR(RequireRow(sql, "siem_forwarders", tenant_id, id, "siem forwarder"));
      return FailedPrecondition("siem forwarder cursor moved (another node forwards it)");
    }
    return Status::Ok();
  });
}

Status SociStore::RecordSiemError(const std::string& tenant_id, const std::string& id,
                                  const std::string& error, TimePoint at) {
  std::string e = NoNul(error.substr(0, kMaxError));
  return RunStatus("record siem error", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(RequireRow(sql, "siem_forwarders", tenant_id, id, "siem forwarder"));
    Params p;
    Exec(sql,
         fmt::format("UPDATE siem_forwarders SET last_error = {}, last_error_at = {} WHERE "
                     "tenant_id = {} AND id = {}",
                     p.S(e), p.I(Micros(at)), p.S(tenant_id), p.S(id)),
         p);
    return Status::Ok();
  });
}

}  // namespace ward::manager::soci_backend
