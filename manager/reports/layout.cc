#include <fmt/format.h>

#include <ctime>

#include "manager/reports/i18n.h"
#include "manager/reports/render.h"

namespace ward::manager::reports {

namespace {

std::string Num(int64_t n) { return std::to_string(n); }

std::string ActionText(Language, const std::string& action) { return action; }

Section Tabled(std::string title, std::vector<std::string> header, std::vector<bool> numeric) {
  Section s;
  s.title = std::move(title);
  s.table.header = std::move(header);
  s.table.numeric = std::move(numeric);
  return s;
}

void AddRow(Table& t, std::vector<std::string> row, int status = -1) {
  t.rows.push_back(std::move(row));
  t.row_status.push_back(status);
}

void SummarySections(const ReportData& d, Document& doc) {
  const Language l = d.request.language;
  const SummaryData& s = d.summary;
  auto T = [l](std::string_view k) { return std::string(Text(l, k)); };

  {
    std::vector<std::string> header = {T("col.module")};
    std::vector<bool> numeric = {false};
    for (int i = 0; i < 5; ++i) {
      header.emplace_back(SeverityText(l, i));
      numeric.push_back(true);
    }
    header.push_back(T("col.total"));
    numeric.push_back(true);
    Section sec = Tabled(T("section.by_module"), header, numeric);
    sec.chart = Chart::kEventsByModule;
    sec.paragraphs.push_back(fmt::format("{}: {}", T("label.total_events"), s.total_events));
    for (const auto& m : s.by_module) {
      std::vector<std::string> row = {m.module};
      for (auto c : m.by_severity) row.push_back(Num(c));
      row.push_back(Num(m.total));
      AddRow(sec.table, row);
    }
    doc.sections.push_back(std::move(sec));
  }
  {
    std::vector<std::string> header = {T("col.day")};
    std::vector<bool> numeric = {false};
    for (int i = 0; i < 5; ++i) {
      header.emplace_back(SeverityText(l, i));
      numeric.push_back(true);
    }
    Section sec = Tabled(T("section.per_day"), header, numeric);
    sec.chart = Chart::kEventsPerDay;
    for (const auto& day : s.per_day) {
      std::vector<std::string> row = {DayText(day.day)};
      for (auto c : day.by_severity) row.push_back(Num(c));
      AddRow(sec.table, row);
    }
    doc.sections.push_back(std::move(sec));
  }
  {
    Section sec = Tabled(T("section.top_hosts"), {T("col.host"), T("col.events")}, {false, true});
    for (const auto& h : s.top_hosts) AddRow(sec.table, {h.name, Num(h.count)});
    if (s.top_hosts.empty()) sec.paragraphs.push_back(T("label.none"));
    doc.sections.push_back(std::move(sec));
  }
  {
    Section sec = Tabled(T("section.top_rules"), {T("col.rule"), T("col.events")}, {false, true});
    for (const auto& r : s.top_rules) AddRow(sec.table, {r.name, Num(r.count)});
    if (s.top_rules.empty()) sec.paragraphs.push_back(T("label.none"));
    doc.sections.push_back(std::move(sec));
  }
  {
    Section sec = Tabled(T("section.malware"),
                         {T("col.time"), T("col.host"), T("col.path"), T("col.signature"),
                          T("col.action"), T("col.outcome")},
                         {false, false, false, false, false, false});
    std::string by_action;
    for (const auto& a : s.malware_by_action) {
      by_action += fmt::format("{}{}: {}", by_action.empty() ? "" : ", ", a.name, a.count);
    }
    sec.paragraphs.push_back(fmt::format("{}: {}{}", T("col.total"), s.malware_total,
                                         by_action.empty() ? "" : " (" + by_action + ")"));
    if (s.malware_total > static_cast<int64_t>(s.malware.size())) {
      sec.paragraphs.push_back(Fill(Text(l, "label.more_findings"), {Num(s.malware.size())}));
    }
    for (const auto& f : s.malware) {
      AddRow(sec.table,
             {TimeText(f.at), f.host, f.path, f.signature, ActionText(l, f.action), f.outcome});
    }
    doc.sections.push_back(std::move(sec));
  }
  {
    Section sec = Tabled(T("section.tampering"), {T("col.item"), T("col.count")}, {false, true});
    AddRow(sec.table, {T("tamper.changes"), Num(s.tampering)});
    AddRow(sec.table, {T("tamper.heals"), Num(s.heals)});
    AddRow(sec.table, {T("tamper.persistent"), Num(s.persistent_tampering)});
    AddRow(sec.table, {T("tamper.unexpected"), Num(s.unexpected_files)});
    AddRow(sec.table, {T("tamper.baseline"), Num(s.baseline_tampered)});
    doc.sections.push_back(std::move(sec));
  }
  {
    Section sec = Tabled(T("section.agents"),
                         {T("col.host"), T("col.state"), T("col.last_seen"), T("col.version"),
                          T("col.policy"), T("col.modules"), T("col.health")},
                         {false, false, false, false, false, false, false});
    sec.paragraphs.push_back(
        Fill(Text(l, "coverage.agents"), {Num(s.agents.size()), Num(s.agents_online)}));
    std::string coverage;
    for (const auto& [module, n] : s.coverage) {
      coverage +=
          fmt::format("{}{} {}/{}", coverage.empty() ? "" : ", ", module, n, s.agents.size());
    }
    if (!coverage.empty()) sec.paragraphs.push_back(coverage);
    for (const auto& a : s.agents) {
      std::string modules;
      for (const auto& m : a.modules) modules += (modules.empty() ? "" : ", ") + m;
      std::string health(Text(l, "health." + a.health));
      for (const auto& p : a.problems) health += "; " + p;
      AddRow(sec.table,
             {a.host, T(a.online ? "label.online" : "label.offline"),
              a.last_seen ? TimeText(*a.last_seen) : "—", a.version, a.policy, modules, health});
    }
    doc.sections.push_back(std::move(sec));
  }
}

void PciSections(const ReportData& d, Document& doc) {
  const Language l = d.request.language;
  auto T = [l](std::string_view k) { return std::string(Text(l, k)); };
  Section overview =
      Tabled(T("section.pci_overview"),
             {T("col.requirement"), T("col.status"), T("col.hosts_passing")}, {false, false, true});
  overview.chart = Chart::kPciStatus;
  for (const auto& r : d.pci) {
    AddRow(overview.table,
           {T(r.title), std::string(StatusText(l, r.status)),
            fmt::format("{}/{}", r.hosts_passing, r.hosts_in_scope)},
           static_cast<int>(r.status));
  }
  doc.sections.push_back(std::move(overview));
  for (const auto& r : d.pci) {
    Section sec = Tabled(fmt::format("{} — {}", T(r.title), StatusText(l, r.status)),
                         {T("col.host"), T("col.reasons")}, {false, false});
    sec.status = static_cast<int>(r.status);
    for (const auto& n : r.evidence) sec.paragraphs.push_back(NoteText(l, n));
    for (const auto& f : r.failures) {
      std::string why;
      for (const auto& n : f.reasons) why += (why.empty() ? "" : "; ") + NoteText(l, n);
      AddRow(sec.table, {f.host, why});
    }
    if (r.failures.empty()) sec.table.header.clear();
    doc.sections.push_back(std::move(sec));
  }
}

}  // namespace

std::string TimeText(TimePoint t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min);
}

std::string DayText(TimePoint t) { return TimeText(t).substr(0, 10); }

Document Layout(const ReportData& d) {
  const Language l = d.request.language;
  Document doc;
  doc.title = std::string(
      Text(l, d.request.kind == ReportKind::kPciDss ? "report.pci_dss" : "report.summary"));
  doc.meta.emplace_back(Text(l, "label.tenant"), d.tenant_name);
  doc.meta.emplace_back(
      Text(l, "label.period"),
      fmt::format("{} – {} (UTC)", TimeText(d.request.from), TimeText(d.request.to)));
  doc.meta.emplace_back(Text(l, "label.generated"), TimeText(d.generated_at) + " (UTC)");
  if (d.request.kind == ReportKind::kPciDss) {
    PciSections(d, doc);
  } else {
    SummarySections(d, doc);
  }
  return doc;
}

Result<std::string> Render(const ReportData& data, ReportFormat format) {
  switch (format) {
    case ReportFormat::kHtml:
      return RenderHtml(data);
    case ReportFormat::kCsv:
      return RenderCsv(data);
    case ReportFormat::kPdf:
      return RenderPdf(data);
  }
  return InvalidArgument("unknown report format");
}

}  // namespace ward::manager::reports
