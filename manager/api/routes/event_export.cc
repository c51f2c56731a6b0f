// Events for people: the export of a filter as CSV or NDJSON, streamed page by page with no row
// cap (constant memory), and the dashboard's aggregates over every event of a range (top values,
// heal and quarantine totals) computed by the database.
#include <fmt/format.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "manager/api/csv.h"
#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"

namespace ward::manager {

using json = nlohmann::json;

namespace {

// The first page is small so the first rows leave at once; later pages amortise the query.
constexpr int kFirstPage = 200;
constexpr int kPage = 2000;

// The CSV columns: the fields every module's events share, and the ones the dashboard ranks by.
// NDJSON carries whole documents.
constexpr const char* kCsvColumns[] = {
    "@timestamp",   "event.id",     "agent.id",       "agent.name", "host.name",
    "event.module", "event.action", "event.severity", "rule.id",    "rule.name",
    "file.path",    "url.original", "source.ip",      "message"};

// A CSV column's name, split once: the literal dotted key and its parts.
struct ColumnPath {
  std::string flat;
  std::vector<std::string> parts;
};

const std::vector<ColumnPath>& CsvPaths() {
  static const std::vector<ColumnPath> paths = [] {
    std::vector<ColumnPath> out;
    for (const char* c : kCsvColumns) {
      ColumnPath p{c, {}};
      std::string_view rest = c;
      while (true) {
        size_t dot = rest.find('.');
        p.parts.emplace_back(rest.substr(0, dot));
        if (dot == std::string_view::npos) break;
        rest.remove_prefix(dot + 1);
      }
      out.push_back(std::move(p));
    }
    return out;
  }();
  return paths;
}

// A dotted field of an event document, as nested objects or as a literal dotted key; strings as
// they are, other values as JSON text, absent as "". Written into `out` (no allocation when its
// capacity suffices).
void FieldText(const json& doc, const ColumnPath& path, std::string& out) {
  out.clear();
  if (!doc.is_object()) return;
  const json* cur = nullptr;
  auto flat = doc.find(path.flat);
  if (flat != doc.end()) {
    cur = &*flat;
  } else {
    cur = &doc;
    for (const std::string& part : path.parts) {
      if (!cur->is_object()) return;
      auto it = cur->find(part);
      if (it == cur->end()) return;
      cur = &*it;
    }
  }
  if (cur->is_null()) return;
  if (cur->is_string()) {
    out = cur->get_ref<const std::string&>();
    return;
  }
  out = cur->dump(-1, ' ', false, json::error_handler_t::replace);
}

// Whether a top-level member of a stored document can hold a CSV column: the first part of a
// column's dotted name, or the whole name as a literal dotted key.
bool CsvRoot(const std::string& key) {
  for (const char* c : kCsvColumns) {
    std::string_view col = c;
    if (key == col || key == col.substr(0, col.find('.'))) return true;
  }
  return false;
}

// A stored document parsed for the CSV columns only: every other top-level member is skipped by
// the parser without being built (a document is ~1 KB; the columns are a fraction of it).
json CsvDoc(const std::string& text) {
  static const json::parser_callback_t keep = [](int depth, json::parse_event_t event,
                                                 json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key) {
      return CsvRoot(parsed.get_ref<const std::string&>());
    }
    return true;
  };
  return json::parse(text, keep, /*allow_exceptions=*/false);
}

struct ExportCursor {
  ExportCursor(Store& s, std::string t, EventQuery query, bool c)
      : store(s), tenant(std::move(t)), q(std::move(query)), csv(c) {}
  Store& store;
  std::string tenant;
  EventQuery q;
  bool csv;
  std::vector<StoredEvent> first;  // the first page, read before answering 200
  bool first_sent = false;

  // Pages are read with raw_docs: each document as stored (one line of JSON, valid UTF-8, as the
  // store requires), written as it is for NDJSON, parsed for the CSV columns only.
  void Append(std::string& out, const std::vector<StoredEvent>& page) {
    for (const auto& e : page) {
      if (csv) {
        const json doc = e.doc_text.empty() ? e.doc : CsvDoc(e.doc_text);
        const auto& paths = CsvPaths();
        fields.resize(paths.size());
        for (size_t i = 0; i < paths.size(); ++i) FieldText(doc, paths[i], fields[i]);
        AppendCsvRecord(out, fields);
      } else if (!e.doc_text.empty()) {
        out += e.doc_text;
        out += '\n';
      } else {
        out += e.doc.dump(-1, ' ', false, json::error_handler_t::replace);
        out += '\n';
      }
    }
  }
  std::vector<std::string> fields;  // one CSV record's cells, reused
  // Next page after `page`'s last event; false when `page` was the last.
  bool Advance(const std::vector<StoredEvent>& page) {
    if (static_cast<int>(page.size()) < q.limit || page.empty()) return false;
    q.after = std::make_pair(page.back().timestamp, page.back().id);
    q.limit = kPage;
    return true;
  }
  Result<bool> Next(std::string& out) {
    if (!first_sent) {
      first_sent = true;
      if (csv) {
        // Our own names, written as they are (AppendCsvField would defuse "@timestamp").
        for (const char* c : kCsvColumns) {
          if (c != kCsvColumns[0]) out += ',';
          out += c;
        }
        out += "\r\n";
      }
      Append(out, first);
      bool more = Advance(first);
      first.clear();
      first.shrink_to_fit();
      return more;
    }
    auto page = store.QueryEvents(tenant, q);
    if (!page) return page.error();
    Append(out, *page);
    return Advance(*page);
  }
};

}  // namespace

