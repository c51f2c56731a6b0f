#include "agent/modules/ips/waf.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <glob.h>
#include <modsecurity/intervention.h>
#include <modsecurity/modsecurity.h>
#include <modsecurity/rules_set.h>
#include <modsecurity/transaction.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "common/log.h"

namespace ward::agent::ips {
namespace {

constexpr const char* kCrsSetup = "/etc/modsecurity/crs/crs-setup.conf";
constexpr const char* kCrsBefore =
    "/etc/modsecurity/crs/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf";
constexpr const char* kCrsAfter =
    "/etc/modsecurity/crs/RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf";
constexpr const char* kCrsRulesDir = "/usr/share/modsecurity-crs/rules";
constexpr const char* kUnicodeMap = "/etc/nginx/unicode.mapping";
constexpr int64_t kWardIdBase = 1900000;

Result<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(fmt::format("{}: cannot read", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

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

std::string Token(std::string_view line, std::string_view name) {
  std::string open = fmt::format("[{} \"", name);
  size_t at = line.find(open);
  if (at == std::string_view::npos) return {};
  at += open.size();
  std::string out;
  for (size_t i = at; i < line.size(); ++i) {
    if (line[i] == '\\' && i + 1 < line.size()) {
      out.push_back(line[++i]);
      continue;
    }
    if (line[i] == '"' && i + 1 < line.size() && line[i + 1] == ']') break;
    out.push_back(line[i]);
  }
  return out;
}

bool ScoringRule(int64_t id) {
  if (id >= kWardIdBase && id < kWardIdBase + 1000) return false;
  int64_t family = id / 1000;
  return !(family == 949 || family == 959 || family == 980 || family == 999 || family == 901 ||
           family == 900);
}

}  // namespace

RuleMatch ParseLogLine(std::string_view line) {
  RuleMatch m;
  std::string id = Token(line, "id");
  if (!id.empty()) m.id = std::strtoll(id.c_str(), nullptr, 10);
  m.message = Token(line, "msg");
  m.data = Token(line, "data");
  std::string sev = Token(line, "severity");
  if (!sev.empty() && sev.size() == 1 && sev[0] >= '0' && sev[0] <= '7') m.severity = sev[0] - '0';
  m.line = std::string(line);
  return m;
}

int CrsScore(const RuleMatch& m) {
  if (!ScoringRule(m.id)) return 0;
  switch (m.severity) {
    case 0:
    case 1:
    case 2:
      return 5;
    case 3:
      return 4;
    case 4:
      return 3;
    case 5:
      return 2;
    default:
      return 0;
  }
}

// --- WafLog ---

Result<std::unique_ptr<WafLog>> WafLog::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoStatus(errno, fmt::format("ips.log_file: open {}", path));
  auto log = std::unique_ptr<WafLog>(new WafLog());
  log->fd_ = fd;
  return log;
}

WafLog::~WafLog() {
  if (fd_ >= 0) ::close(fd_);
}

void WafLog::Write(std::string_view line) {
  std::string out(line);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  out.push_back('\n');
  std::lock_guard lock(mu_);
  size_t off = 0;
  while (off < out.size()) {
    ssize_t n = ::write(fd_, out.data() + off, out.size() - off);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// --- configuration ---

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
    out.files.push_back(kCrsSetup);
    out.files.push_back(kCrsBefore);
    std::vector<std::string> rules;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(kCrsRulesDir, ec)) {
      if (e.path().extension() == ".conf") rules.push_back(e.path().string());
    }
    if (ec) return NotFound(fmt::format("{}: {}", kCrsRulesDir, ec.message()));
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
    for (int64_t id : detect_only) a += fmt::format("SecRuleUpdateActionById {} \"pass\"\n", id);
  }
  int64_t next_id = kWardIdBase + 100;
  for (const auto& e : c.exclusions) {
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

namespace {

thread_local WafThreadContext* tls_context = nullptr;
thread_local modsecurity::ModSecurity* tls_engine = nullptr;

std::unique_ptr<modsecurity::ModSecurity> NewEngine() {
  auto m = std::make_unique<modsecurity::ModSecurity>();
  m->setConnectorInformation("ward-agent ips");
  m->setServerLogCb(&WafTransaction::LogCallback, modsecurity::TextLogProperty);
  return m;
}

}  // namespace

Result<std::shared_ptr<const WafRules>> WafRules::Load(const IpsConfig& config,
                                                       std::shared_ptr<WafLog> log) {
  WARD_ASSIGN_OR_RETURN(WafConfigText text, GenerateWafConfig(config));
  auto w = std::shared_ptr<WafRules>(new WafRules());
  w->config_ = config;
  w->log_ = std::move(log);
  w->modsec_ = NewEngine();
  w->rules_ = std::make_unique<modsecurity::RulesSet>();
  auto add = [&](const std::string& rules_text, std::string_view what) -> Status {
    int n = w->rules_->load(rules_text.c_str(), std::string(what));
    if (n < 0) {
      std::string err = w->rules_->getParserError();
      while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.pop_back();
      return InvalidArgument(fmt::format("{}: libmodsecurity: {}", what, err));
    }
    return Status::Ok();
  };
  WARD_RETURN_IF_ERROR(add(text.before, "ips (generated settings)"));
  for (const auto& f : text.files) {
    WARD_ASSIGN_OR_RETURN(std::string body, ReadText(f));
    if (f.find("REQUEST-922-") != std::string::npos) body = Patch922110(std::move(body));
    WARD_RETURN_IF_ERROR(add(body, f));
  }
  if (!text.after.empty()) WARD_RETURN_IF_ERROR(add(text.after, "ips (generated overrides)"));
  w->ward_scoring_ = text.after.find("SecRuleRemoveById 949110") != std::string::npos;
  size_t count = 0;
  for (int p = 0; p < modsecurity::Phases::NUMBER_OF_PHASES; ++p) {
    count += w->rules_->m_rulesSetPhases[p]->size();
  }
  w->rule_count_ = count;
  return std::shared_ptr<const WafRules>(std::move(w));
}

WafRules::~WafRules() {
  rules_.reset();
  modsec_.reset();
}

WafThreadContext::WafThreadContext() : modsec_(NewEngine()), prev_(tls_context) {
  tls_context = this;
  tls_engine = modsec_.get();
}

WafThreadContext::~WafThreadContext() {
  tls_context = prev_;
  tls_engine = prev_ != nullptr ? prev_->modsec_.get() : nullptr;
}

std::unique_ptr<WafTransaction> WafRules::Begin(const Endpoints& ep) const {
  modsecurity::ModSecurity* engine = tls_engine != nullptr ? tls_engine : modsec_.get();
  return std::unique_ptr<WafTransaction>(new WafTransaction(shared_from_this(), ep, engine));
}

// --- WafTransaction ---

namespace {

// A unique transaction id (UNIQUE_ID): the agent's start time and pid, and a counter. Given to
// libmodsecurity so that it does not make its own, which costs a std::random_device and a
// freshly seeded std::mt19937 per transaction (about 1% of the CPU of a request).
std::string NextTransactionId() {
  static const std::string prefix =
      fmt::format("{:x}{:x}-", static_cast<uint64_t>(std::time(nullptr)), ::getpid());
  static std::atomic<uint64_t> counter{0};
  std::string id = prefix;
  fmt::format_to(std::back_inserter(id), "{:x}", counter.fetch_add(1, std::memory_order_relaxed));
  return id;
}

}  // namespace

WafTransaction::WafTransaction(std::shared_ptr<const WafRules> rules, const Endpoints& ep,
                               modsecurity::ModSecurity* engine)
    : rules_(std::move(rules)), ep_(ep) {
  std::string id = NextTransactionId();
  tx_ = std::make_unique<modsecurity::Transaction>(engine, rules_->rules_.get(), id.data(), this);
  tx_->processConnection(ep_.src_ip.c_str(), ep_.src_port, ep_.dst_ip.c_str(), ep_.dst_port);
}

WafTransaction::~WafTransaction() { tx_.reset(); }

void WafTransaction::LogCallback(void* self, const void* message) {
  if (self == nullptr || message == nullptr) return;
  auto* t = static_cast<WafTransaction*>(self);
  std::string_view line(static_cast<const char*>(message));
  if (t->rules_->log_ != nullptr) t->rules_->log_->Write(line);
  RuleMatch m = ParseLogLine(line);
  if (m.id != 0) t->matches_.push_back(std::move(m));
}

bool WafTransaction::CheckIntervention() {
  if (blocked_) return true;
  const bool prevent = rules_->config_.mode == Mode::kPrevent;
  modsecurity::ModSecurityIntervention it{};
  it.status = 200;
  bool disrupt = tx_->intervention(&it);
  if (it.log != nullptr) {
    // The disruptive rule's own message comes with the intervention, not the log callback.
    std::string_view line(it.log);
    if (rules_->log_ != nullptr) rules_->log_->Write(line);
    RuleMatch m = ParseLogLine(line);
    if (m.id != 0) matches_.push_back(std::move(m));
    std::free(it.log);
  }
  if (it.url != nullptr) std::free(it.url);
  if (prevent && disrupt) {
    blocked_ = true;
    block_status_ = it.status;
    return true;
  }
  if (prevent && rules_->ward_scoring_) {
    int score = 0;
    for (const auto& m : matches_) {
      if (rules_->config_.RuleMode(m.id) == Mode::kPrevent) score += CrsScore(m);
    }
    if (score >= rules_->config_.crs.inbound_anomaly_threshold) {
      blocked_ = true;
      block_status_ = 403;
      return true;
    }
  }
  return false;
}

bool WafTransaction::RequestHeaders(const RequestHead& head) {
  request_ = head;
  request_seen_ = true;
  tx_->processURI(head.uri.c_str(), head.method.c_str(), head.version.c_str());
  for (const auto& [k, v] : head.headers) tx_->addRequestHeader(k, v);
  tx_->processRequestHeaders();
  return CheckIntervention();
}

void WafTransaction::AppendRequestBody(std::string_view bytes) {
  if (blocked_ || body_bytes_ >= rules_->config_.limits.request_body) return;
  size_t take = std::min<uint64_t>(bytes.size(), rules_->config_.limits.request_body - body_bytes_);
  body_bytes_ += take;
  tx_->appendRequestBody(reinterpret_cast<const unsigned char*>(bytes.data()), take);
}

bool WafTransaction::RequestBody() {
  if (blocked_) return true;
  tx_->processRequestBody();
  return CheckIntervention();
}

void WafTransaction::Response(const ResponseHead& head, std::string_view body) {
  if (blocked_) return;
  for (const auto& [k, v] : head.headers) tx_->addResponseHeader(k, v);
  tx_->processResponseHeaders(head.status, "HTTP/" + head.version);
  size_t take = std::min<uint64_t>(body.size(), rules_->config_.limits.response_body);
  if (take > 0) tx_->appendResponseBody(reinterpret_cast<const unsigned char*>(body.data()), take);
  tx_->processResponseBody();
}

void WafTransaction::Finish() {
  if (finished_) return;
  finished_ = true;
  tx_->processLogging();
}

int WafTransaction::AnomalyScore() const {
  if (auto v = tx_->m_collections.m_tx_collection->resolveFirst("anomaly_score")) {
    char* end = nullptr;
    long n = std::strtol(v->c_str(), &end, 10);
    if (end != v->c_str()) return static_cast<int>(n);
  }
  int score = 0;
  for (const auto& m : matches_) score += CrsScore(m);
  return score;
}

}  // namespace ward::agent::ips
