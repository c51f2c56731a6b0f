// WafConfig: the SecLang text Ward generates for a policy, which every WAF engine (waf.h) loads.
//
// In load order (GenerateWafConfig, documented in docs/ips.md): engine settings and the CRS
// variables (paranoia level, anomaly thresholds), the CRS setup and rule files one by one, custom
// rule files, then the per-rule overrides and exclusions. Rule files are read with ReadRuleFile(),
// which applies Ward's fixes to the CRS as Debian ships it (922110 with t:trim).
// Thread-safety: plain functions.
#pragma once

#include <string>
#include <vector>

#include "agent/modules/ips/config.h"
#include "common/status.h"

namespace ward::agent::ips {

struct WafConfigText {
  std::string before;              // engine settings + CRS variables
  std::vector<std::string> files;  // in load order
  std::string after;               // overrides and exclusions
  // Some rule is detect-only in a prevent policy: the CRS's inbound blocking rule 949110 is
  // removed and Ward decides inbound blocking from the matched rules (waf.h).
  bool ward_scoring = false;
};

// Errors: NotFound for a named file or the CRS folder that is missing, InvalidArgument for a
// pattern that cannot be read.
Result<WafConfigText> GenerateWafConfig(const IpsConfig& config);

// The text of one rule file as the engines load it (with Ward's CRS fixes). NotFound when it
// cannot be read.
Result<std::string> ReadRuleFile(const std::string& path);

}  // namespace ward::agent::ips
