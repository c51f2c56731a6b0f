// In-process CPU per transaction of the two WAF engines behind the seam (waf.h), same requests,
// same rules (Debian's CRS at PL1, prevent mode), same run: a plain GET, a 10-parameter GET, a
// 1 KB URL-encoded POST and a 4 KB JSON POST.
// Usage: ips_engine_cpu [iterations [libmodsecurity|ward|both [request-name-part]]]
// (µs of thread CPU per transaction; "both" or no engine: both, and their ratio)
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/modules/ips/seclang/equality.h"
#include "agent/modules/ips/waf.h"

namespace {

double ThreadCpuUs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
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
  auto post = [&](const char* type, const std::string& body) {
    return "POST /submit HTTP/1.1\r\nContent-Type: " + std::string(type) +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + head + body;
  };
  const std::pair<const char*, std::string> requests[] = {
      {"plain GET", "GET /index.html HTTP/1.1\r\n" + head},
      {"10-parameter GET", ten},
      {"1 KB form POST", post("application/x-www-form-urlencoded", form)},
      {"4 KB JSON POST", post("application/json", json)},
  };
  struct Loaded {
    agent::ips::WafEngineKind kind;
    std::shared_ptr<const agent::ips::WafRules> rules;
    std::unique_ptr<agent::ips::WafThreadState> state;
  };
  std::vector<Loaded> engines;
  for (auto kind : {agent::ips::WafEngineKind::kLibModSecurity, agent::ips::WafEngineKind::kWard}) {
    if (argc > 2 && std::string_view(argv[2]) != "both" &&
        agent::ips::WafEngineName(kind) != argv[2]) {
      continue;
    }
    const auto& engine = agent::ips::WafEngineFor(kind);
    double t0 = ThreadCpuUs();
    auto rules = engine.Load(config, nullptr);
    double load_ms = (ThreadCpuUs() - t0) / 1000.0;
    if (!rules.has_value()) {
      std::fprintf(stderr, "load: %s\n", rules.error().ToString().c_str());
      return 1;
    }
    std::printf("%-15s rule-set load %.0f ms CPU\n",
                std::string(agent::ips::WafEngineName(kind)).c_str(), load_ms);
    engines.push_back({kind, *rules, engine.NewThreadState()});
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
      std::printf("%-15s %-17s %8.1f µs/transaction (%zu matches/tx)\n",
                  std::string(agent::ips::WafEngineName(engines[k].kind)).c_str(), name,
                  cpu[k] / total, matched[k] / static_cast<size_t>(total));
    }
    if (engines.size() == 2) {
      std::printf("%-15s %-17s %8.1fx less CPU\n", "ratio", name, cpu[0] / cpu[1]);
    }
  }
  return 0;
}
