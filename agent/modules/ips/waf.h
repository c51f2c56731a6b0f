// Waf: libmodsecurity 3 with the OWASP CRS and the policy's overrides, as a rule set loaded once
// per policy (WafRules) and a cheap per-exchange WafTransaction.
//
// The ModSecurity configuration is generated from the IpsConfig (GenerateWafConfig, documented
// in docs/ips.md): engine settings, the CRS setup (paranoia level, anomaly thresholds), the CRS
// files one by one (Debian's 922110 patched with t:trim), custom rule files, then the per-rule
// overrides and exclusions. Rule ids 1900000-1900999 are Ward's own.
//
// Blocking (prevent mode): libmodsecurity runs with SecRuleEngine On and its intervention blocks.
// Rules in detect mode inside a prevent policy must not block: their disruptive action becomes
// `pass`, the CRS's inbound blocking rule 949110 is removed, and Ward decides from the
// transaction's matched rules: the anomaly score of every matched scoring rule that is not in
// detect mode (CRS severities: critical 5, error 4, warning 3, notice 2) against the inbound
// threshold.
//
// Thread-safety: WafRules is immutable after Load() and shared (shared_ptr) by any number of
// threads; a WafTransaction belongs to one thread at a time and keeps its rules alive.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/modules/ips/config.h"
#include "common/status.h"

namespace modsecurity {
class ModSecurity;
class RulesSet;
class Transaction;
}  // namespace modsecurity

namespace ward::agent::ips {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct Endpoints {
  std::string src_ip;
  uint16_t src_port = 0;
  std::string dst_ip;
  uint16_t dst_port = 0;
};

struct RequestHead {
  std::string method;
  std::string uri;
  std::string version = "1.1";  // "1.0", "1.1"
  HeaderList headers;
};

struct ResponseHead {
  int status = 0;
  std::string version = "1.1";
  HeaderList headers;
};

// One rule that matched, from libmodsecurity's log line.
struct RuleMatch {
  int64_t id = 0;
  std::string message;
  std::string data;
  int severity = -1;  // ModSecurity severity 0 (emergency) .. 7 (debug); -1 when absent
  std::string line;   // the whole log line
};

// Writes libmodsecurity's messages, one line each, to the policy's log_file.
class WafLog {
 public:
  static Result<std::unique_ptr<WafLog>> Open(const std::string& path);
  ~WafLog();
  void Write(std::string_view line);

 private:
  std::mutex mu_;
  int fd_ = -1;
};

class WafTransaction;

// The libmodsecurity engine object of one engine thread. It holds the persistent collections
// (IP, GLOBAL, SESSION, USER, RESOURCE — what `initcol` opens): libmodsecurity 3.0.9 locks their
// writes but not their reads, so threads sharing one would race when a rule reads a collection
// another thread's rule writes (CRS 912 DoS protection, 910 reputation blocking, with 913's
// scanner flags). While a WafThreadContext lives, transactions begun on its thread use it: the
// collections are per thread, as they are per worker process in nginx with ModSecurity.
// Transactions begun under a context must end (Finish, destroyed) before it is destroyed, on its
// thread. Without a context, transactions use the rule set's shared object (one thread).
class WafThreadContext {
 public:
  WafThreadContext();
  ~WafThreadContext();
  WafThreadContext(const WafThreadContext&) = delete;
  WafThreadContext& operator=(const WafThreadContext&) = delete;

 private:
  std::unique_ptr<modsecurity::ModSecurity> modsec_;
  WafThreadContext* prev_ = nullptr;
};

class WafRules : public std::enable_shared_from_this<WafRules> {
 public:
  // Loads the rule set for a policy. Errors name the file that libmodsecurity rejected and its
  // message. `log` may be null.
  static Result<std::shared_ptr<const WafRules>> Load(const IpsConfig& config,
                                                      std::shared_ptr<WafLog> log = nullptr);
  ~WafRules();

  std::unique_ptr<WafTransaction> Begin(const Endpoints& ep) const;
  const IpsConfig& config() const { return config_; }
  size_t rule_count() const { return rule_count_; }
  // True when Ward (not 949110) decides inbound blocking (some rule is detect-only in prevent).
  bool ward_scoring() const { return ward_scoring_; }

 private:
  friend class WafTransaction;
  WafRules() = default;
  IpsConfig config_;
  std::shared_ptr<WafLog> log_;
  std::unique_ptr<modsecurity::ModSecurity> modsec_;
  std::unique_ptr<modsecurity::RulesSet> rules_;
  size_t rule_count_ = 0;
  bool ward_scoring_ = false;
};

// The text Ward gives libmodsecurity before and after the rule files (for docs and tests).
struct WafConfigText {
  std::string before;              // engine settings + CRS variables
  std::vector<std::string> files;  // in load order
  std::string after;               // overrides and exclusions
};
Result<WafConfigText> GenerateWafConfig(const IpsConfig& config);

// Score a matched rule adds in the CRS (by severity), 0 for rules that do not score.
int CrsScore(const RuleMatch& m);

class WafTransaction {
 public:
  ~WafTransaction();
  // Phase 1. Returns true when the request is to be blocked (prevent mode only).
  bool RequestHeaders(const RequestHead& head);
  void AppendRequestBody(std::string_view bytes);
  // Phase 2. Returns true when the request is to be blocked.
  bool RequestBody();
  // Phases 3 and 4 (response headers and body, the body up to the limit).
  void Response(const ResponseHead& head, std::string_view body);
  // Logging phase; call once at the end.
  void Finish();

  bool blocked() const { return blocked_; }
  int block_status() const { return block_status_; }
  const std::vector<RuleMatch>& matches() const { return matches_; }
  // tx.anomaly_score (inbound) when the CRS set it, else the sum of CrsScore() over matches.
  int AnomalyScore() const;
  const Endpoints& endpoints() const { return ep_; }
  const RequestHead& request() const { return request_; }
  bool request_seen() const { return request_seen_; }

  // libmodsecurity's log callback (`self` is the transaction).
  static void LogCallback(void* self, const void* message);

 private:
  friend class WafRules;
  WafTransaction(std::shared_ptr<const WafRules> rules, const Endpoints& ep,
                 modsecurity::ModSecurity* engine);
  bool CheckIntervention();

  std::shared_ptr<const WafRules> rules_;
  std::unique_ptr<modsecurity::Transaction> tx_;
  Endpoints ep_;
  RequestHead request_;
  bool request_seen_ = false;
  bool blocked_ = false;
  int block_status_ = 0;
  bool finished_ = false;
  uint64_t body_bytes_ = 0;
  std::vector<RuleMatch> matches_;
};

// Parses one libmodsecurity log line ("... [id \"942100\"] [msg \"...\"] ...").
RuleMatch ParseLogLine(std::string_view line);

}  // namespace ward::agent::ips
