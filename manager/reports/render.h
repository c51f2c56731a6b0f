// Rendering a report: ReportData is first laid out as a format-neutral Document (its sections,
// paragraphs and tables, every text already in the report's language), which the HTML, CSV and
// PDF writers then print; the PDF adds charts drawn with cairo from the same data.
//
// Every value from the database (host names, paths, rule names, policy names) is untrusted: the
// HTML writer escapes it, the CSV writer quotes it and defuses formulas (manager/api/csv.h), the
// PDF writer hands it to pango as plain text (never as markup).
// Thread-safety: pure functions; RenderPdf may run on many threads at once.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "manager/reports/report.h"

namespace ward::manager::reports {

// What a chart in a section shows (PDF only).
enum class Chart { kNone, kEventsPerDay, kEventsByModule, kPciStatus };

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  // Per row: the PciStatus it reports (coloured in HTML and PDF), or -1.
  std::vector<int> row_status;
  // Columns holding numbers (right-aligned).
  std::vector<bool> numeric;
};

struct Section {
  std::string title;
  std::vector<std::string> paragraphs;  // before the table
  Table table;                          // no header = no table
  Chart chart = Chart::kNone;           // drawn before the paragraphs
  int status = -1;                      // a PCI requirement's PciStatus, or -1
};

struct Document {
  std::string title;
  std::vector<std::pair<std::string, std::string>> meta;  // label, value
  std::vector<Section> sections;
};

Document Layout(const ReportData& data);

std::string RenderHtml(const ReportData& data);
std::string RenderCsv(const ReportData& data);
// kInternal when cairo fails (naming its status).
Result<std::string> RenderPdf(const ReportData& data);
// One of the three by format.
Result<std::string> Render(const ReportData& data, ReportFormat format);

}  // namespace ward::manager::reports
