#include "manager/reports/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "manager/reports/pci.h"

namespace ward::manager::reports {

using json = nlohmann::json;
using std::chrono::days;
using std::chrono::hours;

std::string_view KindName(ReportKind k) { return k == ReportKind::kPciDss ? "pci_dss" : "summary"; }
std::string_view FormatName(ReportFormat f) {
  switch (f) {
    case ReportFormat::kHtml:
      return "html";
    case ReportFormat::kCsv:
      return "csv";
    case ReportFormat::kPdf:
      return "pdf";
  }
  return "html";
}
std::string_view LanguageName(Language l) { return l == Language::kJa ? "ja" : "en"; }
bool ParseKind(std::string_view s, ReportKind& out) {
  if (s == "summary") {
    out = ReportKind::kSummary;
  } else if (s == "pci_dss") {
    out = ReportKind::kPciDss;
  } else {
    return false;
  }
  return true;
}
bool ParseFormat(std::string_view s, ReportFormat& out) {
  if (s == "html") {
    out = ReportFormat::kHtml;
  } else if (s == "csv") {
    out = ReportFormat::kCsv;
  } else if (s == "pdf") {
    out = ReportFormat::kPdf;
  } else {
    return false;
  }
  return true;
}
bool ParseLanguage(std::string_view s, Language& out) {
  if (s == "en") {
    out = Language::kEn;
  } else if (s == "ja") {
    out = Language::kJa;
  } else {
    return false;
  }
  return true;
}
std::string_view ContentType(ReportFormat f) {
  switch (f) {
    case ReportFormat::kHtml:
      return "text/html; charset=utf-8";
    case ReportFormat::kCsv:
      return "text/csv; charset=utf-8";
    case ReportFormat::kPdf:
      return "application/pdf";
  }
  return "application/octet-stream";
}
std::string_view FileSuffix(ReportFormat f) {
  switch (f) {
    case ReportFormat::kHtml:
      return ".html";
    case ReportFormat::kCsv:
      return ".csv";
    case ReportFormat::kPdf:
      return ".pdf";
  }
  return "";
}

namespace {

constexpr std::string_view kMalwareActions[] = {"log", "quarantine", "delete", "allowed"};
constexpr std::string_view kTamperActions[] = {"created", "deleted", "modified", "type_changed",
                                               "renamed"};

EventQuery Period(TimePoint from, TimePoint to) {
  EventQuery q;
  q.from = from;
  q.to = to;
  return q;
}

// agent id -> count of the events matching q (every agent, up to 1000).
Result<std::map<std::string, int64_t>> CountPerAgent(Store& store, const std::string& tenant,
                                                     const EventQuery& q) {
  auto top = store.TopEventValues(tenant, q, EventField::kAgent, 1000);
  if (!top) return top.error();
  std::map<std::string, int64_t> out;
  for (const auto& v : *top) out[v.value] = v.count;
  return out;
}

std::string HealthOf(const Agent& a, std::vector<std::string>& problems) {
  if (!a.status.is_object() || !a.status.contains("modules") || !a.status["modules"].is_array() ||
      a.status["modules"].empty()) {
    return "unknown";
  }
  int rank = 0;  // 0 ok, 1 degraded, 2 failed
  for (const auto& m : a.status["modules"]) {
    if (!m.is_object()) continue;
    std::string name = m.value("name", std::string("?"));
    std::string state = m.value("state", std::string());
    if (state == "failed") {
      rank = 2;
      problems.push_back(fmt::format("{}: failed", name));
      continue;
    }
    if (m.contains("health") && m["health"].is_object()) {
      std::string h = m["health"].value("state", std::string("ok"));
      if (h == "failed") {
        rank = 2;
      } else if (h == "degraded") {
        rank = std::max(rank, 1);
      }
      if (h != "ok") {
        std::string why = h;
        if (m["health"].contains("reasons") && m["health"]["reasons"].is_array() &&
            !m["health"]["reasons"].empty() && m["health"]["reasons"][0].is_string()) {
          why = m["health"]["reasons"][0].get<std::string>();
        }
        problems.push_back(fmt::format("{}: {}", name, why));
      }
    }
  }
  static constexpr std::string_view kNames[] = {"ok", "degraded", "failed"};
  return std::string(kNames[rank]);
}

}  // namespace

Result<ReportData> BuildReport(Store& store, const Tenant& tenant, const ReportRequest& req,
                               TimePoint now) {
  if (req.to <= req.from) return InvalidArgument("the period is empty: to must be after from");
  if (req.to - req.from > days(400)) return InvalidArgument("the period is longer than 400 days");
  ReportData d;
  d.request = req;
  d.tenant_id = tenant.id;
  d.tenant_name = tenant.name;
  d.generated_at = now;
  d.retention_days = tenant.settings.event_retention_days;
  SummaryData& s = d.summary;
  const std::string& t = tenant.id;

  // Events per day, module and severity.
  auto counts = store.CountEvents(t, Period(req.from, req.to), hours(24));
  if (!counts) return counts.error();
  std::map<std::string, ModuleSeverityCount> modules;
  std::map<TimePoint, DayCount> per_day;
  for (auto day = std::chrono::floor<days>(req.from); day < req.to; day += days(1)) {
    per_day[day].day = day;
  }
  for (const auto& c : *counts) {
    int sev = std::clamp(c.severity, 0, 4);
    auto& m = modules[c.module];
    m.module = c.module;
    m.by_severity[sev] += c.count;
    m.total += c.count;
    auto& day = per_day[c.bucket];
    day.day = c.bucket;
    day.by_severity[sev] += c.count;
    s.total_events += c.count;
  }
  for (auto& [_, m] : modules) s.by_module.push_back(m);
  std::stable_sort(s.by_module.begin(), s.by_module.end(),
                   [](const auto& a, const auto& b) { return a.total > b.total; });
  for (auto& [_, day] : per_day) s.per_day.push_back(day);

  // Agents (host names for the top hosts, coverage, health).
  auto agents = store.ListAgents(t, AgentFilter{});
  if (!agents) return agents.error();
  auto policies = store.ListPolicies(t);
  if (!policies) return policies.error();
  std::map<std::string, Policy> policy_by_id;
  for (const auto& p : *policies) policy_by_id[p.id] = p;
  std::map<std::string, std::string> host_of;
  for (const auto& a : *agents) host_of[a.id] = a.hostname;

  // Top attacked hosts and rules: events of severity medium or higher.
  EventQuery attacks = Period(req.from, req.to);
  attacks.min_severity = 2;
  auto top_hosts = store.TopEventValues(t, attacks, EventField::kAgent, kTopN);
  if (!top_hosts) return top_hosts.error();
  for (const auto& v : *top_hosts) {
    auto it = host_of.find(v.value);
    s.top_hosts.push_back({it == host_of.end() ? v.value : it->second, v.value, v.count});
  }
  auto top_rules = store.TopEventValues(t, attacks, EventField::kRule, kTopN);
  if (!top_rules) return top_rules.error();
  for (const auto& v : *top_rules) s.top_rules.push_back({v.value, "", v.count});

  // Malware found and what was done.
  EventQuery am = Period(req.from, req.to);
  am.module = "antimalware";
  auto am_actions = store.TopEventValues(t, am, EventField::kAction, 1000);
  if (!am_actions) return am_actions.error();
  for (const auto& v : *am_actions) {
    if (std::find(std::begin(kMalwareActions), std::end(kMalwareActions), v.value) ==
        std::end(kMalwareActions)) {
      continue;
    }
    s.malware_by_action.push_back({v.value, "", v.count});
    s.malware_total += v.count;
  }
  for (auto action : kMalwareActions) {
    EventQuery q = am;
    q.action = std::string(action);
    q.descending = true;
    q.limit = kMaxFindings;
    auto events = store.QueryEvents(t, q);
    if (!events) return events.error();
    for (const auto& e : *events) {
      MalwareFinding f;
      f.at = e.timestamp;
      auto it = host_of.find(e.agent_id);
      f.host = it != host_of.end() ? it->second
                                   : e.doc.value(json::json_pointer("/host/name"), e.agent_id);
      f.path = e.path;
      f.signature = e.doc.value(json::json_pointer("/rule/name"), e.rule);
      f.action = e.action;
      f.outcome = e.doc.value(json::json_pointer("/event/outcome"), std::string());
      s.malware.push_back(std::move(f));
    }
  }
  std::stable_sort(s.malware.begin(), s.malware.end(),
                   [](const auto& a, const auto& b) { return a.at > b.at; });
  if (s.malware.size() > static_cast<size_t>(kMaxFindings)) s.malware.resize(kMaxFindings);

  // Tampering and healing.
  EventQuery integ = Period(req.from, req.to);
  integ.module = "integrity";
  auto integ_actions = store.TopEventValues(t, integ, EventField::kAction, 1000);
  if (!integ_actions) return integ_actions.error();
  for (const auto& v : *integ_actions) {
    s.integrity_by_action.push_back({v.value, "", v.count});
    if (std::find(std::begin(kTamperActions), std::end(kTamperActions), v.value) !=
        std::end(kTamperActions)) {
      s.tampering += v.count;
    }
    if (v.value == "baseline_tampered") s.baseline_tampered += v.count;
  }
  EventQuery heal = Period(req.from, req.to);
  heal.module = "autoheal";
  auto heal_actions = store.TopEventValues(t, heal, EventField::kAction, 1000);
  if (!heal_actions) return heal_actions.error();
  for (const auto& v : *heal_actions) {
    if (v.value == "restored") s.heals += v.count;
    if (v.value == "persistent_tampering") s.persistent_tampering += v.count;
    if (v.value == "unexpected_file") s.unexpected_files += v.count;
  }

  // Agents' coverage and health.
  for (const auto& a : *agents) {
    AgentRow row;
    row.id = a.id;
    row.host = a.hostname;
    row.version = a.version;
    row.online = a.online;
    row.last_seen = a.last_seen;
    if (a.online) ++s.agents_online;
    if (a.policy_id) {
      auto it = policy_by_id.find(*a.policy_id);
      if (it != policy_by_id.end()) {
        row.policy = it->second.name;
        if (it->second.document.is_object()) {
          for (const auto& [name, _] : it->second.document.items()) {
            if (name != "agent" && ModuleEnabled(it->second.document, name)) {
              row.modules.push_back(name);
              ++s.coverage[name];
            }
          }
        }
      }
    }
    row.health = HealthOf(a, row.problems);
    s.agents.push_back(std::move(row));
  }
  std::sort(s.agents.begin(), s.agents.end(), [](const AgentRow& a, const AgentRow& b) {
    return std::tie(a.host, a.id) < std::tie(b.host, b.id);
  });

  if (req.kind == ReportKind::kPciDss) {
    PciInputs in;
    in.from = req.from;
    in.to = req.to;
    in.agents = *agents;
    in.policies = policy_by_id;
    in.retention_days = tenant.settings.event_retention_days;
    EventQuery loads;
    loads.from = req.to - kSignatureMaxAge;
    loads.to = req.to;
    loads.module = "antimalware";
    loads.action = "database_loaded";
    auto l = CountPerAgent(store, t, loads);
    if (!l) return l.error();
    in.signature_loads = std::move(*l);
    EventQuery scans = am;
    scans.action = "scan_finished";
    auto sc = CountPerAgent(store, t, scans);
    if (!sc) return sc.error();
    in.scans_finished = std::move(*sc);
    EventQuery ips = Period(req.from, req.to);
    ips.module = "ips";
    auto ie = CountPerAgent(store, t, ips);
    if (!ie) return ie.error();
    in.ips_events = std::move(*ie);
    // Alerts of severity high or above first seen in the period and at least a day old at its
    // end: reviewed when acknowledged or resolved.
    AlertFilter f;
    f.min_severity = 3;
    f.limit = 1000;
    for (;;) {
      auto list = store.ListAlerts(t, f);
      if (!list) return list.error();
      for (const auto& a : *list) {
        if (a.first_seen < req.from || a.first_seen >= req.to - hours(24)) continue;
        ++in.severe_alerts;
        if (a.state == AlertState::kOpen) ++in.unreviewed_alerts;
      }
      if (static_cast<int>(list->size()) < f.limit) break;
      f.before = std::make_pair(list->back().last_seen, list->back().id);
    }
    d.pci = EvaluatePci(in);
  }
  return d;
}

}  // namespace ward::manager::reports
