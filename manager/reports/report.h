// Reports (docs/reports.md): what a tenant's events, agents, policies and alerts say about a
// period, gathered once into ReportData and then rendered as HTML, CSV or PDF in English or
// Japanese (manager/reports/render.h).
//
// Two kinds: a summary (events by module and severity, top attacked hosts and rules, malware found
// and what was done, tampering and healing, agents' coverage and health) and a PCI DSS v4.0
// report mapping requirements to evidence from Ward's own data (manager/reports/pci.h).
//
// Everything is read through the Store with the tenant's id, so a report never sees another
// tenant's rows. Thread-safety: plain values; BuildReport is safe from many threads (the store
// is).
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "manager/store/store.h"

namespace ward::manager::reports {

enum class ReportKind { kSummary, kPciDss };
enum class ReportFormat { kHtml, kCsv, kPdf };
enum class Language { kEn, kJa };

// "summary" / "pci_dss"; "html" / "csv" / "pdf"; "en" / "ja". Parse* return false for anything
// else.
std::string_view KindName(ReportKind k);
std::string_view FormatName(ReportFormat f);
std::string_view LanguageName(Language l);
bool ParseKind(std::string_view s, ReportKind& out);
bool ParseFormat(std::string_view s, ReportFormat& out);
bool ParseLanguage(std::string_view s, Language& out);
// "text/html; charset=utf-8", "text/csv; charset=utf-8", "application/pdf"; and the file suffix.
std::string_view ContentType(ReportFormat f);
std::string_view FileSuffix(ReportFormat f);

struct ReportRequest {
  ReportKind kind = ReportKind::kSummary;
  TimePoint from;  // inclusive
  TimePoint to;    // exclusive
  Language language = Language::kEn;
};

// A reason or a piece of evidence, rendered in the report's language: a message key
// (manager/reports/i18n.h) and the value its "{}" stands for ("" when it has none).
struct Note {
  std::string key;
  std::string arg;
  bool operator==(const Note&) const = default;
};

struct ModuleSeverityCount {
  std::string module;
  std::array<int64_t, 5> by_severity{};  // info, low, medium, high, critical
  int64_t total = 0;
};

struct DayCount {
  TimePoint day;                         // 00:00 UTC
  std::array<int64_t, 5> by_severity{};  // info .. critical
};

struct NamedCount {
  std::string name;  // a host name, rule, action
  std::string id;    // the agent id for hosts, else ""
  int64_t count = 0;
};

struct MalwareFinding {
  TimePoint at;
  std::string host;
  std::string path;
  std::string signature;
  std::string action;   // log, quarantine, delete, allowed
  std::string outcome;  // success, failure, "" when not said
};

struct AgentRow {
  std::string id;
  std::string host;
  std::string version;
  bool online = false;
  std::optional<TimePoint> last_seen;
  std::string policy;                 // the policy's name, "" without one
  std::vector<std::string> modules;   // enabled in its policy, in policy order
  std::string health;                 // ok, degraded, failed, unknown (no module reports)
  std::vector<std::string> problems;  // "<module>: <state or reason>"
};

struct SummaryData {
  int64_t total_events = 0;
  std::vector<ModuleSeverityCount> by_module;  // most events first
  std::vector<DayCount> per_day;               // every day of the period (at most 400)
  std::vector<NamedCount> top_hosts;           // by events of severity medium or higher
  std::vector<NamedCount> top_rules;           // same events, by rule
  int64_t malware_total = 0;  // infected files found (log/quarantine/delete/allowed)
  std::vector<NamedCount> malware_by_action;
  std::vector<MalwareFinding> malware;  // newest first, at most kMaxFindings
  std::vector<NamedCount> integrity_by_action;
  int64_t tampering = 0;  // integrity created/deleted/modified/type_changed/renamed
  int64_t heals = 0;      // autoheal restored
  int64_t persistent_tampering = 0;
  int64_t unexpected_files = 0;
  int64_t baseline_tampered = 0;
  std::vector<AgentRow> agents;  // by host name
  int agents_online = 0;
  std::map<std::string, int> coverage;  // module -> agents whose policy enables it
};

enum class PciStatus { kMet, kPartlyMet, kNotMet, kNotApplicable };
std::string_view PciStatusName(PciStatus s);  // met, partly_met, not_met, not_applicable

struct HostFailure {
  std::string agent_id;
  std::string host;
  std::vector<Note> reasons;
};

struct PciRequirement {
  std::string id;     // "5.2-5.3", "11.5.2", "6.4.2", "10.x", "1.x"
  std::string title;  // message key of its title
  PciStatus status = PciStatus::kNotMet;
  int hosts_in_scope = 0;
  int hosts_passing = 0;
  std::vector<Note> evidence;         // what was looked at, tenant-wide findings
  std::vector<HostFailure> failures;  // by host name
};

struct ReportData {
  ReportRequest request;
  std::string tenant_id;
  std::string tenant_name;
  TimePoint generated_at;
  int retention_days = 0;
  SummaryData summary;
  std::vector<PciRequirement> pci;  // filled for kPciDss (and summarised in the summary? no)
};

// "2026-09-21 14:03" (UTC); "2026-09-21" for DayText.
std::string TimeText(TimePoint t);
std::string DayText(TimePoint t);

inline constexpr int kMaxFindings = 200;
inline constexpr int kTopN = 10;

// Gathers the report of `tenant` for `req` at `now`. kInvalidArgument when the period is empty,
// reversed or longer than 400 days; store errors as they come.
Result<ReportData> BuildReport(Store& store, const Tenant& tenant, const ReportRequest& req,
                               TimePoint now);

}  // namespace ward::manager::reports
