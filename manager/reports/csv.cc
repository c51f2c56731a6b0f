// The CSV writer (RFC 4180, UTF-8 with a byte-order mark so spreadsheets read Japanese): the
// report's title and meta lines, then each section as a block: its title, its paragraphs, its
// table's header and rows, and an empty line. Fields are quoted and defused (manager/api/csv.h).
#include "manager/api/csv.h"

#include "manager/reports/render.h"

namespace ward::manager::reports {

std::string RenderCsv(const ReportData& data) {
  Document doc = Layout(data);
  std::string out = "\xEF\xBB\xBF";
  AppendCsvRecord(out, {doc.title});
  for (const auto& [label, value] : doc.meta) AppendCsvRecord(out, {label, value});
  out += "\r\n";
  for (const auto& s : doc.sections) {
    AppendCsvRecord(out, {s.title});
    for (const auto& p : s.paragraphs) AppendCsvRecord(out, {p});
    if (!s.table.header.empty()) {
      AppendCsvRecord(out, s.table.header);
      for (const auto& row : s.table.rows) AppendCsvRecord(out, row);
    }
    out += "\r\n";
  }
  return out;
}

}  // namespace ward::manager::reports
