// In-process CPU per transaction of the two WAF engines behind the seam (waf.h), same requests,
// same rules (Debian's CRS at PL1, prevent mode), same run: a plain GET, a 10-parameter GET, a
// 1 KB URL-encoded POST, a 4 KB JSON POST, a 64 KB multipart upload, and the whole CRS 3.3
// regression suite's requests as a mix (every stage of testdata/oracles/crs-3.3-tests, each once
// per round; "CRS suite mix").
// Usage: ips_engine_cpu [iterations [engines [request-name-part [crs-tests-dir]]]] (µs of thread
// CPU per transaction). engines: libmodsecurity | ward | ward-noprefilter (Ward with its @rx
// prefilter switched off) | both (the default: libmodsecurity and ward, and their ratio) | all
// (both and ward-noprefilter) | a comma-separated list of those names, in which a name may repeat
// (e.g. "ward,ward": an A/A run, whose difference is the tool's noise). The engines are
// interleaved: per request class, rounds of n/rounds transactions each, the order of the engines
// changing from round to round — all orders of up to three engines, else the rotations — so that
// every engine is measured first, second, ... and right after each other engine equally often
// (in a fixed order the engine measured right after libmodsecurity, whose working set evicts
// Ward's from the caches, is always the same one); "by position" lines give each engine's CPU
// per position. The mix runs every stage of the suite once per round, at least
// iterations / 300 rounds and a multiple of the number of orders (6 with three engines).
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/modules/ips/seclang/equality.h"
#include "agent/modules/ips/seclang/ward_waf.h"
#include "agent/modules/ips/waf.h"

