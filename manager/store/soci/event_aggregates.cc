// Event aggregates for the dashboard: the most frequent rules, agents, paths, modules or actions
// and the heal/quarantine totals over every event of a range (one GROUP BY / one scan in the
// database, over the (tenant_id, ts) key), never a sample.
#include <fmt/format.h>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

namespace {

const char* Column(EventField f) {
  switch (f) {
    case EventField::kRule:
      return "rule";
    case EventField::kAgent:
      return "agent_id";
    case EventField::kPath:
      return "path";
    case EventField::kModule:
      return "module";
    case EventField::kAction:
      return "action";
  }
  return "rule";
}

}  // namespace

Result<std::vector<EventValueCount>> SociStore::TopEventValues(const std::string& tenant_id,
                                                               const EventQuery& q,
                                                               EventField field, int limit) {
  if (limit < 1 || limit > 1000) return InvalidArgument("limit: expected 1..1000");
  const char* col = Column(field);
  return Run("top event values", false,
             [&](soci::session& sql) -> Result<std::vector<EventValueCount>> {
               Params p;
               std::string s = fmt::format("SELECT {}, COUNT(*) AS n FROM events", col) +
                               EventWhere(tenant_id, q, p) +
                               fmt::format(" AND {} <> '' GROUP BY {} ORDER BY n DESC, {} LIMIT {}",
                                           col, col, col, limit);
               std::vector<EventValueCount> out;
               Select(sql, s, p, "si", [&](const Row& r) {
                 out.push_back(EventValueCount{r.S(0), r.I(1)});
               });
               return out;
             });
}

Result<EventSummary> SociStore::SummarizeEvents(const std::string& tenant_id, const EventQuery& q) {
  return Run("summarize events", false, [&](soci::session& sql) -> Result<EventSummary> {
    Params p;
    // COALESCE: SUM over no rows is NULL.
    std::string s =
        "SELECT COUNT(*), "
        "COALESCE(SUM(CASE WHEN module = 'autoheal' AND action = 'restored' THEN 1 ELSE 0 END), "
        "0), "
        "COALESCE(SUM(CASE WHEN module = 'antimalware' AND action = 'quarantine' THEN 1 ELSE 0 "
        "END), 0) FROM events" +
        EventWhere(tenant_id, q, p);
    EventSummary out;
    Select(sql, s, p, "iii", [&](const Row& r) {
      out.total = r.I(0);
      out.heals = r.I(1);
      out.quarantines = r.I(2);
    });
    return out;
  });
}

}  // namespace ward::manager::soci_backend
