#include "agent/modules/ips/tuning_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <set>

#include "common/json_path.h"

namespace ward::agent::ips {
namespace {

std::string Str(const nlohmann::json& j) { return j.is_string() ? j.get<std::string>() : ""; }

// "2026-11-25T23:49:26.123Z" -> Unix ms (0 when unreadable).
int64_t ParseTimestampMs(const std::string& s) {
  std::tm tm{};
  int ms = 0;
  if (s.size() < 19) return 0;
  if (sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
             &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
    return 0;
  }
  if (s.size() > 20 && s[19] == '.') ms = std::atoi(s.substr(20, 3).c_str());
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + ms;
}

// A variable an exclusion can name: ARGS:x, ARGS_NAMES:x, REQUEST_COOKIES:x, REQUEST_HEADERS:x...
bool Excludable(const std::string& v) {
  size_t colon = v.find(':');
  if (colon == std::string::npos || colon + 1 >= v.size()) return false;
  return v.find_first_of("\"', \\") == std::string::npos;
}

template <typename M>
std::vector<std::pair<typename M::key_type, uint64_t>> Top(const M& m, size_t n) {
  std::vector<std::pair<typename M::key_type, uint64_t>> v(m.begin(), m.end());
  std::stable_sort(v.begin(), v.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (v.size() > n) v.resize(n);
  return v;
}

}  // namespace

TuningReport BuildTuningReport(std::istream& in, int64_t since_ms) {
  TuningReport r;
  std::map<std::string, RuleTuning> rules;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    nlohmann::json e = nlohmann::json::parse(line, nullptr, false);
    if (e.is_discarded() || !e.is_object()) {
      ++r.skipped_lines;
      continue;
    }
    if (Str(JsonAt(e, {"event", "module"})) != "ips") continue;
    std::string action = Str(JsonAt(e, {"event", "action"}));
    if (action != "detected" && action != "blocked") continue;
    if (since_ms > 0 && ParseTimestampMs(Str(JsonAt(e, {"@timestamp"}))) < since_ms) continue;
    ++r.events;
    const auto& matches = JsonAt(e, {"ips", "matches"});
    if (!matches.is_array()) continue;
    std::string path = Str(JsonAt(e, {"url", "path"}));
    std::string source = Str(JsonAt(e, {"source", "ip"}));
    int score = JsonAt(e, {"ips", "anomaly_score"}).is_number_integer()
                    ? JsonAt(e, {"ips", "anomaly_score"}).get<int>()
                    : 0;
    std::set<std::string> scoring;
    for (const auto& m : matches) {
      if (m.value("score", 0) > 0) scoring.insert(m.value("id", ""));
    }
    std::set<std::string> counted;
    for (const auto& m : matches) {
      std::string id = m.value("id", "");
      if (id.empty() || m.value("score", 0) <= 0) continue;  // evaluation and setup rules
      RuleTuning& t = rules[id];
      t.id = id;
      if (t.message.empty()) t.message = m.value("message", "");
      std::string var = m.value("variable", "");
      if (!var.empty()) ++t.variables[var];
      if (!counted.insert(id).second) continue;
      ++t.hits;
      ++t.paths[path];
      ++t.sources[source];
      t.score_sum += static_cast<uint64_t>(std::max(score, 0));
      if (scoring.size() == 1) {
        ++t.lone_hits;
        if (Excludable(var)) ++t.lone_targets[{path, var}];
      }
    }
  }
  for (auto& [id, t] : rules) {
    std::set<std::string> lone_sources;
    if (t.lone_hits == 0) {
      t.ready = true;
      t.reason = fmt::format("every hit came with other attack rules (average anomaly score {})",
                             t.hits ? t.score_sum / t.hits : 0);
    } else if (t.lone_hits * 5 < t.hits && t.sources.size() <= 2) {
      t.ready = true;
      t.reason = fmt::format("{} of {} hits were alone on their request, from at most 2 clients",
                             t.lone_hits, t.hits);
    } else {
      t.ready = false;
      t.reason = fmt::format(
          "{} of {} hits were the only rule on their request, from {} client(s) on {} path(s): "
          "this looks like legitimate traffic; add the proposed exclusions or keep the rule in "
          "detect",
          t.lone_hits, t.hits, t.sources.size(), t.paths.size());
    }
    r.rules.push_back(std::move(t));
  }
  std::stable_sort(r.rules.begin(), r.rules.end(),
                   [](const RuleTuning& a, const RuleTuning& b) { return a.hits > b.hits; });
  return r;
}

nlohmann::json TuningReportJson(const TuningReport& r) {
  nlohmann::json out = {{"events", r.events}, {"rules", nlohmann::json::array()}};
  for (const auto& t : r.rules) {
    nlohmann::json j = {{"id", t.id},
                        {"message", t.message},
                        {"hits", t.hits},
                        {"lone_hits", t.hits ? t.lone_hits : 0},
                        {"clients", t.sources.size()},
                        {"verdict", t.ready ? "ready" : "not_yet"},
                        {"reason", t.reason}};
    nlohmann::json paths = nlohmann::json::object();
    for (const auto& [p, n] : Top(t.paths, 10)) paths[p] = n;
    j["paths"] = paths;
    nlohmann::json vars = nlohmann::json::object();
    for (const auto& [v, n] : Top(t.variables, 10)) vars[v] = n;
    j["parameters"] = vars;
    nlohmann::json ex = nlohmann::json::array();
    for (const auto& [pv, n] : Top(t.lone_targets, 10)) {
      ex.push_back(
          {{"id", std::stoll(t.id)}, {"target", pv.second}, {"path", pv.first}, {"hits", n}});
    }
    j["proposed_exclusions"] = ex;
    out["rules"].push_back(std::move(j));
  }
  return out;
}

std::string FormatTuningReport(const TuningReport& r) {
  std::string out =
      fmt::format("{} ips event(s) read, {} rule(s) fired\n", r.events, r.rules.size());
  for (const auto& t : r.rules) {
    out += fmt::format("\nrule {}  {}\n  hits {} ({} alone on their request), {} client(s)\n", t.id,
                       t.message, t.hits, t.lone_hits, t.sources.size());
    out += "  paths     ";
    for (const auto& [p, n] : Top(t.paths, 5)) out += fmt::format(" {} ({})", p, n);
    out += "\n  parameters";
    for (const auto& [v, n] : Top(t.variables, 5)) out += fmt::format(" {} ({})", v, n);
    out += "\n";
    auto ex = Top(t.lone_targets, 5);
    if (!ex.empty()) {
      out += "  proposed exclusions:\n";
      for (const auto& [pv, n] : ex) {
        out += fmt::format("    - {{ id: {}, target: \"{}\", path: {} }}   # {} hit(s)\n", t.id,
                           pv.second, pv.first, n);
      }
    }
    out += fmt::format("  verdict: {} — {}\n", t.ready ? "ready to prevent" : "not yet", t.reason);
  }
  return out;
}

}  // namespace ward::agent::ips
