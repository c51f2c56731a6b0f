// WardWafEngine: Ward's own SecLang evaluator (seclang/evaluator.h) behind the WAF seam (waf.h);
// `ips.engine: ward`.
//
// Load() parses the text of GenerateWafConfig() (waf_config.h) — the same text libmodsecurity
// gets, file by file — with RuleParser, then compiles it. A transaction runs the evaluator with
// libmodsecurity 3.0.9's semantics and reports every logged match as a RuleMatch with a log line
// in libmodsecurity's format ("... [id \"942100\"] [msg \"...\"] ..."), the CRS anomaly scores
// from TX, and the intervention; blocking follows the same policy as ModSecurityEngine (waf.h).
// Persistent collections (IP, GLOBAL, ...) are kept per engine thread in its WafThreadState
// (NewThreadState), which also saves and restores them across agent restarts
// (waf_state_file.h). Thread-safety: as waf.h.
#pragma once

#include <memory>

#include "agent/modules/ips/seclang/evaluator.h"
#include "agent/modules/ips/waf.h"

namespace ward::agent::ips {

class WardWafEngine final : public WafEngine {
 public:
  explicit WardWafEngine(seclang::EvalOptions options = {}) : options_(options) {}
  // WafEngine
  WafEngineKind kind() const override { return WafEngineKind::kWard; }
  Result<std::shared_ptr<const WafRules>> Load(const IpsConfig& config,
                                               std::shared_ptr<WafLog> log) const override;
  std::unique_ptr<WafThreadState> NewThreadState() const override;

 private:
  seclang::EvalOptions options_;
};

}  // namespace ward::agent::ips
