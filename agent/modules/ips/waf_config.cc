#include "agent/modules/ips/waf_config.h"

#include <fmt/format.h>
#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "agent/modules/ips/waf.h"

namespace ward::agent::ips {
namespace {

constexpr const char* kCrsSetup = "/etc/modsecurity/crs/crs-setup.conf";
constexpr const char* kCrsBefore =
    "/etc/modsecurity/crs/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf";
constexpr const char* kCrsAfter =
    "/etc/modsecurity/crs/RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf";
constexpr const char* kCrsRulesDir = "/usr/share/modsecurity-crs/rules";
constexpr const char* kUnicodeMap = "/etc/nginx/unicode.mapping";
constexpr int64_t kWardIdBase = kWardRuleIdBase;

// Debian's back-ported 922110 matches the content types captured from MULTIPART_PART_HEADERS,
// which libmodsecurity 3.0.9 keeps with their trailing CRLF: every legitimate part with a
// `charset=utf-8` header is flagged. Adding t:trim removes exactly that CRLF.
std::string Patch922110(std::string text) {
  size_t at = text.find("id:922110,");
  if (at == std::string::npos) return text;
  const std::string from = "t:none,t:lowercase,";
  size_t t = text.find(from, at);
  if (t == std::string::npos || t - at > 400) return text;
  text.replace(t, from.size(), "t:none,t:lowercase,t:trim,");
  return text;
}

Result<std::vector<std::string>> ExpandPatterns(const std::vector<std::string>& patterns,
                                                std::string_view key) {
  std::vector<std::string> out;
  for (const auto& p : patterns) {
    glob_t g{};
    int rc = ::glob(p.c_str(), GLOB_ERR, nullptr, &g);
    if (rc == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
    }
    globfree(&g);
    if (rc == GLOB_NOMATCH && p.find_first_of("*?[") == std::string::npos) {
      return NotFound(fmt::format("ips.{}: {}: no such file", key, p));
    }
    if (rc != 0 && rc != GLOB_NOMATCH) {
      return InvalidArgument(fmt::format("ips.{}: {}: cannot be read", key, p));
    }
  }
  return out;
}

}  // namespace

Result<std::string> ReadRuleFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(fmt::format("{}: cannot read", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (path.find("REQUEST-922-") != std::string::npos) text = Patch922110(std::move(text));
  return text;
}

Result<WafConfigText> GenerateWafConfig(const IpsConfig& c) {
  WafConfigText out;
  const bool prevent = c.mode == Mode::kPrevent;
  std::string& b = out.before;
  b += fmt::format("SecRuleEngine {}\n", prevent ? "On" : "DetectionOnly");
  b += "SecRequestBodyAccess On\n";
  b += fmt::format(
      "SecRule REQUEST_HEADERS:Content-Type \"@rx ^(?:application(?:/soap\\+|/)|text/)xml\" "
      "\"id:{},phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML\"\n",
      kWardIdBase + 1);
  b += fmt::format(
      "SecRule REQUEST_HEADERS:Content-Type \"@rx ^application/json\" "
      "\"id:{},phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON\"\n",
      kWardIdBase + 2);
  b += fmt::format("SecRequestBodyLimit {}\n", std::max<uint64_t>(c.limits.request_body, 1));
  b += fmt::format("SecRequestBodyNoFilesLimit {}\n", std::max<uint64_t>(c.limits.request_body, 1));
  b += "SecRequestBodyLimitAction ProcessPartial\n";
  b += "SecRequestBodyJsonDepthLimit 512\n";
  b += "SecArgumentsLimit 1000\n";
  b += "SecPcreMatchLimit 1000\n";
  b += "SecPcreMatchLimitRecursion 1000\n";
  b += "SecResponseBodyAccess On\n";
  b += "SecResponseBodyMimeType text/plain text/html text/xml application/json\n";
  b += fmt::format("SecResponseBodyLimit {}\n", std::max<uint64_t>(c.limits.response_body, 1));
  b += "SecResponseBodyLimitAction ProcessPartial\n";
  b += "SecArgumentSeparator &\n";
  b += "SecCookieFormat 0\n";
  b += "SecAuditEngine Off\n";
  b += "SecStatusEngine Off\n";
  if (std::filesystem::exists(kUnicodeMap)) {
    b += fmt::format("SecUnicodeMapFile {} 20127\n", kUnicodeMap);
  }
  if (c.crs.enabled) {
    b += fmt::format(
        "SecAction \"id:{},phase:1,nolog,pass,t:none,setvar:tx.paranoia_level={},"
        "setvar:tx.inbound_anomaly_score_threshold={},"
        "setvar:tx.outbound_anomaly_score_threshold={}\"\n",
        kWardIdBase + 3, c.crs.paranoia_level, c.crs.inbound_anomaly_threshold,
        c.crs.outbound_anomaly_threshold);
  }
  WARD_ASSIGN_OR_RETURN(auto setup, ExpandPatterns(c.crs.setup_files, "crs.setup_files"));
  for (auto& f : setup) out.files.push_back(std::move(f));
  if (c.crs.enabled) {
    // Debian's CRS, another directory, or the manager's "crs" update bundle (ResolveManaged).
    const std::filesystem::path dir = c.crs.rules_dir.empty() ? kCrsRulesDir : c.crs.rules_dir;
    std::error_code ec;
    const std::filesystem::path own_setup = dir / "crs-setup.conf";
    const bool has_setup = std::filesystem::is_regular_file(own_setup, ec);
    out.files.push_back(has_setup ? own_setup.string() : kCrsSetup);
    out.files.push_back(kCrsBefore);
    std::vector<std::string> rules;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      if (e.path().extension() == ".conf" && e.path().filename() != "crs-setup.conf") {
        rules.push_back(e.path().string());
      }
    }
    if (ec) return NotFound(fmt::format("ips.crs.rules: {}: {}", dir.string(), ec.message()));
    if (rules.empty()) {
      return NotFound(fmt::format("ips.crs.rules: {}: no .conf rule file", dir.string()));
    }
    std::sort(rules.begin(), rules.end());
    for (auto& r : rules) out.files.push_back(std::move(r));
    out.files.push_back(kCrsAfter);
  }
  WARD_ASSIGN_OR_RETURN(auto custom, ExpandPatterns(c.custom_rules, "custom_rules"));
  for (auto& f : custom) out.files.push_back(std::move(f));

  std::string& a = out.after;
  std::set<int64_t> detect_only;
  for (const auto& r : c.rules) {
    if (!r.enabled) {
      a += fmt::format("SecRuleRemoveById {}\n", r.id);
    } else if (prevent && r.mode == Mode::kDetect) {
      detect_only.insert(r.id);
    }
  }
  if (!detect_only.empty()) {
    // Ward decides inbound blocking itself (see waf.h); detect-only rules never disrupt.
    a += "SecRuleRemoveById 949110\n";
    out.ward_scoring = true;
    for (int64_t id : detect_only) a += fmt::format("SecRuleUpdateActionById {} \"pass\"\n", id);
  }
  int64_t next_id = kWardIdBase + 100;
  for (const auto& e : c.exclusions) {
    if (!e.path_prefix.empty()) continue;  // per request, before phase 1 (PrefixExclusions())
    if (e.path.empty()) {
      a += fmt::format("SecRuleUpdateTargetById {} \"!{}\"\n", e.id, e.target);
    } else {
      a += fmt::format(
          "SecRule REQUEST_FILENAME \"@streq {}\" "
          "\"id:{},phase:1,pass,nolog,t:none,ctl:ruleRemoveTargetById={};{}\"\n",
          e.path, next_id++, e.id, e.target);
    }
  }
  return out;
}

}  // namespace ward::agent::ips
