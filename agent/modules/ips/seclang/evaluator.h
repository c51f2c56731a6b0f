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
// decides MATCHED_VAR, captures and macro values. Request bodies: URL-encoded here; the other
// processors (seclang/body) fill the collections through the same paths.
//
// Cost (docs/ips.md, "The fast path"): variables, macros and transformation-chain prefixes are
// resolved to ids at compile time; a transaction keeps its values as views into one arena and
// caches transformation results per (chain prefix, value). Transaction states are reused per
// thread, so a warm transaction that matches nothing makes no heap allocation.
//
// Thread-safety: CompiledRules is immutable and shared; a Transaction belongs to one thread at a
// time (its state returns to the pool of the thread that destroys it).
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
// lower-cased bytes, case-insensitive comparison. Using the same container (an
// unordered_multimap) with the same hash gives the same iteration order.
struct CiHash {
  size_t operator()(std::string_view k) const;
};
struct CiEqual {
  bool operator()(std::string_view a, std::string_view b) const;
};

class CompiledRules;
class PersistentCollections;

// Switches for the optimisations (each may be turned off to show it changes no verdict).
struct EvalOptions {
  // Cache each (transformation chain prefix, value) result for the transaction: CRS applies a
  // few dozen chains, many sharing their first steps, to the same values.
  bool transformation_cache = true;
  // Skip a rule whose variables are all collections (ARGS, REQUEST_COOKIES, FILES, ...) that are
  // empty in this transaction, without resolving anything: it cannot match.
  bool skip_empty_variables = true;
  // Keep MATCHED_VARS / MATCHED_VARS_NAMES updates as a list and apply them only when a rule
  // reads either (few do): the same collections, in the same order, when read.
  bool lazy_matched_vars = true;
  // Evaluate each XML:<xpath> (with its rule's xmlns) once per transaction and give every rule
  // that names it the same values (the parsed document does not change), numbered for the
  // transformation cache.
  bool memoise_xml = true;
  // @rx prefilter (regex_prefilter.h): the regexes of the rules that read one of
  // `regex_prefilter_variables` through the same transformation chain, in one Hyperscan
  // database; a value of at least `regex_prefilter_min_bytes` is scanned once per chain and
  // PCRE2 runs only for the rules whose pattern may match. Shorter values go to PCRE2 directly
  // (below ~4 KB a scan costs more than the few PCRE2-JIT calls it saves). Only the request body
  // by default: each variable's databases are compiled at load, and CRS's ARGS or XML groups
  // take ~3 s each (docs/ips.md, "The @rx prefilter").
  bool regex_prefilter = true;
  size_t regex_prefilter_min_bytes = 4096;
  std::vector<std::string> regex_prefilter_variables = {"REQUEST_BODY"};
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

  // The persistent collections (IP, GLOBAL, RESOURCE, SESSION, USER: persistent.h) this
  // transaction reads and writes, owned by the caller and outliving the transaction (call before
  // ProcessConnection; expired entries are removed then). Without, they live for this
  // transaction only.
  void UsePersistentCollections(PersistentCollections* collections);

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

}  // namespace ward::seclang
