// Waf: the seam between the IPS and a web application firewall rule engine.
//
// An engine (WafEngine, chosen by the policy's `ips.engine`, WafEngineFor()) compiles a policy's
// rule set once per policy (Load() -> WafRules) and inspects HTTP exchanges with it, one
// WafTransaction per request/response pair, fed phase by phase by the HTTP parser
// (HttpConnection): request headers (phase 1), request body (phase 2), response (phases 3-4), then
// Finish() (logging phase). A transaction reports the rules that matched, the anomaly scores and
// the intervention: whether the exchange is to be disrupted (blocked), with which HTTP status, by
// which rule. Engines today: libmodsecurity 3 with the OWASP CRS (modsecurity_waf.h). Every engine
// loads the same SecLang text (waf_config.h) and applies the same policy:
//
// Blocking (prevent mode): rules in detect mode inside a prevent policy must not block; when some
// are, Ward decides inbound blocking from the matched rules: the anomaly score of every matched
// scoring rule that is not in detect mode (CrsScore(): critical 5, error 4, warning 3, notice 2)
// against the inbound threshold. Detect mode never disrupts. Rule ids 1900000-1900999 are Ward's
// own (generated settings).
//
// The interface forces no copy and no allocation per call: requests and bodies are passed as
// references and views into the parser's buffers, valid for the duration of the call; an engine
// keeps what it needs. Results are views into the transaction.
//
// Thread-safety: a WafEngine is stateless and shared. WafRules is immutable after Load() and
// shared (shared_ptr) by any number of threads; a WafTransaction belongs to one thread at a time
// and keeps its rules alive. Per-thread engine state (WafThreadState) is made by the engine and,
// while it lives, used by every transaction its thread begins (see NewThreadState()).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/modules/ips/config.h"
#include "common/status.h"

namespace ward::agent::ips {

// Rule ids kWardRuleIdBase .. +999 are Ward's own (generated settings); they never score.
inline constexpr int64_t kWardRuleIdBase = 1900000;

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

// One rule that matched.
struct RuleMatch {
  int64_t id = 0;
  std::string message;
  std::string data;
  int severity = -1;     // SecLang severity 0 (emergency) .. 7 (debug); -1 when absent
  std::string variable;  // what matched ("ARGS:id"), when the engine says
  std::string line;      // the engine's whole log line (libmodsecurity format)
};

// What the engine decided for the exchange so far.
struct Intervention {
  bool disruptive = false;  // the exchange is to be blocked (prevent mode only)
  int status = 0;           // the HTTP status of the disruption (403, ...), 0 when none
  // The rule that disrupted; 0 when Ward's own anomaly scoring decided (see above).
  int64_t rule_id = 0;
};

// CRS anomaly scores of a transaction: inbound (request rules) and outbound (response rules). With
// the CRS, what its variables say (tx.anomaly_score less tx.outbound_anomaly_score, and the
// latter); without, inbound is the sum of CrsScore() over the matches.
struct AnomalyScores {
  int inbound = 0;
  int outbound = 0;
};

// Score a matched rule adds in the CRS (by severity), 0 for rules that do not score.
int CrsScore(const RuleMatch& m);

// --- Shared by the engines (one policy, whichever engine applies it) ---

// The intervention after a request phase (see "Blocking" above): none outside prevent mode; else
// the engine's own disruption (`engine`), else, when Ward scores (`ward_scoring`: the policy
// has detect-mode rules), 403 once the CrsScore() of the matches whose rule is in prevent mode
// reaches the policy's inbound threshold.
Intervention DecideIntervention(const IpsConfig& config, bool ward_scoring,
                                const Intervention& engine, std::span<const RuleMatch> matches);
// What a request body limited to `limit` bytes still takes of `bytes` after `*taken` bytes (added
// to `*taken`); nullopt once the limit is reached.
std::optional<std::string_view> WithinBodyLimit(std::string_view bytes, uint64_t limit,
                                                uint64_t* taken);
// The transaction's anomaly scores from the CRS variables tx.anomaly_score (`total`, which
// includes the outbound score) and tx.outbound_anomaly_score; -1 for a variable that is not set
// or not a number. Without tx.anomaly_score, inbound is the sum of CrsScore() over `matches`.
AnomalyScores AnomalyScoresOf(int total, int outbound, std::span<const RuleMatch> matches);
// The leading integer of a score variable's value, -1 when there is none.
int ParseScore(const std::string& value);
// A unique transaction id (UNIQUE_ID): `tag`, the agent's start time and pid, and a counter.
// Engines make their own rather than each transaction seeding a random generator.
std::string NextTransactionId(std::string_view tag);

// Writes the engine's messages, one line each, to the policy's log_file. Thread-safe.
class WafLog {
 public:
  static Result<std::unique_ptr<WafLog>> Open(const std::string& path);
  ~WafLog();
  void Write(std::string_view line);

