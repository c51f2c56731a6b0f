// The SecLang evaluator: a compiled rule set (CompiledRules) and the transaction that runs it
// (Transaction), with libmodsecurity 3.0.9's semantics (docs/ips.md, "Ward SecLang engine").
//
// CompiledRules is made once from a RuleSet: rules split per phase, configuration-time exceptions
// (SecRuleRemoveBy*, SecRuleUpdateTargetBy*, SecRuleUpdateActionById) applied, SecDefaultAction
// transformations folded in, each rule's own exclusions (`!ARGS:x`) attached to the variables of
// their collection — all as libmodsecurity resolves them at run time, so the verdicts are its.
//
// A Transaction is fed as libmodsecurity's is: connection, URI, headers, phase 1, body, phase 2,
// response, phases 3-4, logging. Collections use libmodsecurity's own container (an unordered
// multimap with its case-insensitive hash), so values are visited in the library's order — which
// decides MATCHED_VAR, captures and macro values. Request bodies: URL-encoded here
// (urlencoded.h); other processors fill the collections through BodyTarget (body_target.h).
//
// Thread-safety: CompiledRules is immutable and shared; a Transaction belongs to one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/modules/ips/seclang/rule_set.h"
#include "common/status.h"

namespace ward::seclang {

// libmodsecurity's collection key hash and equality (anchored_set_variable.h): the sum of the
// lower-cased bytes, case-insensitive comparison. Using the same container with the same hash
// gives the same iteration order.
struct CiHash {
  size_t operator()(const std::string& k) const;
};
struct CiEqual {
  bool operator()(const std::string& a, const std::string& b) const;
};
using Collection = std::unordered_multimap<std::string, std::string, CiHash, CiEqual>;

class CompiledRules;

// Switches for the optimisations (each may be turned off to show it changes no verdict).
struct EvalOptions {
  // Cache each (transformation chain, value) result for the transaction: CRS applies a few
  // dozen chains to the same values.
  bool transformation_cache = true;
  // CVE-2024-1019: 3.0.9 takes REQUEST_FILENAME/BASENAME/PATH_INFO from the URI *after*
  // %-decoding, up to the first '?', so `/a%3F/../b` hides the path from rules. Fixed (the path is
  // the raw URI up to its first '?', then decoded — as libmodsecurity 3.0.12 does) unless false.
  bool fix_cve_2024_1019 = true;
};

// Compiles `set`. Errors: InvalidArgument for what the evaluator cannot run (an unsupported
// variable at run time), naming the rule's file:line.
Result<std::shared_ptr<const CompiledRules>> Compile(std::unique_ptr<RuleSet> set,
                                                     EvalOptions options = {});

// One logged match, as libmodsecurity reports it (its server log line).
struct MatchLog {
  int64_t id = 0;
  std::string msg;
  std::string data;
  int severity = -1;
  std::string variable;  // the key of the last value that matched (ARGS:id)
  std::string line;      // "ModSecurity: Warning. Matched ... [id "..."] ..."
  bool disruptive = false;
};

struct EvalIntervention {
  bool disruptive = false;
  int status = 200;
  std::string url;
  int64_t rule_id = 0;
};

class Transaction {
 public:
  Transaction(std::shared_ptr<const CompiledRules> rules, std::string unique_id);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  void ProcessConnection(std::string_view client_ip, int client_port, std::string_view server_ip,
                         int server_port);
  void ProcessUri(std::string_view uri, std::string_view method, std::string_view http_version);
  void AddRequestHeader(std::string_view key, std::string_view value);
  void ProcessRequestHeaders();  // phase 1
  void AppendRequestBody(std::string_view bytes);
  void ProcessRequestBody();  // body processor, phase 2
  void AddResponseHeader(std::string_view key, std::string_view value);
  void ProcessResponseHeaders(int status, std::string_view protocol);  // phase 3
  void AppendResponseBody(std::string_view bytes);
  void ProcessResponseBody();  // phase 4
  void ProcessLogging();       // phase 5

  const EvalIntervention& intervention() const;
  const std::vector<MatchLog>& matches() const;
  // The first value of TX:name, if set.
  std::optional<std::string> Tx(std::string_view name) const;

  // Where a request-body processor (multipart, JSON, XML) puts what it parsed: ARGS_POST(_NAMES)
  // through AddArgument("POST", ...), FILES*, MULTIPART_PART_HEADERS through AddToCollection,
  // MULTIPART_* flags, REQBODY_ERROR(_MSG), REQBODY_PROCESSOR_ERROR(_MSG) through SetScalar.
  // Returns false when SecArgumentsLimit is reached (the argument is dropped, as 3.0.9 does).
  bool AddArgument(std::string_view origin, std::string_view key, std::string_view value);
  void AddToCollection(std::string_view collection, std::string_view key, std::string_view value);
  void SetScalar(std::string_view variable, std::string_view value);
  // Removes `target` ("ARGS:q") from rule `id` for this transaction, as
  // ctl:ruleRemoveTargetById=<id>;<target> does (the host's path-prefix exclusions, before phase
  // 1).
  void RemoveTargetById(int64_t id, std::string target);

  struct State;

 private:
  std::unique_ptr<State> s_;
};

// Parses `buf` as application/x-www-form-urlencoded (also the query string) as libmodsecurity
// 3.0.9's Transaction::extractArguments does: split on `separator` (getline: no trailing empty
// piece), then on the first '=', names and values URL-decoded non-strictly ('+' is a space).
// Calls `add(name, value)` per argument; returns true when an invalid %-escape was seen.
template <typename Add>
bool ParseUrlEncoded(std::string_view buf, char separator, Add&& add);

// URL-decodes non-strictly as libmodsecurity's urldecode_nonstrict_inplace. Returns whether an
// invalid escape was seen.
bool UrlDecodeNonStrict(std::string_view in, std::string& out);

template <typename Add>
bool ParseUrlEncoded(std::string_view buf, char separator, Add&& add) {
  bool invalid = false;
  std::string key;
  std::string value;
  size_t pos = 0;
  while (pos < buf.size()) {
    size_t end = buf.find(separator, pos);
    std::string_view piece =
        buf.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    size_t eq = piece.find('=');
    std::string_view k = piece.substr(0, eq);
    std::string_view v = eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1);
    invalid |= UrlDecodeNonStrict(k, key);
    invalid |= UrlDecodeNonStrict(v, value);
    add(std::string_view(key), std::string_view(value));
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return invalid;
}

}  // namespace ward::seclang