namespace {

double ThreadCpuUs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

// libmodsecurity's CPU over each Ward variant's, when libmodsecurity ran (it is loaded first).
template <typename Engines>
void PrintRatios(const Engines& engines, const std::vector<double>& cpu, const char* name) {
  if (engines.empty() || engines[0].name != "libmodsecurity") return;
  for (size_t k = 1; k < engines.size(); ++k) {
    const std::string label = engines.size() == 2 ? "ratio" : "ratio " + engines[k].name;
    std::printf("%-16s %-17s %8.1fx less CPU\n", label.c_str(), name, cpu[0] / cpu[k]);
  }
}

// With more than one engine: each engine's CPU per transaction by its position in the rounds
// (1st, 2nd, ...): what the order costs (e.g. the caches left by the engine before it).
template <typename Engines>
void PrintPositions(const Engines& engines, const std::vector<std::vector<double>>& by_pos,
                    double per_pos, const char* name) {
  if (engines.size() < 2) return;
  for (size_t k = 0; k < engines.size(); ++k) {
    std::printf("%-16s %-17s by position:", engines[k].name.c_str(), name);
    for (size_t pos = 0; pos < engines.size(); ++pos) {
      std::printf(" %zu: %.1f", pos + 1, by_pos[k][pos] / per_pos);
    }
    std::printf(" µs\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ward;
  const int n = argc > 1 ? std::atoi(argv[1]) : 300;
  agent::ips::IpsConfig config;
  config.mode = agent::ips::Mode::kPrevent;
  const std::string head =
      "Host: localhost\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0\r\n"
      "Accept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\n\r\n";
  std::string ten = "GET /search?";
  for (int i = 0; i < 10; ++i)
    ten += (i ? "&" : "") + std::string("p") + std::to_string(i) + "=value" + std::to_string(i);
  ten += " HTTP/1.1\r\n" + head;
  // A 1 KB URL-encoded form (20 fields) and a 4 KB JSON document (an array of 40 records).
  std::string form;
  for (int i = 0; form.size() < 1000; ++i) {
    form += (i ? "&" : "") + std::string("field") + std::to_string(i) +
            "=Some+ordinary+text+value+number+" + std::to_string(i);
  }
  std::string json = "{\"items\":[";
  for (int i = 0; json.size() < 4000; ++i) {
    json += (i ? "," : "") + std::string("{\"id\":") + std::to_string(i) +
            ",\"name\":\"item number " + std::to_string(i) + "\",\"tags\":[\"a\",\"b\"]}";
  }
  json += "]}";
  // A 64 KB multipart/form-data upload: two text fields and a 64 KB file of printable text
  // (deterministic, so that both engines and every run see the same bytes).
  const std::string boundary = "----WardBenchBoundary7MA4YWxkTrZu0gW";
  std::string file;
  uint32_t seed = 15;
  static constexpr char kAlphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:-_\n";
  while (file.size() < 64 * 1024) {
    seed = seed * 1103515245u + 12345u;
    file += kAlphabet[(seed >> 16) % (sizeof(kAlphabet) - 1)];
  }
  std::string multipart;
  auto part = [&](const std::string& disposition, const std::string& extra,
                  const std::string& content) {
    multipart += "--" + boundary + "\r\nContent-Disposition: form-data; " + disposition + "\r\n" +
                 extra + "\r\n" + content + "\r\n";
  };
  part("name=\"title\"", "", "Quarterly report");
  part("name=\"description\"", "", "The figures of the third quarter, as agreed");
  part("name=\"upload\"; filename=\"report.txt\"", "Content-Type: text/plain\r\n", file);
  multipart += "--" + boundary + "--\r\n";
  auto post = [&](const char* type, const std::string& body) {
    return "POST /submit HTTP/1.1\r\nContent-Type: " + std::string(type) +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + head + body;
  };
  const std::pair<const char*, std::string> requests[] = {
      {"plain GET", "GET /index.html HTTP/1.1\r\n" + head},
      {"10-parameter GET", ten},
      {"1 KB form POST", post("application/x-www-form-urlencoded", form)},
      {"4 KB JSON POST", post("application/json", json)},
      {"64 KB multipart", post(("multipart/form-data; boundary=" + boundary).c_str(), multipart)},
  };
  struct Loaded {
    std::string name;
    std::string base;  // the candidate's name (name without "#2", ...)
    std::shared_ptr<const agent::ips::WafRules> rules;
    std::unique_ptr<agent::ips::WafThreadState> state;
  };
  std::vector<Loaded> engines;
  seclang::EvalOptions no_prefilter;
  no_prefilter.regex_prefilter = false;
  const agent::ips::WardWafEngine ward_no_prefilter(no_prefilter);
  const std::string_view which = argc > 2 ? argv[2] : "both";
  struct Candidate {
    std::string name;
    const agent::ips::WafEngine* engine;
  };
  const Candidate candidates[] = {
      {"libmodsecurity", &agent::ips::WafEngineFor(agent::ips::WafEngineKind::kLibModSecurity)},
      {"ward", &agent::ips::WafEngineFor(agent::ips::WafEngineKind::kWard)},
      {"ward-noprefilter", &ward_no_prefilter}};
  std::vector<std::string_view> wanted;
  if (which == "both") {
    wanted = {"libmodsecurity", "ward"};
  } else if (which == "all") {
    wanted = {"libmodsecurity", "ward", "ward-noprefilter"};
  } else {
    for (size_t pos = 0; pos <= which.size();) {
      const size_t comma = std::min(which.find(',', pos), which.size());
      wanted.push_back(which.substr(pos, comma - pos));
      pos = comma + 1;
    }
  }
  for (const std::string_view name : wanted) {
    const Candidate* found = nullptr;
    for (const auto& c : candidates) {
      if (c.name == name) found = &c;
    }
    if (found == nullptr) {
      std::fprintf(stderr, "unknown engine '%.*s'\n", static_cast<int>(name.size()), name.data());
      return 2;
    }
    // A repeated name gets "#2", "#3", ... (its own rule set and thread state).
    size_t same = 1;
    for (const auto& e : engines) same += e.base == found->name ? 1 : 0;
    const std::string label = same == 1 ? found->name : found->name + "#" + std::to_string(same);
    const auto& engine = *found->engine;
    double t0 = ThreadCpuUs();
    auto rules = engine.Load(config, nullptr);
    double load_ms = (ThreadCpuUs() - t0) / 1000.0;
    if (!rules.has_value()) {
      std::fprintf(stderr, "load: %s\n", rules.error().ToString().c_str());
      return 1;
    }
    std::printf("%-16s rule-set load %.0f ms CPU\n", label.c_str(), load_ms);
    engines.push_back({label, found->name, *rules, engine.NewThreadState()});
  }
  const size_t k_engines = std::max<size_t>(1, engines.size());
  // The orders the rounds take: every permutation of up to three engines (each engine is then
  // measured in each position, and right after each other engine, equally often), else the
  // rotations (each position equally often). Rounds: a multiple of their number, at least
  // `min_rounds`; round r takes orders[r % orders.size()].
  std::vector<std::vector<size_t>> orders;
  {
    std::vector<size_t> order(k_engines);
    for (size_t k = 0; k < k_engines; ++k) order[k] = k;
    if (k_engines <= 3) {
      do orders.push_back(order);
      while (std::next_permutation(order.begin(), order.end()));
    } else {
      for (size_t r = 0; r < k_engines; ++r) {
        orders.push_back(order);
        std::rotate(order.begin(), order.begin() + 1, order.end());
      }
    }
  }
  auto round_count = [&](int min_rounds) {
    const size_t m = orders.size();
    const size_t r = std::max<size_t>(static_cast<size_t>(std::max(1, min_rounds)), m);
    return (r + m - 1) / m * m;
  };
  auto engine_at = [&](size_t round, size_t pos) { return orders[round % orders.size()][pos]; };
  // Per request, the engines take turns in rotating order (see the usage above), so that the load
  // of a shared machine and the caches left by the previous engine fall on all alike; the ratio
  // is libmodsecurity / Ward.
  for (const auto& [name, bytes] : requests) {
    if (argc > 3 && std::string_view(name).find(argv[3]) == std::string_view::npos) continue;
    auto c = seclang::equality::ParseRequest(bytes);
    if (!c) return 1;
    std::vector<double> cpu(engines.size(), 0.0);
    std::vector<size_t> matched(engines.size(), 0);
    std::vector<std::vector<double>> by_pos(engines.size(), std::vector<double>(engines.size()));
    for (auto& e : engines) {
      for (int i = 0; i < 20; ++i) seclang::equality::Run(*e.rules, *c);  // warm
    }
    const size_t rounds = round_count(5);
    const int per_round = std::max(1, n / static_cast<int>(rounds));
    for (size_t round = 0; round < rounds; ++round) {
      for (size_t pos = 0; pos < engines.size(); ++pos) {
        const size_t k = engine_at(round, pos);
        double start = ThreadCpuUs();
        for (int i = 0; i < per_round; ++i) {
          matched[k] += seclang::equality::Run(*engines[k].rules, *c).ids.size();
        }
        const double used = ThreadCpuUs() - start;
        cpu[k] += used;
        by_pos[k][pos] += used;
      }
    }
    const double total = static_cast<double>(rounds) * per_round;
    for (size_t k = 0; k < engines.size(); ++k) {
      std::printf("%-16s %-17s %8.1f µs/transaction (%zu matches/tx)\n", engines[k].name.c_str(),
                  name, cpu[k] / total, matched[k] / static_cast<size_t>(total));
    }
    PrintRatios(engines, cpu, name);
    PrintPositions(engines, by_pos, total / static_cast<double>(k_engines), name);
  }
  // The CRS regression suite's requests as a mix: each round sends every stage once through
  // each engine, in the round's order.
  const std::string crs_dir = argc > 4 ? argv[4] : WARD_CRS_TESTS;
  if (argc <= 3 || std::string_view("CRS suite mix").find(argv[3]) != std::string_view::npos) {
    const auto suite = seclang::equality::LoadCrsCases(crs_dir);
    if (suite.cases.empty()) {
      std::fprintf(stderr, "no CRS regression tests under %s\n", crs_dir.c_str());
      return 1;
    }
    std::vector<double> cpu(engines.size(), 0.0);
    std::vector<size_t> matched(engines.size(), 0);
    std::vector<std::vector<double>> by_pos(engines.size(), std::vector<double>(engines.size()));
    for (auto& e : engines) {
      for (size_t i = 0; i < 50 && i < suite.cases.size(); ++i) {
        seclang::equality::Run(*e.rules, suite.cases[i]);  // warm
      }
    }
    const size_t rounds = round_count(n / 300);
    for (size_t round = 0; round < rounds; ++round) {
      for (size_t pos = 0; pos < engines.size(); ++pos) {
        const size_t k = engine_at(round, pos);
        double start = ThreadCpuUs();
        for (const auto& c : suite.cases) {
          matched[k] += seclang::equality::Run(*engines[k].rules, c).ids.size();
        }
        const double used = ThreadCpuUs() - start;
        cpu[k] += used;
        by_pos[k][pos] += used;
      }
    }
    const double total = static_cast<double>(rounds) * static_cast<double>(suite.cases.size());
    const char* name = "CRS suite mix";
    for (size_t k = 0; k < engines.size(); ++k) {
      std::printf("%-16s %-17s %8.1f µs/transaction (%zu transactions, %.2f matches/tx)\n",
                  engines[k].name.c_str(), name, cpu[k] / total, suite.cases.size(),
                  static_cast<double>(matched[k]) / total);
    }
    PrintRatios(engines, cpu, name);
    PrintPositions(engines, by_pos, total / static_cast<double>(k_engines), name);
  }
  return 0;
}