 private:
  WafLog() = default;
  std::mutex mu_;
  int fd_ = -1;
};

// The inspection of one HTTP exchange.
class WafTransaction {
 public:
  virtual ~WafTransaction() = default;

  // Phase 1. Returns true when the request is to be blocked (intervention() says how).
  // `head` is read during the call only.
  virtual bool RequestHeaders(const RequestHead& head) = 0;
  // Request body bytes (de-chunked), in order; the engine keeps up to limits.request_body.
  virtual void AppendRequestBody(std::string_view bytes) = 0;
  // Phase 2. Returns true when the request is to be blocked.
  virtual bool RequestBody() = 0;
  // Phases 3 and 4 (response headers and body, the body up to limits.response_body).
  virtual void Response(const ResponseHead& head, std::string_view body) = 0;
  // Logging phase; call once at the end (later calls do nothing).
  virtual void Finish() = 0;

  virtual const Intervention& intervention() const = 0;
  // Every rule that matched so far, in order (a rule may appear more than once).
  virtual std::span<const RuleMatch> matches() const = 0;
  virtual AnomalyScores anomaly_scores() const = 0;
  virtual const Endpoints& endpoints() const = 0;
  // The request as given to RequestHeaders() (empty before).
  virtual const RequestHead& request() const = 0;
  virtual bool request_seen() const = 0;
  // The transaction's unique id (UNIQUE_ID; NextTransactionId()).
  virtual const std::string& id() const = 0;

  bool blocked() const { return intervention().disruptive; }
  int block_status() const { return intervention().status; }
  // Inbound plus outbound: the CRS's final tx.anomaly_score (what events report).
  int AnomalyScore() const {
    AnomalyScores s = anomaly_scores();
    return s.inbound + s.outbound;
  }
};

// A compiled rule set for one policy.
class WafRules {
 public:
  // Loads the policy's rule set with the engine it names: WafEngineFor(config.engine).Load().
  static Result<std::shared_ptr<const WafRules>> Load(const IpsConfig& config,
                                                      std::shared_ptr<WafLog> log = nullptr);
  virtual ~WafRules() = default;
  // Begins the inspection of one exchange between `ep`'s client and server.
  virtual std::unique_ptr<WafTransaction> Begin(const Endpoints& ep) const = 0;
  virtual const IpsConfig& config() const = 0;
  virtual size_t rule_count() const = 0;
};

// Engine state of one engine thread (for libmodsecurity: the persistent collections), opaque.
class WafThreadState {
 public:
  virtual ~WafThreadState() = default;
  // What the state keeps across agent restarts (Ward: its persistent collections, IP, GLOBAL,
  // ...; libmodsecurity keeps nothing, as in nginx): Save() gives its bytes, Restore() adds a
  // Save()'s bytes to a new state — kDataLoss, changing nothing, for bytes that are not one.
  // `wall_now_s`: seconds since the epoch. changes() moves with every change, so that a caller
  // saves only when there is something new. Called on the state's own thread.
  virtual bool persists() const { return false; }
  virtual std::string Save(int64_t /*wall_now_s*/) const { return {}; }
  virtual Result<size_t> Restore(std::string_view /*bytes*/, int64_t /*wall_now_s*/) {
    return size_t{0};
  }
  virtual uint64_t changes() const { return 0; }
};

// A rule engine.
class WafEngine {
 public:
  virtual ~WafEngine() = default;
  virtual WafEngineKind kind() const = 0;
  // Compiles the policy's rule set. Errors name the file the engine rejected and its message.
  // `log` may be null.
  virtual Result<std::shared_ptr<const WafRules>> Load(const IpsConfig& config,
                                                       std::shared_ptr<WafLog> log) const = 0;
  // State for the calling thread: while it lives, transactions begun on this thread by rules of
  // this engine use it (rules loaded before or after). It must be destroyed on its thread, after
  // every transaction begun under it ended. Without one, transactions share state of their rule
  // set: one thread only.
  virtual std::unique_ptr<WafThreadState> NewThreadState() const = 0;
};

// The engine of that kind (the one list of engines; nothing registers itself).
const WafEngine& WafEngineFor(WafEngineKind kind);

// The exclusions scoped to a path prefix (`path_prefix`, path_prefix.h) that cover the request
// target `uri`, in policy order. Every engine removes their targets from their rules for that
// transaction before phase 1, as `ctl:ruleRemoveTargetById` would. Pointers into `config`.
std::vector<const Exclusion*> PrefixExclusions(const IpsConfig& config, std::string_view uri);

}  // namespace ward::agent::ips
