// ModSecurityEngine: libmodsecurity 3 (with the OWASP CRS and the policy's overrides) behind the
// WAF seam (waf.h); `ips.engine: libmodsecurity`.
//
// Load() gives libmodsecurity the text of GenerateWafConfig() (waf_config.h), file by file, and
// counts the rules of every phase. Blocking (prevent mode): libmodsecurity runs with SecRuleEngine
// On and its intervention blocks (Intervention::rule_id from the intervention's log line). Rules in
// detect mode inside a prevent policy must not block: their disruptive action becomes `pass`, the
// CRS's inbound blocking rule 949110 is removed, and the transaction decides from its matched rules
// (waf.h, Intervention::rule_id 0). Matches come from libmodsecurity's log callback (one line per
// matched rule, ParseLogLine()) and from the intervention's log (the disruptive rule's own line);
// every line also goes to the policy's WafLog.
//
// Thread state: the libmodsecurity engine object (modsecurity::ModSecurity) holds the persistent
// collections (IP, GLOBAL, SESSION, USER, RESOURCE — what `initcol` opens): libmodsecurity 3.0.9
// locks their writes but not their reads, so threads sharing one would race when a rule reads a
// collection another thread's rule writes (CRS 912 DoS protection, 910 reputation blocking, with
// 913's scanner flags). NewThreadState() makes one per engine thread, as nginx has one per worker
// process; without one, transactions use their rule set's own object (one thread).
#pragma once

#include <memory>
#include <string_view>

#include "agent/modules/ips/waf.h"

namespace ward::agent::ips {

class ModSecurityEngine final : public WafEngine {
 public:
  // WafEngine
  WafEngineKind kind() const override { return WafEngineKind::kLibModSecurity; }
  Result<std::shared_ptr<const WafRules>> Load(const IpsConfig& config,
                                               std::shared_ptr<WafLog> log) const override;
  std::unique_ptr<WafThreadState> NewThreadState() const override;
};

// Parses one libmodsecurity log line ("... against variable `ARGS:id' ... [id \"942100\"]
// [msg \"...\"] ...").
RuleMatch ParseLogLine(std::string_view line);

}  // namespace ward::agent::ips
