// In-process CPU per transaction of the two WAF engines behind the seam (waf.h), same requests,
// same rules (Debian's CRS at PL1, prevent mode), same run: a plain GET and a 10-parameter GET.
// Usage: ips_engine_cpu [iterations [libmodsecurity|ward]]   (µs of thread CPU per transaction)
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <string>

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
  const std::pair<const char*, std::string> requests[] = {
      {"plain GET", "GET /index.html HTTP/1.1\r\n" + head},
      {"10-parameter GET", ten},
  };
  for (auto kind : {agent::ips::WafEngineKind::kLibModSecurity, agent::ips::WafEngineKind::kWard}) {
    if (argc > 2 && agent::ips::WafEngineName(kind) != argv[2]) continue;
    const auto& engine = agent::ips::WafEngineFor(kind);
    double t0 = ThreadCpuUs();
    auto rules = engine.Load(config, nullptr);
    double load_ms = (ThreadCpuUs() - t0) / 1000.0;
    if (!rules.has_value()) {
      std::fprintf(stderr, "load: %s\n", rules.error().ToString().c_str());
      return 1;
    }
    auto state = engine.NewThreadState();
    std::printf("%-15s rule-set load %.0f ms CPU\n",
                std::string(agent::ips::WafEngineName(kind)).c_str(), load_ms);
    for (const auto& [name, bytes] : requests) {
      auto c = seclang::equality::ParseRequest(bytes);
      for (int i = 0; i < 20; ++i) seclang::equality::Run(**rules, *c);  // warm
      double start = ThreadCpuUs();
      size_t matched = 0;
      for (int i = 0; i < n; ++i) matched += seclang::equality::Run(**rules, *c).ids.size();
      double per = (ThreadCpuUs() - start) / n;
      std::printf("%-15s %-17s %8.1f µs/transaction (%zu matches/tx)\n",
                  std::string(agent::ips::WafEngineName(kind)).c_str(), name, per,
                  matched / static_cast<size_t>(n));
    }
  }
  return 0;
}
