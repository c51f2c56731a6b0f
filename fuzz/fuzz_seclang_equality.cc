// Mutated HTTP requests through libmodsecurity 3.0.9 and Ward's SecLang evaluator, both behind the
// WAF seam with Debian's CRS (PL from WARD_FUZZ_PL, default 1; prevent mode, so interventions are
// compared too): the matched rule ids, anomaly scores and intervention must be equal. Aborts on a
// difference outside the documented list (docs/ips.md, "Ward SecLang engine"): requests whose
// Content-Type selects the XML, JSON or multipart body processor, which are not wired into the
// evaluator yet. Input: raw request bytes (request line, headers, body).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "agent/modules/ips/seclang/equality.h"
#include "agent/modules/ips/waf.h"

namespace {

using ward::agent::ips::WafRules;

struct Engines {
  std::shared_ptr<const WafRules> modsec;
  std::shared_ptr<const WafRules> ward;
};

Engines* Load() {
  ward::agent::ips::IpsConfig config;
  config.mode = ward::agent::ips::Mode::kPrevent;
  if (const char* pl = std::getenv("WARD_FUZZ_PL")) config.crs.paranoia_level = std::atoi(pl);
  auto e = new Engines;
  auto a = ward::agent::ips::WafEngineFor(ward::agent::ips::WafEngineKind::kLibModSecurity)
               .Load(config, nullptr);
  auto b =
      ward::agent::ips::WafEngineFor(ward::agent::ips::WafEngineKind::kWard).Load(config, nullptr);
  if (!a.has_value() || !b.has_value()) {
    std::fprintf(stderr, "cannot load the CRS: %s\n",
                 (!a.has_value() ? a.error() : b.error()).ToString().c_str());
    std::abort();
  }
  e->modsec = *a;
  e->ward = *b;
  return e;
}

bool BodyProcessorPending(const ward::seclang::equality::HttpCase& c) {
  for (const auto& [k, v] : c.head.headers) {
    std::string lk;
    for (char ch : k) lk.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
    if (lk != "content-type") continue;
    std::string lv;
    for (char ch : v) lv.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
    if (lv.find("xml") != std::string::npos || lv.find("json") != std::string::npos ||
        lv.find("multipart") != std::string::npos) {
      return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Engines* engines = Load();
  if (size > 64 * 1024) return 0;
  auto c = ward::seclang::equality::ParseRequest(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!c || BodyProcessorPending(*c)) return 0;
  auto a = ward::seclang::equality::Run(*engines->modsec, *c);
  auto b = ward::seclang::equality::Run(*engines->ward, *c);
  std::string diff = ward::seclang::equality::Compare(a, b);
  if (!diff.empty()) {
    std::fprintf(stderr, "difference: %s\n", diff.c_str());
    std::abort();
  }
  return 0;
}
