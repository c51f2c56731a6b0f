// Mutated HTTP requests through libmodsecurity 3.0.9 and Ward's SecLang evaluator, both behind the
// WAF seam with Debian's CRS (PL from WARD_FUZZ_PL, default 1; prevent mode, so interventions are
// compared too): the matched rule ids, anomaly scores and intervention must be equal. Aborts on a
// difference outside the documented list (docs/ips.md, "Ward SecLang engine: the evaluator"):
// a path holding an encoded '?' (%3F: CVE-2024-1019, which Ward fixes), and SecUploadDir file
// storage (not used by the CRS). Input: raw request bytes (request line, headers, body).
// WARD_FUZZ_PREFILTER=everywhere: Ward's @rx prefilter on every value of the variables CRS's
// regexes read most, however short (by default only request bodies of 4 KB and more).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "agent/modules/ips/seclang/equality.h"
#include "agent/modules/ips/seclang/ward_waf.h"
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
  ward::seclang::EvalOptions options;
  if (const char* pf = std::getenv("WARD_FUZZ_PREFILTER");
      pf && std::string_view(pf) == "everywhere") {
    options.regex_prefilter_min_bytes = 0;
    options.regex_prefilter_variables = {
        "REQUEST_BODY",     "ARGS",         "ARGS_NAMES", "REQUEST_HEADERS", "REQUEST_COOKIES",
        "REQUEST_FILENAME", "REQUEST_LINE", "XML"};
  }
  static const ward::agent::ips::WardWafEngine ward_engine(options);
  auto b = ward_engine.Load(config, nullptr);
  if (!a.has_value() || !b.has_value()) {
    std::fprintf(stderr, "cannot load the CRS: %s\n",
                 (!a.has_value() ? a.error() : b.error()).ToString().c_str());
    std::abort();
  }
  e->modsec = *a;
  e->ward = *b;
  return e;
}

// CVE-2024-1019: an encoded '?' in the path (before the first raw '?', fragment removed).
bool EncodedQuestionMarkInPath(const ward::seclang::equality::HttpCase& c) {
  std::string_view uri = c.head.uri;
  uri = uri.substr(0, uri.find('#'));
  uri = uri.substr(0, uri.find('?'));
  for (size_t i = 0; i + 2 < uri.size(); ++i) {
    if (uri[i] == '%' && uri[i + 1] == '3' && (uri[i + 2] == 'f' || uri[i + 2] == 'F')) {
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
  if (!c || EncodedQuestionMarkInPath(*c)) return 0;
  auto a = ward::seclang::equality::Run(*engines->modsec, *c);
  auto b = ward::seclang::equality::Run(*engines->ward, *c);
  std::string diff = ward::seclang::equality::Compare(a, b);
  if (!diff.empty()) {
    std::fprintf(stderr, "difference: %s\n", diff.c_str());
    for (const auto& l : a.lines) std::fprintf(stderr, "libmodsecurity: %s\n", l.c_str());
    for (const auto& l : b.lines) std::fprintf(stderr, "ward: %s\n", l.c_str());
    std::abort();
  }
  return 0;
}
