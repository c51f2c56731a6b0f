// The compiled form of a SecLang configuration: the rules in load order with their parsed
// variables, operator, transformations and actions, plus the engine settings and the
// configuration-time exceptions (SecRuleRemoveBy*, SecRuleUpdateTargetBy*), which — as in
// libmodsecurity 3 — apply to every rule whatever the order of loading.
//
// Produced by RuleParser (parser.h); immutable afterwards and shared read-only by any number of
// threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/modules/ips/seclang/operators.h"
#include "agent/modules/ips/seclang/transformations.h"

namespace ward::seclang {

struct SourceLocation {
  std::string file;
  int line = 0;
};

// One target of a rule: `ARGS`, `ARGS:foo`, `ARGS:/^foo/`, `!ARGS:foo`, `&TX:score`.
struct VariableRef {
  std::string collection;  // canonical upper-case name, e.g. "REQUEST_HEADERS"
  std::string key;         // the selector as written (quotes removed); empty: the whole collection
  bool key_is_regex = false;
  bool count = false;    // &
  bool exclude = false;  // !
  std::string ToString() const;
};

enum class Disruptive : uint8_t { kNone, kPass, kBlock, kDeny, kDrop, kAllow, kRedirect };
enum class EngineMode : uint8_t { kOn, kOff, kDetectionOnly };

struct SetVar {
  enum class Op : uint8_t { kSet, kAdd, kSubtract, kDelete };
  Op op = Op::kSet;
  std::string collection;  // upper-case: TX, IP, SESSION, ...
  std::string name;        // may contain macros
  std::string value;       // may contain macros
};

struct Ctl {
  enum class Kind : uint8_t {
    kRuleEngine,
    kRuleRemoveById,
    kRuleRemoveByTag,
    kRuleRemoveTargetById,
    kRuleRemoveTargetByTag,
    kRequestBodyProcessor,
    kRequestBodyAccess,
    kForceRequestBodyVariable,
    kAuditEngine,
    kAuditLogParts,
  };
  Kind kind;
  std::string value;  // the text after '='
};

// A closed range of rule ids, as SecRuleRemoveById and ctl:ruleRemoveById take them.
struct IdRange {
  int64_t first = 0;
  int64_t last = 0;
  bool Contains(int64_t id) const { return id >= first && id <= last; }
};

struct Rule {
  enum class Kind : uint8_t { kRule, kAction, kMarker };
  Kind kind = Kind::kRule;
  SourceLocation where;

  // kMarker
  std::string marker;

  // kRule (kAction has no variables and always matches)
  std::vector<VariableRef> variables;
  std::unique_ptr<Operator> op;
  bool negated = false;

  // Actions.
  int64_t id = 0;
  int phase = 2;
  bool phase_set = false;
  std::vector<Transformation> transformations;  // after the last t:none
  bool transformations_reset = false;           // t:none seen (the defaults do not apply)
  // The last disruptive action; kBlock when `block` is the only one.
  Disruptive disruptive = Disruptive::kNone;
  bool block = false;  // `block` seen (it runs besides the rule's own disruptive action)
  std::optional<int> status;
  std::string redirect_url;
  std::string msg;
  std::string logdata;
  std::optional<int> severity;
  std::vector<std::string> tags;
  std::string ver, rev, accuracy, maturity;
  bool capture = false;
  bool multi_match = false;
  std::optional<bool> log;       // log / nolog
  std::optional<bool> auditlog;  // auditlog / noauditlog
  // The last of log/nolog/auditlog/noauditlog as written: libmodsecurity 3.0.9 logs a match
  // when it is log or auditlog (noauditlog suppresses the message as nolog does).
  std::optional<bool> save_message;
  int skip = 0;
  std::string skip_after;
  std::vector<SetVar> setvars;
  std::vector<Ctl> ctls;
  std::vector<std::pair<std::string, std::string>> expirevars;  // variable, seconds
  std::vector<std::pair<std::string, std::string>> initcols;    // collection, key
  std::string setuid, setsid, setrsc;
  std::vector<std::string> xmlns;
  std::vector<std::pair<std::string, std::string>> setenvs;

  // The next rule of a chain (owned), or null.
  std::unique_ptr<Rule> chained;
  // `chain` on the last rule of the configuration: libmodsecurity loads it and the rule never
  // matches ("marked as chained but there isn't a subsequent rule").
  bool chain_incomplete = false;
};

struct RuleSet {
  std::vector<std::unique_ptr<Rule>> rules;  // chain starters, SecAction and SecMarker, in order

  EngineMode engine = EngineMode::kDetectionOnly;  // libmodsecurity's default
  bool engine_set = false;
  bool request_body_access = false;
  bool response_body_access = false;
  std::optional<int64_t> request_body_limit;
  std::optional<int64_t> request_body_no_files_limit;
  std::optional<int64_t> request_body_in_memory_limit;
  std::optional<int64_t> response_body_limit;
  std::string request_body_limit_action;   // "Reject" | "ProcessPartial"
  std::string response_body_limit_action;  // "Reject" | "ProcessPartial"
  std::optional<int64_t> request_body_json_depth_limit;
  std::optional<int64_t> arguments_limit;
  std::optional<int64_t> pcre_match_limit;
  std::optional<int64_t> pcre_match_limit_recursion;
  std::vector<std::string> response_body_mime_types;
  std::string argument_separator;
  std::string unicode_map_file;  // resolved path
  int unicode_code_page = 0;
  std::shared_ptr<const UnicodeMap> unicode_map;  // for t:urlDecodeUni; null without the directive
  std::vector<std::string> component_signatures;
  std::optional<int64_t> collection_timeout;
  // Directives that do not change a verdict (audit and debug logging, storage directories,
  // status engine), recorded as written: name -> arguments.
  std::vector<std::pair<std::string, std::string>> recorded;

  // SecDefaultAction per phase (1-5), as a rule holding only actions.
  std::map<int, std::unique_ptr<Rule>> default_actions;

  // Configuration-time exceptions.
  std::vector<IdRange> removed_ids;
  std::vector<std::string> removed_tags;
  std::vector<std::string> removed_msgs;
  std::vector<std::pair<IdRange, std::vector<VariableRef>>> target_updates_by_id;
  std::vector<std::pair<std::string, std::vector<VariableRef>>> target_updates_by_tag;
  std::vector<std::pair<std::string, std::vector<VariableRef>>> target_updates_by_msg;
  // SecRuleUpdateActionById: the actions to merge into the rules with these ids.
  std::vector<std::pair<IdRange, std::unique_ptr<Rule>>> action_updates_by_id;

  // Counts for reports and tests.
  size_t RuleCount() const;  // SecRule and SecAction, chain members included
};

}  // namespace ward::seclang
