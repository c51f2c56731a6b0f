// The tuning assistant: from detect-mode ips events, per rule how often it fired, on which paths
// and parameters, proposed `exclusions` entries, and a verdict (ready to prevent, or not yet and
// why). Reads events as JSON lines (the agent's <state-dir>/events.jsonl).
#pragma once

#include <chrono>
#include <cstdint>
#include <istream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ward::agent::ips {

struct RuleTuning {
  std::string id;
  std::string message;
  uint64_t hits = 0;
  uint64_t lone_hits = 0;  // the only scoring rule on its request (typical false positive)
  std::map<std::string, uint64_t> paths;
  std::map<std::string, uint64_t> variables;
  std::map<std::string, uint64_t> sources;
  std::map<std::pair<std::string, std::string>, uint64_t> lone_targets;  // (path, variable)
  uint64_t score_sum = 0;  // anomaly scores of the requests it fired on
  bool ready = false;
  std::string reason;
};

struct TuningReport {
  uint64_t events = 0;
  uint64_t skipped_lines = 0;
  std::vector<RuleTuning> rules;  // most hits first
};

// Events older than `since_ms` (Unix ms) are ignored (0: none).
TuningReport BuildTuningReport(std::istream& events, int64_t since_ms);
std::string FormatTuningReport(const TuningReport& r);
nlohmann::json TuningReportJson(const TuningReport& r);

}  // namespace ward::agent::ips
