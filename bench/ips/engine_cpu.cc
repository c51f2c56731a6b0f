// In-process CPU per transaction of the two WAF engines behind the seam (waf.h), same requests,
// same rules (Debian's CRS at PL1, prevent mode), same run: a plain GET, a 10-parameter GET, a
// 1 KB URL-encoded POST, a 4 KB JSON POST, a 64 KB multipart upload, and the whole CRS 3.3
// regression suite's requests as a mix (every stage of testdata/oracles/crs-3.3-tests, each once
// per round; "CRS suite mix").
// Usage: ips_engine_cpu [iterations [libmodsecurity|ward|both|all [request-name-part
// [crs-tests-dir]]]] (µs of thread CPU per transaction; "both" or no engine: both, and their ratio;
// "all" adds Ward with its @rx prefilter switched off, "ward-noprefilter", interleaved in the same
// run; the mix runs max(1, iterations / 300) rounds of the whole suite)
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
  for (const auto& [label, engine_ptr] : candidates) {
    const bool wanted =
        which == label || which == "all" || (which == "both" && label != "ward-noprefilter");
    if (!wanted) continue;
    const auto& engine = *engine_ptr;
    double t0 = ThreadCpuUs();
    auto rules = engine.Load(config, nullptr);
    double load_ms = (ThreadCpuUs() - t0) / 1000.0;
    if (!rules.has_value()) {
      std::fprintf(stderr, "load: %s\n", rules.error().ToString().c_str());
      return 1;
    }
    std::printf("%-16s rule-set load %.0f ms CPU\n", label.c_str(), load_ms);
    engines.push_back({label, *rules, engine.NewThreadState()});
  }
  // Per request, the engines take turns in five rounds (n/5 transactions each), so that the
  // load of a shared machine falls on both alike; the ratio is libmodsecurity / Ward.
  for (const auto& [name, bytes] : requests) {
    if (argc > 3 && std::string_view(name).find(argv[3]) == std::string_view::npos) continue;
    auto c = seclang::equality::ParseRequest(bytes);
    if (!c) return 1;
    std::vector<double> cpu(engines.size(), 0.0);
    std::vector<size_t> matched(engines.size(), 0);
    for (auto& e : engines) {
      for (int i = 0; i < 20; ++i) seclang::equality::Run(*e.rules, *c);  // warm
    }
    const int per_round = std::max(1, n / 5);
    for (int round = 0; round < 5; ++round) {
      for (size_t k = 0; k < engines.size(); ++k) {
        double start = ThreadCpuUs();
        for (int i = 0; i < per_round; ++i) {
          matched[k] += seclang::equality::Run(*engines[k].rules, *c).ids.size();
        }
        cpu[k] += ThreadCpuUs() - start;
      }
    }
    const double total = 5.0 * per_round;
    for (size_t k = 0; k < engines.size(); ++k) {
      std::printf("%-16s %-17s %8.1f µs/transaction (%zu matches/tx)\n", engines[k].name.c_str(),
                  name, cpu[k] / total, matched[k] / static_cast<size_t>(total));
    }
    PrintRatios(engines, cpu, name);
  }
  // The CRS regression suite's requests as a mix: each round sends every stage once through
  // one engine, then through the other.
  const std::string crs_dir = argc > 4 ? argv[4] : WARD_CRS_TESTS;
  if (argc <= 3 || std::string_view("CRS suite mix").find(argv[3]) != std::string_view::npos) {
    const auto suite = seclang::equality::LoadCrsCases(crs_dir);
    if (suite.cases.empty()) {
      std::fprintf(stderr, "no CRS regression tests under %s\n", crs_dir.c_str());
      return 1;
    }
    std::vector<double> cpu(engines.size(), 0.0);
    std::vector<size_t> matched(engines.size(), 0);
    for (auto& e : engines) {
      for (size_t i = 0; i < 50 && i < suite.cases.size(); ++i) {
        seclang::equality::Run(*e.rules, suite.cases[i]);  // warm
      }
    }
    const int rounds = std::max(1, n / 300);
    for (int round = 0; round < rounds; ++round) {
      for (size_t k = 0; k < engines.size(); ++k) {
        double start = ThreadCpuUs();
        for (const auto& c : suite.cases) {
          matched[k] += seclang::equality::Run(*engines[k].rules, c).ids.size();
        }
        cpu[k] += ThreadCpuUs() - start;
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
  }
  return 0;
}
