// Log inspection throughput (bench/loginspect/README.md; not a test): loads an OSSEC or Wazuh
// ruleset, feeds a corpus file line by line through one Session — the engine API the module
// uses — and prints load time, processing CPU, lines/s per core, peak RSS and the alerts.
//
//   loginspect_bench --wazuh TREE --corpus FILE [--alerts OUT]
//   loginspect_bench --ossec-decoder FILE --ossec-rules DIR --ossec-conf OSSEC.CONF ...
//
// With --ossec-conf the rule files are loaded in the order of its <include> elements, as
// ossec-analysisd does. --alerts writes one "rule_id<TAB>line" per alert, in input order.
// The session clock is the wall clock (as ossec-logtest's), or --fixed-clock SECONDS for runs
// whose alerts must not depend on speed (no timeframe expires).
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "agent/modules/loginspect/ruleset.h"

namespace {

using ward::agent::loginspect::Compat;
using ward::agent::loginspect::ParseCompat;
using ward::agent::loginspect::Ruleset;
using ward::agent::loginspect::RulesetConfig;
using ward::agent::loginspect::Session;

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

long PeakRssKb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

// The <include> names of an ossec.conf's <rules> section, in order.
std::vector<std::string> Includes(const std::string& conf) {
  std::ifstream in(conf);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    size_t comment = text.find("<!--", pos);
    size_t open = text.find("<include>", pos);
    if (open == std::string::npos) break;
    if (comment != std::string::npos && comment < open) {
      size_t end = text.find("-->", comment);
      if (end == std::string::npos) break;
      pos = end + 3;
      continue;
    }
    size_t close = text.find("</include>", open);
    if (close == std::string::npos) break;
    out.push_back(text.substr(open + 9, close - open - 9));
    pos = close + 10;
  }
  return out;
}

int Usage() {
  std::fprintf(stderr,
               "usage: loginspect_bench (--wazuh TREE | --ossec-decoder FILE --ossec-rules DIR "
               "--ossec-conf CONF) --corpus FILE [--alerts OUT] [--top N] [--fixed-clock S] "
               "[--compat wazuh|ossec]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string wazuh, ossec_decoder, ossec_rules, ossec_conf, corpus, alerts_out;
  int top = 0;
  int64_t fixed_clock = 0;
  Compat compat = Compat::kWazuh;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return Usage();
    std::string v = argv[++i];
    if (a == "--wazuh") {
      wazuh = v;
    } else if (a == "--ossec-decoder") {
      ossec_decoder = v;
    } else if (a == "--ossec-rules") {
      ossec_rules = v;
    } else if (a == "--ossec-conf") {
      ossec_conf = v;
    } else if (a == "--corpus") {
      corpus = v;
    } else if (a == "--alerts") {
      alerts_out = v;
    } else if (a == "--fixed-clock") {
      fixed_clock = std::atoll(v.c_str());
    } else if (a == "--compat") {
      if (!ParseCompat(v, &compat)) return Usage();
    } else if (a == "--top") {
      top = std::atoi(v.c_str());
    } else {
      return Usage();
    }
  }
  if (corpus.empty() || (wazuh.empty() == ossec_rules.empty())) return Usage();

  RulesetConfig c;
  if (!wazuh.empty()) {
    // Wazuh's default <ruleset>: every decoder and rule file, 0215-policy_rules.xml excluded.
    std::filesystem::path root(wazuh);
    c.decoder_dirs = {root / "decoders"};
    c.rule_dirs = {root / "rules"};
    c.rule_excludes = {"0215-policy_rules.xml"};
    c.lists_dir = root / "lists";
  } else {
    c.decoder_files = {ossec_decoder};
    for (const auto& f : Includes(ossec_conf))
      c.rule_files.push_back(std::filesystem::path(ossec_rules) / f);
  }

  double cpu0 = CpuSeconds();
  auto wall0 = std::chrono::steady_clock::now();
  auto rs = Ruleset::Load(c);
  double load_wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  double load_cpu = CpuSeconds() - cpu0;
  if (!rs) {
    std::fprintf(stderr, "load: %s\n", rs.error().ToString().c_str());
    return 1;
  }
  long rss_loaded = PeakRssKb();

  std::FILE* in = std::fopen(corpus.c_str(), "r");
  if (in == nullptr) {
    std::fprintf(stderr, "%s: %s\n", corpus.c_str(), std::strerror(errno));
    return 1;
  }
  std::FILE* alerts = alerts_out.empty() ? nullptr : std::fopen(alerts_out.c_str(), "w");
  Session session(*rs, compat);
  std::map<int, long> by_rule;
  long lines = 0, n_alerts = 0;
  char* buf = nullptr;
  size_t cap = 0;
  double cpu1 = CpuSeconds();
  auto wall1 = std::chrono::steady_clock::now();
  for (;;) {
    ssize_t n = getline(&buf, &cap, in);
    if (n < 0) break;
    std::string_view line(buf, static_cast<size_t>(n));
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    if (line.empty()) continue;
    ++lines;
    int64_t now = fixed_clock != 0 ? fixed_clock
                                   : std::chrono::duration_cast<std::chrono::seconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count();
    auto v = session.Process(line, "stdin", now);
    if (!v.alert) continue;
    ++n_alerts;
    ++by_rule[v.rule->id];
    if (alerts)
      std::fprintf(alerts, "%d\t%.*s\n", v.rule->id, static_cast<int>(line.size()), line.data());
  }
  double run_cpu = CpuSeconds() - cpu1;
  double run_wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall1).count();
  std::free(buf);
  std::fclose(in);
  if (alerts) std::fclose(alerts);

  std::printf("ruleset: %zu rules, %zu decoders, %zu warnings\n", (*rs)->rule_count(),
              (*rs)->decoders().size(), (*rs)->warnings().size());
  std::printf("load: %.3f s wall, %.3f s cpu, rss after load %.1f MB\n", load_wall, load_cpu,
              static_cast<double>(rss_loaded) / 1024.0);
  std::printf("lines: %ld, alerts: %ld\n", lines, n_alerts);
  std::printf("run: %.3f s wall, %.3f s cpu, %.0f lines/s per core\n", run_wall, run_cpu,
              run_cpu > 0 ? static_cast<double>(lines) / run_cpu : 0.0);
  std::printf("peak rss: %.1f MB\n", static_cast<double>(PeakRssKb()) / 1024.0);
  if (top > 0) {
    std::vector<std::pair<long, int>> sorted;
    for (const auto& [id, n] : by_rule) sorted.emplace_back(n, id);
    std::sort(sorted.rbegin(), sorted.rend());
    for (int i = 0; i < top && i < static_cast<int>(sorted.size()); ++i)
      std::printf("  rule %d: %ld\n", sorted[i].second, sorted[i].first);
  }
  return 0;
}
