// The HTML writer: one self-contained page (inline CSS, no script, no external resource).
#include <fmt/format.h>

#include "common/html_escape.h"
#include "manager/reports/render.h"

namespace ward::manager::reports {

namespace {

std::string_view StatusClass(int status) {
  static constexpr std::string_view kClasses[] = {"met", "partly", "notmet", "na"};
  return status >= 0 && status < 4 ? kClasses[status] : "";
}

constexpr std::string_view kStyle = R"(
body{font-family:"DejaVu Sans","Noto Sans CJK JP","IPAPGothic",sans-serif;margin:2em;color:#1d2433}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccd}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#eef1f6}td.n{text-align:right}dl.meta{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}
dt{font-weight:bold}dd{margin:0}tr.met td:nth-child(2),h2.met{color:#17692f}tr.partly td:nth-child(2),h2.partly{color:#9a6100}
tr.notmet td:nth-child(2),h2.notmet{color:#b3261e}tr.na td:nth-child(2),h2.na{color:#666}
td{word-break:break-word;max-width:40em}
)";

}  // namespace

std::string RenderHtml(const ReportData& data) {
  Document doc = Layout(data);
  std::string out;
  out += "<!DOCTYPE html>\n<html lang=\"";
  out += LanguageName(data.request.language);
  out += "\">\n<head>\n<meta charset=\"utf-8\">\n";
  out +=
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "style-src 'unsafe-inline'\">\n<title>";
  AppendHtmlEscaped(out, doc.title);
  out += "</title>\n<style>";
  out += kStyle;
  out += "</style>\n</head>\n<body>\n<h1>";
  AppendHtmlEscaped(out, doc.title);
  out += "</h1>\n<dl class=\"meta\">\n";
  for (const auto& [label, value] : doc.meta) {
    out += "<dt>";
    AppendHtmlEscaped(out, label);
    out += "</dt><dd>";
    AppendHtmlEscaped(out, value);
    out += "</dd>\n";
  }
  out += "</dl>\n";
  for (const auto& s : doc.sections) {
    out += "<section>\n<h2";
    if (s.status >= 0) out += fmt::format(" class=\"{}\"", StatusClass(s.status));
    out += ">";
    AppendHtmlEscaped(out, s.title);
    out += "</h2>\n";
    for (const auto& p : s.paragraphs) {
      out += "<p>";
      AppendHtmlEscaped(out, p);
      out += "</p>\n";
    }
    if (!s.table.header.empty()) {
      out += "<table>\n<thead><tr>";
      for (const auto& h : s.table.header) {
        out += "<th>";
        AppendHtmlEscaped(out, h);
        out += "</th>";
      }
      out += "</tr></thead>\n<tbody>\n";
      for (size_t r = 0; r < s.table.rows.size(); ++r) {
        int status = r < s.table.row_status.size() ? s.table.row_status[r] : -1;
        out += status >= 0 ? fmt::format("<tr class=\"{}\">", StatusClass(status)) : "<tr>";
        const auto& row = s.table.rows[r];
        for (size_t c = 0; c < row.size(); ++c) {
          bool numeric = c < s.table.numeric.size() && s.table.numeric[c];
          out += numeric ? "<td class=\"n\">" : "<td>";
          AppendHtmlEscaped(out, row[c]);
          out += "</td>";
        }
        out += "</tr>\n";
      }
      out += "</tbody>\n</table>\n";
    }
    out += "</section>\n";
  }
  out += "</body>\n</html>\n";
  return out;
}

}  // namespace ward::manager::reports