void AddEventExportRoutes(RouteTable& table, RouteDeps deps) {
  table.Add("GET", "/api/v1/events/export", Access::kAny,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              if (auto e = CheckQuery(req, {"from", "to", "agent", "module", "min_severity",
                                            "action", "q", "order", "format"})) {
                return Err(*e);
              }
              EventQuery q;
              if (auto e = ReadEventFilters(req, q)) return Err(*e);
              if (auto e = ReadOrder(req, q.descending)) return Err(*e);
              const std::string format = QueryParam(req, "format").value_or("csv");
              if (format != "csv" && format != "ndjson") {
                return Err(BadRequest("invalid_query", "format", "format: expected csv or ndjson"));
              }
              const bool csv = format == "csv";
              q.limit = kFirstPage;
              q.raw_docs = true;
              auto cursor = std::make_shared<ExportCursor>(deps.store, p.tenant.id, q, csv);
              // The first page before answering: a database error is still a proper 5xx.
              auto first = deps.store.QueryEvents(p.tenant.id, q);
              if (!first) return Err(first.error());
              cursor->first = std::move(*first);
              HttpResponse r;
              r.status = 200;
              r.content_type = csv ? "text/csv; charset=utf-8; header=present"
                                   : "application/x-ndjson; charset=utf-8";
              r.headers.Set("Content-Disposition",
                            fmt::format("attachment; filename=\"ward-events.{}\"", format));
              r.headers.Set("Cache-Control", "no-store");
              r.headers.Set("X-Content-Type-Options", "nosniff");
              r.stream = [cursor](std::string& out) { return cursor->Next(out); };
              return r;
            });
  table.Add("GET", "/api/v1/events/top", Access::kAny,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              if (auto e = CheckQuery(req, {"from", "to", "agent", "module", "min_severity",
                                            "action", "q", "field", "limit"})) {
                return Err(*e);
              }
              EventQuery q;
              if (auto e = ReadEventFilters(req, q)) return Err(*e);
              auto limit = ReadLimit(req, 10, 1000);
              if (!limit) return Err(limit.error());
              static constexpr std::pair<std::string_view, EventField> kFields[] = {
                  {"rule", EventField::kRule},
                  {"agent", EventField::kAgent},
                  {"path", EventField::kPath},
                  {"module", EventField::kModule},
                  {"action", EventField::kAction}};
              const std::string name = QueryParam(req, "field").value_or("");
              const EventField* field = nullptr;
              for (const auto& [n, f] : kFields) {
                if (n == name) field = &f;
              }
              if (field == nullptr) {
                return Err(BadRequest("invalid_query", "field",
                                      "field: expected rule, agent, path, module or action"));
              }
              auto top = deps.store.TopEventValues(p.tenant.id, q, *field, *limit);
              if (!top) return Err(top.error());
              json items = json::array();
              for (const auto& v : *top) items.push_back({{"value", v.value}, {"count", v.count}});
              return JsonResponse(200, {{"field", name},
                                        {"from", TimeJson(q.from)},
                                        {"to", TimeJson(q.to)},
                                        {"items", items}});
            });
  table.Add("GET", "/api/v1/events/summary", Access::kAny,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              if (auto e = CheckQuery(
                      req, {"from", "to", "agent", "module", "min_severity", "action", "q"})) {
                return Err(*e);
              }
              EventQuery q;
              if (auto e = ReadEventFilters(req, q)) return Err(*e);
              auto s = deps.store.SummarizeEvents(p.tenant.id, q);
              if (!s) return Err(s.error());
              return JsonResponse(200, {{"from", TimeJson(q.from)},
                                        {"to", TimeJson(q.to)},
                                        {"total", s->total},
                                        {"heals", s->heals},
                                        {"quarantines", s->quarantines}});
            });
}

}  // namespace ward::manager
