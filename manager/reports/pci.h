// The PCI DSS v4.0 mapping (docs/reports.md, "PCI DSS v4.0"): each requirement Ward can give
// evidence for, judged per host from its assigned policy, its last heartbeat and the events of the
// period, then tenant-wide: met when every host in scope passes, not met when none does, partly
// met in between; not applicable when no host is in scope (6.4.2 without web servers).
// Pure functions over the inputs; thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "manager/reports/report.h"
#include "manager/store/store.h"

namespace ward::manager::reports {

// What EvaluatePci looks at, gathered by BuildReport.
struct PciInputs {
  TimePoint from;
  TimePoint to;
  std::vector<Agent> agents;
  std::map<std::string, Policy> policies;          // by id
  std::map<std::string, int64_t> signature_loads;  // agent id -> database_loaded in [to-7d, to)
  std::map<std::string, int64_t> scans_finished;   // agent id -> scan_finished in the period
  std::map<std::string, int64_t> ips_events;       // agent id -> ips events in the period
  int retention_days = 0;
  int64_t severe_alerts = 0;      // severity >= high, first seen in the period, older than 24 h
  int64_t unreviewed_alerts = 0;  // of those, still open at the end of the period
};

// Signatures older than this are not current (5.3.1).
inline constexpr std::chrono::hours kSignatureMaxAge{24 * 7};
// Integrity comparisons must run at least this often (11.5.2: weekly).
inline constexpr std::chrono::hours kIntegrityMaxInterval{24 * 7};

// 5.2-5.3, 11.5.2, 6.4.2, 10.x, 1.x in that order.
std::vector<PciRequirement> EvaluatePci(const PciInputs& in);

// A policy duration ("24h", "90s", "500ms", "7d", "2w", a number of seconds) as seconds;
// nullopt when it is none of those.
std::optional<std::chrono::seconds> ParsePolicyDuration(const nlohmann::json& v);

// Whether the policy document turns `module` on: the section is present and not
// `enabled: false`.
bool ModuleEnabled(const nlohmann::json& document, std::string_view module);

}  // namespace ward::manager::reports
