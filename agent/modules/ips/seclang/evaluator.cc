#include "agent/modules/ips/seclang/evaluator.h"

#include "agent/modules/ips/seclang/body/request_body.h"
#include "common/text.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <map>
#include <set>

namespace ward::seclang {

namespace {
// tolower() of the "C" locale, inline: only A-Z change (libmodsecurity passes a plain char).
inline int AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }
}  // namespace

size_t CiHash::operator()(const std::string& k) const {
  size_t h = 0;
  for (char c : k) h += static_cast<size_t>(AsciiLower(c));
  return h;
}

bool CiEqual::operator()(const std::string& a, const std::string& b) const {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

namespace {

// libmodsecurity's utils::uri_decode: %XX decoded where both digits are hex, nothing else.
std::string UriDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  while (i + 2 < in.size()) {
    if (in[i] == '%') {
      int a = HexDigitValue(in[i + 1]);
      int b = HexDigitValue(in[i + 2]);
      if (a >= 0 && b >= 0) {
        out.push_back(static_cast<char>((a << 4) + b));
        i += 3;
        continue;
      }
    }
    out.push_back(in[i++]);
  }
  while (i < in.size()) out.push_back(in[i++]);
  return out;
}

// std::stoi as libmodsecurity uses it: 0 when nothing is read or out of int range.
int StoiOrZero(const std::string& s) {
  const char* p = s.c_str();
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(p, &end, 10);
  if (end == p || errno == ERANGE || v > INT_MAX || v < INT_MIN) return 0;
  return static_cast<int>(v);
}

// libmodsecurity's utils::string::limitTo and toHexIfNeeded (log lines).
std::string LimitTo(size_t amount, const std::string& str) {
  if (str.size() <= amount) return str;
  return str.substr(0, amount) + " (" + std::to_string(str.size() - amount) +
         " characters omitted)";
}

std::string ToHexIfNeeded(std::string_view str, bool escape_spec) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(str.size());
  for (char ch : str) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 32 || c > 126 || (escape_spec && (c == '"' || c == '\\'))) {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

// A parameter with its macros removed (RunTimeString::evaluate without a transaction).
std::string StripMacros(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t open = text.find("%{", i);
    if (open == std::string_view::npos) break;
    size_t close = text.find('}', open + 2);
    if (close == std::string_view::npos) break;
    out.append(text.substr(i, open - i));
    i = close + 1;
  }
  out.append(text.substr(std::min(i, text.size())));
  return out;
}

// The operator's name in libmodsecurity's messages (Operator::m_op).
std::string_view LibraryOperatorName(OperatorKind k) {
  switch (k) {
    case OperatorKind::kRx:
      return "Rx";
    case OperatorKind::kPm:
      return "Pm";
    case OperatorKind::kPmFromFile:
      return "PmFromFile";
    case OperatorKind::kDetectSqli:
      return "DetectSQLi";
    case OperatorKind::kDetectXss:
      return "DetectXSS";
    case OperatorKind::kValidateByteRange:
      return "ValidateByteRange";
    case OperatorKind::kValidateUrlEncoding:
      return "ValidateUrlEncoding";
    case OperatorKind::kValidateUtf8Encoding:
      return "ValidateUtf8Encoding";
    case OperatorKind::kWithin:
      return "Within";
    case OperatorKind::kStrEq:
      return "StrEq";
    case OperatorKind::kContains:
      return "Contains";
    case OperatorKind::kContainsWord:
      return "ContainsWord";
    case OperatorKind::kEndsWith:
      return "EndsWith";
    case OperatorKind::kBeginsWith:
      return "BeginsWith";
    case OperatorKind::kEq:
      return "Eq";
    case OperatorKind::kGe:
      return "Ge";
    case OperatorKind::kGt:
      return "Gt";
    case OperatorKind::kLe:
      return "Le";
    case OperatorKind::kLt:
      return "Lt";
    case OperatorKind::kIpMatch:
      return "IpMatch";
    case OperatorKind::kIpMatchFromFile:
      return "IpMatchFromFile";
    case OperatorKind::kUnconditionalMatch:
      return "UnconditionalMatch";
    case OperatorKind::kNoMatch:
      return "NoMatch";
    case OperatorKind::kGeoLookup:
      return "GeoLookup";
    case OperatorKind::kRblHttpBl:
      return "Rbl";
  }
  return "";
}

// A case-insensitive regex on collection keys (libmodsecurity's Utils::Regex(pattern, true)).
class KeyRegex {
 public:
  explicit KeyRegex(const std::string& pattern) {
    int err = 0;
    PCRE2_SIZE off = 0;
    const std::string p = pattern.empty() ? ".*" : pattern;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.c_str()), PCRE2_ZERO_TERMINATED,
                          PCRE2_DOTALL | PCRE2_MULTILINE | PCRE2_CASELESS, &err, &off, nullptr);
    if (code_ != nullptr) pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);
  }
  ~KeyRegex() {
    if (code_ != nullptr) pcre2_code_free(code_);
  }
  KeyRegex(const KeyRegex&) = delete;
  KeyRegex& operator=(const KeyRegex&) = delete;
  bool ok() const { return code_ != nullptr; }
  bool Search(std::string_view s) const {
    if (code_ == nullptr) return false;
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_, nullptr);
    int rc =
        pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0, 0, md, nullptr);
    pcre2_match_data_free(md);
    return rc > 0;
  }

 private:
  pcre2_code* code_ = nullptr;
};

// A variable of a rule, resolved at compile time.
// How a collection is resolved (decided once per variable, not per evaluation).
enum class VarKind : uint8_t { kSet, kNames, kStore, kRule, kXml, kHighestSeverity, kEnv, kScalar };
VarKind Classify(std::string_view collection, std::string* source);

struct CVar {
  VarKind kind = VarKind::kScalar;
  std::string source;  // kSet/kNames: the collection holding the values
  VariableRef ref;
  std::string full_name;  // libmodsecurity's m_fullName ("ARGS:foo", "ARGS:regex(^a)", "TX")
  std::shared_ptr<KeyRegex> regex;
  // In-rule exclusions of keys of this collection (`!ARGS:foo`): string (case-insensitive) or
  // regex.
  std::vector<std::string> exclude_keys;
  std::vector<std::shared_ptr<KeyRegex>> exclude_regexes;
};

std::string FullName(const VariableRef& v) {
  if (v.key.empty()) return v.collection;
  if (v.key_is_regex) return v.collection + ":regex(" + v.key + ")";
  return v.collection + ":" + v.key;
}

bool SameVariable(const VariableRef& a, const VariableRef& b) {
  return a.collection == b.collection && a.key == b.key && a.key_is_regex == b.key_is_regex;
}

CVar MakeVar(const VariableRef& ref) {
  CVar v;
  v.ref = ref;
  v.ref.exclude = false;
  v.full_name = FullName(ref);
  if (ref.key_is_regex) v.regex = std::make_shared<KeyRegex>(ref.key);
  v.kind = Classify(ref.collection, &v.source);
  return v;
}

}  // namespace

// A rule (chain head or member, SecAction, SecMarker) compiled.
struct CRule {
  const Rule* rule = nullptr;
  const CRule* parent = nullptr;  // chain parent
  std::unique_ptr<CRule> child;
  int phase = 2;
  std::vector<CVar> vars;
  std::vector<Transformation> transformations;  // defaults folded in
  std::string chain_key;  // the chain as bytes plus a separator (transformation cache key prefix)
  // SecRuleUpdateTargetBy*: exclusions and additions.
  std::vector<CVar> update_exclusions;
  std::vector<CVar> update_additions;
  // SecRuleUpdateActionById for this id (the disruptive action replaces the rule's).
  std::vector<const Rule*> action_updates;
  bool removed = false;  // SecRuleRemoveById/ByTag/ByMsg (heads only)
  bool has_block = false;
};

class CompiledRules {
 public:
  std::unique_ptr<RuleSet> set;
  EvalOptions options;
  std::vector<std::unique_ptr<CRule>> phases[6];  // 1..5 used
  const Rule* defaults[6] = {};
  char separator = '&';
};

namespace {

Status CompileRule(const RuleSet& set, const Rule& r, const CRule* parent, int phase, CRule& out) {
  out.rule = &r;
  out.parent = parent;
  out.phase = phase;
  // Variables with their in-rule exclusions (libmodsecurity's parser: an exclusion equal to a
  // variable drops it; otherwise it becomes a key exclusion of the variables of its collection).
  std::vector<const VariableRef*> exclusions;
  for (const auto& v : r.variables) {
    if (v.exclude) exclusions.push_back(&v);
  }
  for (const auto& v : r.variables) {
    if (v.exclude) continue;
    bool drop = false;
    CVar cv = MakeVar(v);
    for (const VariableRef* e : exclusions) {
      if (SameVariable(*e, v) && e->count == v.count) drop = true;
      if (EqualsIgnoreCase(e->collection, v.collection) && !e->key.empty()) {
        if (e->key_is_regex) {
          cv.exclude_regexes.push_back(std::make_shared<KeyRegex>(e->key));
        } else {
          cv.exclude_keys.push_back(UpperCase(e->key));
        }
      }
    }
    if (!drop) out.vars.push_back(std::move(cv));
  }
  // Transformations: SecDefaultAction's unless the rule has t:none.
  if (!r.transformations_reset) {
    auto d = set.default_actions.find(phase);
    if (d != set.default_actions.end() && d->second != nullptr) {
      for (Transformation t : d->second->transformations) {
        if (t != Transformation::kNone) out.transformations.push_back(t);
      }
    }
  }
  for (Transformation t : r.transformations) {
    if (t != Transformation::kNone) out.transformations.push_back(t);
  }
  for (Transformation t : out.transformations) out.chain_key.push_back(static_cast<char>(t));
  out.chain_key.push_back(static_cast<char>(0xff));
  out.has_block = r.block || r.disruptive == Disruptive::kBlock;
  // Configuration-time exceptions.
  auto has_tag = [&](const std::string& tag) {
    return std::find(r.tags.begin(), r.tags.end(), tag) != r.tags.end();
  };
  auto add_updates = [&](const std::vector<VariableRef>& refs) {
    for (const auto& v : refs) {
      if (v.exclude) {
        out.update_exclusions.push_back(MakeVar(v));
      } else {
        out.update_additions.push_back(MakeVar(v));
      }
    }
  };
  for (const auto& [tag, refs] : set.target_updates_by_tag) {
    if (has_tag(tag)) add_updates(refs);
  }
  for (const auto& [msg, refs] : set.target_updates_by_msg) {
    if (r.msg == msg) add_updates(refs);
  }
  for (const auto& [range, refs] : set.target_updates_by_id) {
    if (range.Contains(r.id)) add_updates(refs);
  }
  for (const auto& [range, upd] : set.action_updates_by_id) {
    if (range.Contains(r.id) && upd != nullptr) {
      out.action_updates.push_back(upd.get());
      if (upd->disruptive == Disruptive::kBlock) out.has_block = true;
    }
  }
  if (parent == nullptr && r.kind != Rule::Kind::kMarker) {
    for (const auto& range : set.removed_ids) {
      if (range.Contains(r.id)) out.removed = true;
    }
    for (const auto& m : set.removed_msgs) {
      if (r.msg == m) out.removed = true;
    }
    for (const auto& t : set.removed_tags) {
      if (has_tag(t)) out.removed = true;
    }
  }
  if (r.chained != nullptr) {
    out.child = std::make_unique<CRule>();
    // A chain member runs in its own phase's context (libmodsecurity keeps the phase it parsed,
    // 2 unless given); the head decides where the chain runs.
    int child_phase = r.chained->phase_set ? r.chained->phase : 2;
    WARD_RETURN_IF_ERROR(CompileRule(set, *r.chained, &out, child_phase, *out.child));
  }
  return Status::Ok();
}

}  // namespace

Result<std::shared_ptr<const CompiledRules>> Compile(std::unique_ptr<RuleSet> set,
                                                     EvalOptions options) {
  auto c = std::make_shared<CompiledRules>();
  c->options = options;
  if (!set->argument_separator.empty()) c->separator = set->argument_separator[0];
  for (const auto& [phase, rule] : set->default_actions) {
    if (phase >= 1 && phase <= 5) c->defaults[phase] = rule.get();
  }
  for (const auto& r : set->rules) {
    if (r->kind == Rule::Kind::kMarker) {
      // A marker is in every phase.
      for (int p = 1; p <= 5; ++p) {
        auto cr = std::make_unique<CRule>();
        WARD_RETURN_IF_ERROR(CompileRule(*set, *r, nullptr, p, *cr));
        c->phases[p].push_back(std::move(cr));
      }
      continue;
    }
    int phase = r->phase;
    if (phase < 1 || phase > 5) phase = phase <= 0 ? 1 : 5;
    auto cr = std::make_unique<CRule>();
    WARD_RETURN_IF_ERROR(CompileRule(*set, *r, nullptr, phase, *cr));
    c->phases[phase].push_back(std::move(cr));
  }
  c->set = std::move(set);
  return std::shared_ptr<const CompiledRules>(std::move(c));
}

// ---------------------------------------------------------------------------------------------
// Transaction

namespace {

struct Value {
  std::string key;                  // without the collection
  std::string key_with_collection;  // "ARGS:foo", "REQUEST_URI"
  std::string value;
};

// What libmodsecurity keeps in its RuleMessage for the match being logged.
struct Message {
  int64_t id = 0;
  const Rule* head = nullptr;
  std::string msg;
  std::string data;
  int severity = 0;
  bool save = true;
  bool disruptive = false;
  std::string match;  // "Matched \"Operator ..."
  std::string variable;
  std::vector<std::string> tags;
};

// Collections that are libmodsecurity AnchoredSetVariables.
constexpr std::string_view kSetCollections[] = {
    "ARGS",
    "ARGS_GET",
    "ARGS_POST",
    "REQUEST_HEADERS",
    "REQUEST_HEADERS_NAMES",
    "REQUEST_COOKIES",
    "REQUEST_COOKIES_NAMES",
    "RESPONSE_HEADERS",
    "RESPONSE_HEADERS_NAMES",
    "FILES",
    "FILES_NAMES",
    "FILES_SIZES",
    "FILES_TMPNAMES",
    "FILES_TMP_CONTENT",
    "MULTIPART_PART_HEADERS",
    "MULTIPART_NAME",
    "MULTIPART_FILENAME",
    "MATCHED_VARS",
    "MATCHED_VARS_NAMES",
    "GEO",
    "ENV",
};
// Collections whose names are the keys of another (AnchoredSetVariableTranslationProxy).
constexpr std::pair<std::string_view, std::string_view> kNameProxies[] = {
    {"ARGS_NAMES", "ARGS"},
    {"ARGS_GET_NAMES", "ARGS_GET"},
    {"ARGS_POST_NAMES", "ARGS_POST"},
};
// Persistent-style collections (libmodsecurity's InMemoryPerProcess backend).
constexpr std::string_view kStoreCollections[] = {"TX",   "IP",     "SESSION",
                                                  "USER", "GLOBAL", "RESOURCE"};

bool IsStore(std::string_view c) {
  return std::find(std::begin(kStoreCollections), std::end(kStoreCollections), c) !=
         std::end(kStoreCollections);
}

VarKind Classify(std::string_view c, std::string* source) {
  *source = std::string(c);
  for (const auto& [proxy, base] : kNameProxies) {
    if (c == proxy) {
      *source = std::string(base);
      return VarKind::kNames;
    }
  }
  if (std::find(std::begin(kSetCollections), std::end(kSetCollections), c) !=
      std::end(kSetCollections)) {
    return VarKind::kSet;
  }
  if (IsStore(c)) return VarKind::kStore;
  if (c == "RULE") return VarKind::kRule;
  if (c == "XML") return VarKind::kXml;
  if (c == "HIGHEST_SEVERITY") return VarKind::kHighestSeverity;
  if (c == "ENV") return VarKind::kEnv;
  return VarKind::kScalar;
}

}  // namespace

struct Transaction::State {
  std::shared_ptr<const CompiledRules> rules;
  std::string unique_id;
  std::map<std::string, Collection, std::less<>> sets;
  std::map<std::string, Collection, std::less<>> stores;
  std::map<std::string, std::string, std::less<>> scalars;

  EngineMode engine = EngineMode::kDetectionOnly;
  std::optional<bool> body_access;  // ctl:requestBodyAccess
  enum class BodyType { kUnknown, kUrlEncoded, kMultipart };
  enum class BodyProc { kUnknown, kJson, kXml };
  BodyType body_type = BodyType::kUnknown;
  BodyProc body_proc = BodyProc::kUnknown;
  std::string request_body;
  std::string response_body;
  std::string uri_no_query_decoded;
  std::string server_ip;
  std::string client_ip;
  int64_t args_combined_size = 0;
  int highest_severity = 255;

  // Runtime exceptions (ctl).
  std::vector<int64_t> remove_ids;
  std::vector<std::pair<int64_t, int64_t>> remove_ranges;
  std::vector<std::string> remove_tags;
  std::vector<std::pair<int64_t, std::string>> remove_target_by_id;
  std::vector<std::pair<std::string, std::string>> remove_target_by_tag;

  // Flow control.
  std::optional<std::string> marker;
  int skip_next = 0;
  enum class Allow { kNone, kFromNowOn, kRequest, kPhase };
  Allow allow = Allow::kNone;

  EvalIntervention it;
  std::vector<MatchLog> logs;

  OperatorScratch op_scratch;
  TransformScratch tf_scratch;
  std::unordered_map<std::string, std::string> transform_cache;
  body::BodyProcessor body_processor;
  body::BodyResult body_result;
  const body::XmlDocument* xml = nullptr;

  // --- helpers ---
  Collection& Set(std::string_view name) {
    auto it2 = sets.find(name);
    if (it2 == sets.end()) it2 = sets.emplace(std::string(name), Collection()).first;
    return it2->second;
  }
  Collection& Store(std::string_view name) {
    auto it2 = stores.find(name);
    if (it2 == stores.end()) it2 = stores.emplace(std::string(name), Collection()).first;
    return it2->second;
  }
  void SetScalar(std::string_view name, std::string_view value) {
    scalars[std::string(name)] = std::string(value);
  }
  std::string Scalar(std::string_view name) const {
    auto f = scalars.find(name);
    return f == scalars.end() ? std::string() : f->second;
  }
  EngineMode Engine() const { return engine; }

  bool HasTag(const Rule& r, const std::string& tag) const {
    return std::find(r.tags.begin(), r.tags.end(), tag) != r.tags.end();
  }

  void Resolve(const CVar& v, const CRule* rule, std::vector<Value>& out);
  void ResolveBase(const CVar& v, const CRule* rule, std::vector<Value>& out);
  std::string Expand(std::string_view text, const CRule* rule);
  std::optional<std::string> MacroValue(std::string_view name, const CRule* rule);

  void EvaluatePhase(int phase);
  bool EvaluateRule(const CRule& r, Message& rm);
  void ActionsIndependent(const CRule& r, Message& rm);
  void ActionsAfterFullMatch(const CRule& r, Message& rm);
  void RunDisruptive(const CRule& r, Disruptive d, Message& rm);
  void RunCtl(const Ctl& c);
  void RunSetVar(const SetVar& sv, const CRule* rule);
  void Log(Message& rm);
  void UpdateMatched(const std::string& kwc, const std::string& value);
  void CleanMatched();
  bool AddArgument(std::string_view origin, std::string_view key, std::string_view value);
  void ExtractArguments(std::string_view origin, std::string_view buf);
};

// --- variables ---

void Transaction::State::ResolveBase(const CVar& v, const CRule* rule, std::vector<Value>& out) {
  const std::string& c = v.ref.collection;
  auto omit = [&](const std::string& key) {
    for (const auto& k : v.exclude_keys) {
      if (key.size() == k.size()) {
        bool eq = true;
        for (size_t i = 0; i < key.size(); ++i) {
          if (static_cast<char>(std::toupper(static_cast<unsigned char>(key[i]))) != k[i]) {
            eq = false;
            break;
          }
        }
        if (eq) return true;
      }
    }
    for (const auto& re : v.exclude_regexes) {
      if (re->Search(key)) return true;
    }
    return false;
  };
  // AnchoredSetVariable (optionally seen through a name proxy).
  const bool names = v.kind == VarKind::kNames;
  const bool is_set = names || v.kind == VarKind::kSet;
  const std::string& source = v.source;
  if (is_set) {
    auto f = sets.find(source);
    if (f == sets.end()) return;
    const Collection& col = f->second;
    auto make = [&](const std::string& key, const std::string& value) {
      Value val;
      val.key = key;
      val.key_with_collection = c + ":" + key;
      val.value = names ? key : value;
      return val;
    };
    if (v.ref.key.empty()) {
      std::vector<Value> tmp;
      for (const auto& [k, val] : col) {
        if (!omit(k)) tmp.push_back(make(k, val));
      }
      out.insert(out.end(), std::make_move_iterator(tmp.rbegin()),
                 std::make_move_iterator(tmp.rend()));
    } else if (v.regex != nullptr) {
      std::vector<Value> tmp;
      for (const auto& [k, val] : col) {
        if (!v.regex->Search(k)) continue;
        if (!omit(k)) tmp.push_back(make(k, val));
      }
      out.insert(out.end(), std::make_move_iterator(tmp.rbegin()),
                 std::make_move_iterator(tmp.rend()));
    } else {
      auto range = col.equal_range(v.ref.key);
      for (auto i = range.first; i != range.second; ++i) out.push_back(make(i->first, i->second));
    }
    return;
  }
  if (v.kind == VarKind::kStore) {
    auto f = stores.find(c);
    if (f == stores.end()) return;
    const Collection& col = f->second;
    std::vector<Value> tmp;
    // 3.0.9 keys persistent collections (IP, SESSION, ...) by "<initcol key>::<name>" and
    // prefixes the selector the same way: a whole-collection or regex selection finds nothing.
    if (c != "TX" && (v.ref.key.empty() || v.regex != nullptr)) return;
    if (v.ref.key.empty() || v.regex != nullptr) {
      for (const auto& [k, val] : col) {
        if (v.regex != nullptr && !v.regex->Search(k)) continue;
        if (omit(k)) continue;
        tmp.push_back(Value{k, c + ":" + k, val});
      }
    } else {
      auto range = col.equal_range(v.ref.key);
      for (auto i = range.first; i != range.second; ++i) {
        if (omit(v.ref.key)) continue;
        tmp.push_back(Value{v.ref.key, c + ":" + v.ref.key, i->second});
      }
    }
    out.insert(out.end(), std::make_move_iterator(tmp.rbegin()),
               std::make_move_iterator(tmp.rend()));
    return;
  }
  if (v.kind == VarKind::kRule && (v.ref.key.empty() || v.regex != nullptr)) {
    for (const char* k : {"id", "rev", "severity", "logdata", "msg"}) {
      if (v.regex != nullptr && !v.regex->Search(k)) continue;
      CVar one = MakeVar(VariableRef{"RULE", k, false, false, false});
      ResolveBase(one, rule, out);
    }
    return;
  }
  if (v.kind == VarKind::kRule) {
    const CRule* r = rule;
    std::string k = UpperCase(v.ref.key);
    std::string value;
    bool found = false;
    while (r != nullptr && !found) {
      const Rule& rr = *r->rule;
      if (k == "ID" && rr.id != 0) {
        value = std::to_string(rr.id);
        found = true;
      } else if (k == "MSG" && !rr.msg.empty()) {
        value = rr.msg;
        found = true;
      } else if (k == "SEVERITY" && rr.severity) {
        value = std::to_string(*rr.severity);
        found = true;
      } else if (k == "REV" && !rr.rev.empty()) {
        value = rr.rev;
        found = true;
      } else if (k == "LOGDATA" && !rr.logdata.empty()) {
        value = Expand(rr.logdata, r);
        found = true;
      }
      r = r->parent;
    }
    if (found) out.push_back(Value{v.ref.key, "RULE:" + v.ref.key, value});
    return;
  }
  if (v.kind == VarKind::kXml) {
    // XML:<xpath> over the parsed body (seclang/body); nothing without an XML document.
    if (xml == nullptr || v.ref.key.empty()) return;
    std::vector<std::pair<std::string, std::string>> ns;
    for (const CRule* r = rule; r != nullptr; r = r->parent) {
      for (const auto& x : r->rule->xmlns) {
        size_t eq = x.find('=');
        if (eq != std::string::npos) ns.emplace_back(x.substr(0, eq), x.substr(eq + 1));
      }
    }
    std::vector<std::string_view> values;
    xml->Evaluate(v.ref.key, ns, &body_result, &values);
    for (std::string_view val : values) {
      out.push_back(Value{v.ref.key, "XML:" + v.ref.key, std::string(val)});
    }
    return;
  }
  if (v.kind == VarKind::kHighestSeverity) {
    out.push_back(Value{"", c, std::to_string(highest_severity)});
    return;
  }
  if (v.kind == VarKind::kEnv) {
    // The process environment, in name order (3.0.9 copies environ into a std::map); a
    // selector compares names exactly.
    std::map<std::string, std::string> env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      std::string_view kv(*e);
      size_t eq = kv.find('=');
      if (eq == std::string_view::npos) continue;
      env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
    }
    for (const auto& [k, val] : env) {
      if (!v.ref.key.empty() && k != v.ref.key) continue;
      if (omit(k)) continue;
      out.push_back(Value{k, "ENV:" + k, val});
    }
    return;
  }
  // Anchored scalar: always one value.
  out.push_back(Value{"", c, Scalar(c)});
}

void Transaction::State::Resolve(const CVar& v, const CRule* rule, std::vector<Value>& out) {
  if (!v.ref.count) {
    ResolveBase(v, rule, out);
    return;
  }
  std::vector<Value> tmp;
  ResolveBase(v, rule, tmp);
  out.push_back(Value{v.full_name, v.full_name, std::to_string(tmp.size())});
}

std::optional<std::string> Transaction::State::MacroValue(std::string_view name,
                                                          const CRule* rule) {
  size_t sep = name.find(':');
  if (sep == std::string_view::npos) sep = name.find('.');
  VariableRef ref;
  if (sep == std::string_view::npos) {
    ref.collection = UpperCase(name);
  } else {
    ref.collection = UpperCase(name.substr(0, sep));
    ref.key = std::string(name.substr(sep + 1));
    if (ref.key.size() >= 2 && ref.key.front() == '/' && ref.key.back() == '/') {
      ref.key = ref.key.substr(1, ref.key.size() - 2);
      ref.key_is_regex = true;
    }
  }
  CVar v = MakeVar(ref);
  std::vector<Value> values;
  ResolveBase(v, rule, values);
  if (values.empty()) return std::nullopt;
  return values.front().value;
}

std::string Transaction::State::Expand(std::string_view text, const CRule* rule) {
  if (text.find("%{") == std::string_view::npos) return std::string(text);
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t open = text.find("%{", i);
    if (open == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    size_t close = text.find('}', open + 2);
    if (close == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    out.append(text.substr(i, open - i));
    if (auto v = MacroValue(text.substr(open + 2, close - open - 2), rule)) out.append(*v);
    i = close + 1;
  }
  return out;
}

// --- matched variables ---

void Transaction::State::UpdateMatched(const std::string& kwc, const std::string& value) {
  SetScalar("MATCHED_VAR", value);
  SetScalar("MATCHED_VAR_NAME", kwc);
  Set("MATCHED_VARS").emplace(kwc, value);
  Set("MATCHED_VARS_NAMES").emplace(kwc, kwc);
}

void Transaction::State::CleanMatched() {
  SetScalar("MATCHED_VAR", "");
  SetScalar("MATCHED_VAR_NAME", "");
  Set("MATCHED_VARS").clear();
  Set("MATCHED_VARS_NAMES").clear();
}

// --- actions ---

void Transaction::State::RunSetVar(const SetVar& sv, const CRule* rule) {
  Collection& col = Store(sv.collection);
  const std::string name = Expand(sv.name, rule);
  if (sv.op == SetVar::Op::kDelete) {
    col.erase(name);
    return;
  }
  std::string value = Expand(sv.value, rule);
  if (sv.op == SetVar::Op::kAdd || sv.op == SetVar::Op::kSubtract) {
    int pre = StoiOrZero(value);
    int cur = 0;
    auto range = col.equal_range(name);
    // The variable is evaluated as TX:name (the first value, in resolution order).
    std::vector<std::string> vals;
    for (auto i = range.first; i != range.second; ++i) vals.push_back(i->second);
    if (!vals.empty()) cur = StoiOrZero(vals.back());
    value = std::to_string(sv.op == SetVar::Op::kAdd ? cur + pre : cur - pre);
  }
  auto f = col.find(name);
  if (f != col.end()) {
    f->second = value;
  } else {
    col.emplace(name, value);
  }
}

void Transaction::State::RunCtl(const Ctl& c) {
  switch (c.kind) {
    case Ctl::Kind::kRuleEngine:
      if (EqualsIgnoreCase(c.value, "On")) {
        engine = EngineMode::kOn;
      } else if (EqualsIgnoreCase(c.value, "Off")) {
        engine = EngineMode::kOff;
      } else {
        engine = EngineMode::kDetectionOnly;
      }
      break;
    case Ctl::Kind::kRuleRemoveById: {
      size_t pos = 0;
      const std::string& v = c.value;
      while (pos <= v.size()) {
        size_t end = v.find(' ', pos);
        std::string tok = v.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
        // parserSanitizer: trims quotes and spaces
        while (!tok.empty() && (tok.back() == '\'' || tok.back() == '"')) tok.pop_back();
        while (!tok.empty() && (tok.front() == '\'' || tok.front() == '"')) tok.erase(0, 1);
        if (!tok.empty()) {
          size_t dash = tok.find('-');
          if (dash != std::string::npos) {
            remove_ranges.emplace_back(StoiOrZero(tok.substr(0, dash)),
                                       StoiOrZero(tok.substr(dash + 1)));
          } else {
            remove_ids.push_back(StoiOrZero(tok));
          }
        }
        if (end == std::string::npos) break;
        pos = end + 1;
      }
      break;
    }
    case Ctl::Kind::kRuleRemoveByTag:
      remove_tags.push_back(c.value);
      break;
    case Ctl::Kind::kRuleRemoveTargetById: {
      size_t semi = c.value.find(';');
      if (semi == std::string::npos) break;
      std::string target = c.value.substr(semi + 1);
      size_t semi2 = target.find(';');
      if (semi2 != std::string::npos) target = target.substr(0, semi2);
      remove_target_by_id.emplace_back(StoiOrZero(c.value.substr(0, semi)), target);
      break;
    }
    case Ctl::Kind::kRuleRemoveTargetByTag: {
      size_t semi = c.value.find(';');
      if (semi == std::string::npos) break;
      std::string target = c.value.substr(semi + 1);
      size_t semi2 = target.find(';');
      if (semi2 != std::string::npos) target = target.substr(0, semi2);
      remove_target_by_tag.emplace_back(c.value.substr(0, semi), target);
      break;
    }
    case Ctl::Kind::kRequestBodyProcessor:
      if (EqualsIgnoreCase(c.value, "JSON")) {
        body_proc = BodyProc::kJson;
        SetScalar("REQBODY_PROCESSOR", "JSON");
      } else if (EqualsIgnoreCase(c.value, "XML")) {
        body_proc = BodyProc::kXml;
        SetScalar("REQBODY_PROCESSOR", "XML");
      } else {
        body_type = BodyType::kUrlEncoded;
        SetScalar("REQBODY_PROCESSOR", "URLENCODED");
      }
      break;
    case Ctl::Kind::kRequestBodyAccess:
      body_access = EqualsIgnoreCase(c.value, "On") || EqualsIgnoreCase(c.value, "true");
      break;
    case Ctl::Kind::kForceRequestBodyVariable:
    case Ctl::Kind::kAuditEngine:
    case Ctl::Kind::kAuditLogParts:
      break;
  }
}

void Transaction::State::Log(Message& rm) {
  MatchLog m;
  m.id = rm.id;
  m.msg = rm.msg;
  m.data = rm.data;
  m.severity = rm.severity;
  m.variable = rm.variable;
  m.disruptive = rm.disruptive;
  // RuleMessage::log: the match, then _details; the whole line through toHexIfNeeded.
  std::string line = rm.disruptive
                         ? "ModSecurity: Access denied with code " + std::to_string(it.status) +
                               " (phase " + std::to_string(rm.head ? rm.head->phase : 2) + "). "
                         : "ModSecurity: Warning. ";
  line += rm.match;
  line += " [file \"" + (rm.head ? rm.head->where.file : std::string()) + "\"] [line \"" +
          std::to_string(rm.head ? rm.head->where.line : 0) + "\"]";
  line += " [id \"" + std::to_string(rm.id) + "\"] [rev \"" +
          ToHexIfNeeded(rm.head ? rm.head->rev : std::string(), true) + "\"] [msg \"" + rm.msg +
          "\"] [data \"" + ToHexIfNeeded(LimitTo(200, rm.data), true) + "\"] [severity \"" +
          std::to_string(rm.severity) + "\"] [ver \"" +
          ToHexIfNeeded(rm.head ? rm.head->ver : std::string(), true) +
          "\"] [maturity \"0\"] [accuracy \"0\"]";
  for (const auto& t : rm.tags) line += " [tag \"" + ToHexIfNeeded(t, true) + "\"]";
  line += " [hostname \"" + server_ip + "\"] [uri \"" + LimitTo(200, uri_no_query_decoded) +
          "\"] [unique_id \"" + unique_id + "\"] [ref \"\"]";
  line = ToHexIfNeeded(line, false);
  m.line = std::move(line);
  logs.push_back(std::move(m));
}

void Transaction::State::ActionsIndependent(const CRule& r, Message& rm) {
  for (const auto& sv : r.rule->setvars) RunSetVar(sv, &r);
  for (const Rule* upd : r.action_updates) {
    for (const auto& sv : upd->setvars) RunSetVar(sv, &r);
  }
  if (r.rule->multi_match && r.rule->chained == nullptr) {
    if (r.rule->severity) {
      rm.severity = *r.rule->severity;
      highest_severity = std::min(highest_severity, *r.rule->severity);
    }
    if (!r.rule->logdata.empty()) rm.data = Expand(r.rule->logdata, &r);
    if (!r.rule->msg.empty()) rm.msg = Expand(r.rule->msg, &r);
  }
}

void Transaction::State::RunDisruptive(const CRule& r, Disruptive d, Message& rm) {
  if (engine != EngineMode::kOn) return;
  switch (d) {
    case Disruptive::kNone:
    case Disruptive::kPass:
      return;
    case Disruptive::kBlock: {
      const Rule* def = rules->defaults[r.phase];
      if (def != nullptr && def->disruptive != Disruptive::kBlock) {
        RunDisruptive(r, def->disruptive, rm);
      }
      return;
    }
    case Disruptive::kDeny:
    case Disruptive::kDrop:
      if (it.status == 200) it.status = 403;
      it.disruptive = true;
      it.rule_id = rm.id;
      rm.disruptive = true;
      return;
    case Disruptive::kRedirect:
      if (it.status == 200 || it.status < 300 || it.status > 399) it.status = 302;
      it.url = Expand(r.rule->redirect_url, &r);
      it.disruptive = true;
      it.rule_id = rm.id;
      rm.disruptive = true;
      return;
    case Disruptive::kAllow:
      allow = Allow::kFromNowOn;
      return;
  }
}

void Transaction::State::ActionsAfterFullMatch(const CRule& r, Message& rm) {
  const Rule& rule = *r.rule;
  bool disruptive_done = false;
  if (const Rule* def = rules->defaults[r.phase]) {
    // SecDefaultAction's non-disruptive actions run first (status, log/nolog, tags).
    if (def->status) it.status = *def->status;
    if (def->save_message) rm.save = *def->save_message;
    for (const auto& t : def->tags) rm.tags.push_back(t);
  }
  for (const auto& t : rule.tags) rm.tags.push_back(t);
  for (const Rule* upd : r.action_updates) {
    if (upd->save_message) rm.save = *upd->save_message;
    if (upd->status) it.status = *upd->status;
    RunDisruptive(r, upd->disruptive, rm);
    disruptive_done = true;
  }
  if (rule.severity) {
    rm.severity = *rule.severity;
    highest_severity = std::min(highest_severity, *rule.severity);
  }
  if (!rule.logdata.empty()) rm.data = Expand(rule.logdata, &r);
  if (!rule.msg.empty()) rm.msg = Expand(rule.msg, &r);
  if (rule.save_message) rm.save = *rule.save_message;
  if (rule.status) it.status = *rule.status;
  if (rule.skip > 0) skip_next = rule.skip;
  if (!rule.skip_after.empty()) marker = rule.skip_after;
  for (const auto& c : rule.ctls) RunCtl(c);
  // `block` (a runtime action, before the rule's own disruptive one): the phase's default
  // disruptive action.
  if (r.has_block && !disruptive_done) RunDisruptive(r, Disruptive::kBlock, rm);
  if (!disruptive_done && rule.disruptive != Disruptive::kBlock) {
    RunDisruptive(r, rule.disruptive, rm);
  }
}

bool Transaction::State::EvaluateRule(const CRule& r, Message& rm) {
  const Rule& rule = *r.rule;
  // RuleWithActions::evaluate clears the operator's matched list (captures); nothing to do.
  if (rule.kind == Rule::Kind::kAction) {
    ActionsIndependent(r, rm);
    ActionsAfterFullMatch(r, rm);
    // RuleUnconditional's performLogging(lastLog = true, chainedParentNull = false): logged
    // when it has `block`, or a message and log.
    if (!rule.multi_match && !rm.disruptive && (r.has_block || (rm.save && !rm.msg.empty()))) {
      Log(rm);
    }
    return true;
  }
  for (int64_t id : remove_ids) {
    if (id == rule.id) return true;
  }
  for (const auto& [a, b] : remove_ranges) {
    if (a <= rule.id && b >= rule.id) return true;
  }
  const Operator& op = *rule.op;
  std::string param;
  const bool macro = op.param_has_macro();
  if (macro) param = Expand(op.param(), &r);

  // getFinalVars
  std::vector<const CVar*> vars;
  auto excluded_var = [&](const CVar& v) {
    for (const auto& e : r.update_exclusions) {
      if (e.ref.collection == v.ref.collection && e.ref.key == v.ref.key &&
          e.full_name == v.full_name) {
        return true;
      }
    }
    for (const auto& [id, target] : remove_target_by_id) {
      if (id == rule.id && target == v.full_name) return true;
    }
    for (const auto& [tag, target] : remove_target_by_tag) {
      if (HasTag(rule, tag) && target == v.full_name) return true;
    }
    return false;
  };
  for (const auto& v : r.vars) {
    if (!excluded_var(v)) vars.push_back(&v);
  }
  for (const auto& v : r.update_additions) vars.push_back(&v);

  auto excluded_value = [&](const Value& val) {
    for (const auto& e : r.update_exclusions) {
      if (e.regex != nullptr) {
        if (e.regex->Search(val.key)) return true;
      } else if (val.key_with_collection == e.full_name) {
        return true;
      }
    }
    for (const auto& [id, target] : remove_target_by_id) {
      if (id == rule.id && target == val.key_with_collection) return true;
    }
    for (const auto& [tag, target] : remove_target_by_tag) {
      if (HasTag(rule, tag) && target == val.key_with_collection) return true;
    }
    return false;
  };

  const bool cache_on = rules->options.transformation_cache;
  bool matched = false;
  std::vector<Value> values;
  std::vector<std::string> stages;
  for (const CVar* v : vars) {
    values.clear();
    Resolve(*v, &r, values);
    for (const Value& val : values) {
      if (excluded_value(val)) continue;
      // Transformations (multiMatch: the original and every changed stage).
      stages.clear();
      if (!rule.multi_match && cache_on && !r.transformations.empty()) {
        // Transformations are pure: one result per (chain, value) and transaction.
        std::string key = r.chain_key;
        key += val.value;
        auto hit = transform_cache.find(key);
        if (hit == transform_cache.end()) {
          std::string out(
              tf_scratch.Run(r.transformations, val.value, rules->set->unicode_map.get()));
          hit = transform_cache.emplace(std::move(key), std::move(out)).first;
        }
        stages.push_back(hit->second);
      } else {
        std::string cur = val.value;
        if (rule.multi_match) stages.push_back(cur);
        std::string buf;
        for (Transformation t : r.transformations) {
          std::string_view res = Transform(t, cur, buf, rules->set->unicode_map.get());
          if (res != std::string_view(cur)) {
            std::string next(res);
            cur.swap(next);
            if (rule.multi_match) stages.push_back(cur);
          }
        }
        if (!rule.multi_match) stages.push_back(cur);
      }
      for (const std::string& input : stages) {
        bool ret = macro ? op.Evaluate(input, param, op_scratch) : op.Evaluate(input, op_scratch);
        // Captures (before negation, as the operators store them).
        if (ret && rule.capture) {
          switch (op.kind()) {
            case OperatorKind::kRx:
              for (const auto& c : op_scratch.captures()) {
                RunSetVar(SetVar{SetVar::Op::kSet, "TX", std::to_string(c.group),
                                 input.substr(c.offset, c.length)},
                          nullptr);
              }
              break;
            case OperatorKind::kPm:
            case OperatorKind::kPmFromFile:
            case OperatorKind::kDetectSqli:
              RunSetVar(SetVar{SetVar::Op::kSet, "TX", "0", std::string(op_scratch.matched())},
                        nullptr);
              break;
            case OperatorKind::kDetectXss:
              RunSetVar(SetVar{SetVar::Op::kSet, "TX", "0", input}, nullptr);
              break;
            default:
              break;
          }
        }
        if (rule.negated) ret = !ret;
        if (!ret) continue;
        // Match message (the parameter as written or expanded, the value before transformation).
        {
          // Operator::resolveMatchMessage: operators that take macros show the expansion, the
          // others their parameter without macros (what RunTimeString gives without a
          // transaction).
          const OperatorKind k = op.kind();
          const bool takes_macros = k == OperatorKind::kRx || k == OperatorKind::kGe ||
                                    k == OperatorKind::kGt || k == OperatorKind::kLt ||
                                    k == OperatorKind::kLe || k == OperatorKind::kEndsWith ||
                                    k == OperatorKind::kWithin;
          std::string shown_param = takes_macros ? (macro ? param : op.param())
                                                 : (macro ? StripMacros(op.param()) : op.param());
          if (k == OperatorKind::kDetectSqli) {
            rm.match = "detected SQLi using libinjection.";
          } else if (k == OperatorKind::kDetectXss) {
            rm.match = "detected XSS using libinjection.";
          } else {
            rm.match = "Matched \"Operator `" + std::string(LibraryOperatorName(k)) +
                       "' with parameter `" + LimitTo(200, shown_param) + "' against variable `" +
                       val.key_with_collection + "' (Value: `" +
                       LimitTo(100, ToHexIfNeeded(val.value, false)) + "' )";
          }
          rm.variable = val.key_with_collection;
        }
        UpdateMatched(val.key_with_collection, input);
        ActionsIndependent(r, rm);
        if (rule.multi_match && rm.save) {
          Log(rm);
          Message fresh;
          fresh.id = rm.id;
          fresh.head = rm.head;
          fresh.save = rm.save;
          rm = std::move(fresh);
        }
        matched = true;
      }
    }
  }
  if (!matched) {
    CleanMatched();
    return false;
  }
  if (rule.chained != nullptr || rule.chain_incomplete) {
    if (r.child == nullptr) return false;
    if (!EvaluateRule(*r.child, rm)) return false;
  }
  ActionsAfterFullMatch(r, rm);
  if (r.parent == nullptr && rm.save && !rule.multi_match) {
    if (!rm.disruptive) Log(rm);
  }
  return true;
}

void Transaction::State::EvaluatePhase(int phase) {
  if (allow == Allow::kFromNowOn && phase != 5) return;
  if (allow == Allow::kRequest && phase <= 2) return;
  allow = Allow::kNone;
  for (const auto& cr : rules->phases[phase]) {
    const Rule& rule = *cr->rule;
    if (marker && rule.kind != Rule::Kind::kMarker) continue;
    if (rule.kind == Rule::Kind::kMarker) {
      if (marker && *marker == rule.marker) marker.reset();
      continue;
    }
    if (skip_next > 0) {
      --skip_next;
      continue;
    }
    if (allow != Allow::kNone) continue;
    if (cr->removed) continue;
    bool removed = false;
    for (const auto& t : remove_tags) {
      if (HasTag(rule, t)) removed = true;
    }
    if (removed) continue;
    Message rm;
    rm.id = rule.id;
    rm.head = &rule;
    EvaluateRule(*cr, rm);
    if (it.disruptive) {
      if (rm.disruptive) Log(rm);
      break;
    }
  }
}

// --- arguments ---

bool Transaction::State::AddArgument(std::string_view origin, std::string_view key,
                                     std::string_view value) {
  const auto& set = *rules->set;
  Collection& args = Set("ARGS");
  if (set.arguments_limit && static_cast<int64_t>(args.size()) >= *set.arguments_limit) {
    return false;
  }
  args.emplace(std::string(key), std::string(value));
  if (origin == "GET") {
    Set("ARGS_GET").emplace(std::string(key), std::string(value));
  } else if (origin == "POST") {
    Set("ARGS_POST").emplace(std::string(key), std::string(value));
  }
  args_combined_size += static_cast<int64_t>(key.size() + value.size());
  SetScalar("ARGS_COMBINED_SIZE", std::to_string(args_combined_size));
  return true;
}

void Transaction::State::ExtractArguments(std::string_view origin, std::string_view buf) {
  bool invalid =
      ParseUrlEncoded(buf, rules->separator,
                      [&](std::string_view k, std::string_view v) { AddArgument(origin, k, v); });
  if (invalid) SetScalar("URLENCODED_ERROR", "1");
}

bool UrlDecodeNonStrict(std::string_view in, std::string& out) {
  out.clear();
  bool invalid = false;
  size_t i = 0;
  while (i < in.size()) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 < in.size() && HexDigitValue(in[i + 1]) >= 0 && HexDigitValue(in[i + 2]) >= 0) {
        out.push_back(
            static_cast<char>((HexDigitValue(in[i + 1]) << 4) | HexDigitValue(in[i + 2])));
        i += 3;
      } else {
        out.push_back(c);
        ++i;
        invalid = true;
      }
    } else {
      out.push_back(c == '+' ? ' ' : c);
      ++i;
    }
  }
  return invalid;
}

// --- Transaction ---

Transaction::Transaction(std::shared_ptr<const CompiledRules> rules, std::string unique_id)
    : s_(std::make_unique<State>()) {
  s_->rules = std::move(rules);
  s_->unique_id = std::move(unique_id);
  s_->engine = s_->rules->set->engine;
  s_->SetScalar("UNIQUE_ID", s_->unique_id);
}

Transaction::~Transaction() = default;

const EvalIntervention& Transaction::intervention() const { return s_->it; }
const std::vector<MatchLog>& Transaction::matches() const { return s_->logs; }

std::optional<std::string> Transaction::Tx(std::string_view name) const {
  auto f = s_->stores.find("TX");
  if (f == s_->stores.end()) return std::nullopt;
  auto v = f->second.find(std::string(name));
  if (v == f->second.end()) return std::nullopt;
  return v->second;
}

bool Transaction::AddArgument(std::string_view origin, std::string_view key,
                              std::string_view value) {
  return s_->AddArgument(origin, key, value);
}

void Transaction::AddToCollection(std::string_view collection, std::string_view key,
                                  std::string_view value) {
  s_->Set(collection).emplace(std::string(key), std::string(value));
}

void Transaction::SetScalar(std::string_view variable, std::string_view value) {
  s_->SetScalar(variable, value);
}

void Transaction::RemoveTargetById(int64_t id, std::string target) {
  s_->remove_target_by_id.emplace_back(id, std::move(target));
}

void Transaction::ProcessConnection(std::string_view client_ip, int client_port,
                                    std::string_view server_ip, int server_port) {
  s_->client_ip = std::string(client_ip);
  s_->server_ip = std::string(server_ip);
  s_->SetScalar("REMOTE_ADDR", client_ip);
  s_->SetScalar("REMOTE_HOST", client_ip);
  s_->SetScalar("REMOTE_PORT", std::to_string(client_port));
  s_->SetScalar("SERVER_ADDR", server_ip);
  s_->SetScalar("SERVER_PORT", std::to_string(server_port));
}

void Transaction::ProcessUri(std::string_view uri_in, std::string_view method,
                             std::string_view http_version) {
  State& s = *s_;
  // libmodsecurity's processURI takes C strings: each ends at its first NUL.
  auto c_string = [](std::string_view v) { return v.substr(0, v.find('\0')); };
  uri_in = c_string(uri_in);
  method = c_string(method);
  http_version = c_string(http_version);
  std::string uri_s(uri_in);
  size_t frag = uri_s.find('#');
  if (frag != std::string::npos) uri_s.resize(frag);
  size_t raw_q = uri_s.find('?');
  std::string decoded = UriDecode(uri_s);
  s.SetScalar("REQUEST_METHOD", method);
  std::string line = std::string(method) + " " + std::string(uri_in);
  s.SetScalar("REQUEST_LINE", line + " HTTP/" + std::string(http_version));
  s.SetScalar("REQUEST_PROTOCOL", "HTTP/" + std::string(http_version));
  size_t q = decoded.find('?');
  s.uri_no_query_decoded = q == std::string::npos ? decoded : decoded.substr(0, q);
  if (s.rules->options.fix_cve_2024_1019) {
    s.uri_no_query_decoded = UriDecode(raw_q == std::string::npos ? uri_s : uri_s.substr(0, raw_q));
  }
  std::string query;
  if (raw_q != std::string::npos) {
    query = uri_s.substr(raw_q + 1);
    s.SetScalar("QUERY_STRING", query);
  }
  const std::string& path_info = s.uri_no_query_decoded;
  s.SetScalar("PATH_INFO", path_info);
  s.SetScalar("REQUEST_FILENAME", path_info);
  size_t slash = path_info.find_last_of("/\\");
  if (slash != std::string::npos && path_info.size() > slash + 1) {
    s.SetScalar("REQUEST_BASENAME", path_info.substr(slash + 1));
  }
  std::string parsed = decoded;
  if (!decoded.empty() && decoded[0] != '/') {
    size_t colon = decoded.find(':');
    if (colon != std::string::npos) {
      size_t scheme = colon + 1;
      size_t nl = decoded.find("//", scheme);
      if (nl != std::string::npos && nl == scheme) {
        size_t netloc = nl + 2;
        size_t path = decoded.find('/', netloc);
        if (path != std::string::npos) parsed = decoded.substr(path);
      }
    }
  }
  s.SetScalar("REQUEST_URI", parsed);
  s.SetScalar("REQUEST_URI_RAW", uri_in);
  if (!query.empty()) s.ExtractArguments("GET", query);
}

void Transaction::AddRequestHeader(std::string_view key_in, std::string_view value_in) {
  State& s = *s_;
  const std::string key(key_in);
  const std::string value(value_in);
  s.Set("REQUEST_HEADERS_NAMES").emplace(key, key);
  s.Set("REQUEST_HEADERS").emplace(key, value);
  if (EqualsIgnoreCase(key, "authorization")) {
    size_t sp = value.find(' ');
    s.SetScalar("AUTH_TYPE", value.substr(0, sp));
  }
  if (EqualsIgnoreCase(key, "cookie")) {
    // ssplit on ';' (getline: no trailing empty piece), whitespace after the last pair dropped.
    std::vector<std::string> cookies;
    size_t pos = 0;
    while (pos < value.size()) {
      size_t end = value.find(';', pos);
      cookies.push_back(
          value.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
      if (end == std::string::npos) break;
      pos = end + 1;
    }
    if (!cookies.empty()) {
      std::string& last = cookies.back();
      while (!last.empty() && std::isspace(static_cast<unsigned char>(last.back())))
        last.pop_back();
    }
    for (const std::string& c : cookies) {
      if (c.empty()) continue;
      size_t eq = c.find('=');
      std::string ckey = eq == std::string::npos ? c : c.substr(0, eq);
      std::string cval = eq == std::string::npos ? std::string() : c.substr(eq + 1);
      size_t ws = 0;
      while (ws < ckey.size() && std::isspace(static_cast<unsigned char>(ckey[ws]))) ++ws;
      ckey.erase(0, ws);
      if (ckey.empty()) continue;
      s.Set("REQUEST_COOKIES_NAMES").emplace(ckey, ckey);
      s.Set("REQUEST_COOKIES").emplace(ckey, cval);
    }
  }
  if (EqualsIgnoreCase(key, "content-type")) {
    std::string l = value;
    for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (l.rfind("multipart/form-data", 0) == 0) {
      s.body_type = State::BodyType::kMultipart;
      s.SetScalar("REQBODY_PROCESSOR", "MULTIPART");
    }
    if (l.rfind("application/x-www-form-urlencoded", 0) == 0) {
      s.body_type = State::BodyType::kUrlEncoded;
      s.SetScalar("REQBODY_PROCESSOR", "URLENCODED");
    }
  }
  if (EqualsIgnoreCase(key, "host")) {
    size_t colon = value.find(':');
    s.SetScalar("SERVER_NAME", value.substr(0, colon));
  }
}

void Transaction::ProcessRequestHeaders() {
  if (s_->engine == EngineMode::kOff) return;
  s_->EvaluatePhase(1);
}

void Transaction::AppendRequestBody(std::string_view bytes) {
  State& s = *s_;
  const auto& set = *s.rules->set;
  const int64_t limit = set.request_body_limit.value_or(0);
  const int64_t cur = static_cast<int64_t>(s.request_body.size());
  if (limit > 0 && limit < static_cast<int64_t>(bytes.size()) + cur) {
    s.SetScalar("INBOUND_DATA_ERROR", "1");
    if (set.request_body_limit_action == "ProcessPartial") {
      s.request_body.append(
          bytes.substr(0, static_cast<size_t>(std::max<int64_t>(0, limit - cur))));
      return;
    }
    if (s.engine == EngineMode::kOn) {
      s.it.status = 403;
      s.it.disruptive = true;
    }
    return;
  }
  s.request_body.append(bytes);
}

void Transaction::ProcessRequestBody() {
  State& s = *s_;
  if (s.engine == EngineMode::kOff) return;
  const auto& set = *s.rules->set;
  if (s.Scalar("INBOUND_DATA_ERROR").empty()) s.SetScalar("INBOUND_DATA_ERROR", "0");
  // The body processor 3.0.9 runs: ctl:requestBodyProcessor=XML|JSON first, then the
  // Content-Type's multipart or URL-encoded (seclang/body decides limits and error flags).
  body::BodyInput input;
  if (s.body_proc == State::BodyProc::kXml) {
    input.kind = body::BodyProcessorKind::kXml;
  } else if (s.body_proc == State::BodyProc::kJson) {
    input.kind = body::BodyProcessorKind::kJson;
  } else if (s.body_type == State::BodyType::kMultipart) {
    input.kind = body::BodyProcessorKind::kMultipart;
  } else if (s.body_type == State::BodyType::kUrlEncoded) {
    input.kind = body::BodyProcessorKind::kUrlEncoded;
  }
  std::string content_type;
  {
    const Collection& headers = s.Set("REQUEST_HEADERS");
    auto range = headers.equal_range("content-type");
    if (range.first != range.second) {
      content_type = range.first->second;
      input.content_type = content_type;
    }
  }
  input.body = s.request_body;
  input.args_before = s.Set("ARGS").size();
  body::BodySettings settings;
  if (set.request_body_no_files_limit) {
    settings.no_files_limit = static_cast<uint64_t>(*set.request_body_no_files_limit);
  }
  if (set.arguments_limit) settings.arguments_limit = static_cast<uint64_t>(*set.arguments_limit);
  if (set.request_body_json_depth_limit) {
    settings.json_depth_limit = static_cast<double>(*set.request_body_json_depth_limit);
  }
  s.body_result.Reset();
  s.body_processor.Process(input, settings, &s.body_result);
  const body::BodyResult& br = s.body_result;
  s.xml = br.xml();
  if (br.parse_urlencoded) s.ExtractArguments("POST", s.request_body);
  for (const auto& a : br.args) {
    s.Set("ARGS").emplace(std::string(a.name), std::string(a.value));
    if (br.args_are_post) s.Set("ARGS_POST").emplace(std::string(a.name), std::string(a.value));
  }
  if (br.args_combined_size_added > 0) {
    s.args_combined_size += static_cast<int64_t>(br.args_combined_size_added);
    s.SetScalar("ARGS_COMBINED_SIZE", std::to_string(s.args_combined_size));
  }
  for (const auto& f : br.files) {
    s.Set("FILES").emplace(std::string(f.name), std::string(f.filename));
    s.Set("FILES_NAMES").emplace(std::string(f.name), std::string(f.name));
    s.Set("FILES_SIZES").emplace(std::string(f.name), std::string(f.size));
    // FILES_TMP_CONTENT: 3.0.9 keeps the content only with upload storage (Ward has none).
    s.Set("FILES_TMP_CONTENT").emplace(std::string(f.name), std::string());
  }
  if (br.files_combined_size.set) {
    s.SetScalar("FILES_COMBINED_SIZE", br.files_combined_size.value);
  }
  for (const auto& n : br.multipart_names) {
    s.Set("MULTIPART_NAME").emplace(std::string(n.name), std::string(n.value));
  }
  for (const auto& n : br.multipart_filenames) {
    s.Set("MULTIPART_FILENAME").emplace(std::string(n.name), std::string(n.value));
  }
  for (const auto& n : br.multipart_part_headers) {
    s.Set("MULTIPART_PART_HEADERS").emplace(std::string(n.name), std::string(n.value));
  }
  if (br.multipart.set) {
    const auto& m = br.multipart;
    const std::pair<const char*, int> flags[] = {
        {"MULTIPART_STRICT_ERROR", m.strict_error},
        {"MULTIPART_UNMATCHED_BOUNDARY", m.unmatched_boundary},
        {"MULTIPART_DATA_BEFORE", m.data_before},
        {"MULTIPART_DATA_AFTER", m.data_after},
        {"MULTIPART_BOUNDARY_QUOTED", m.boundary_quoted},
        {"MULTIPART_BOUNDARY_WHITESPACE", m.boundary_whitespace},
        {"MULTIPART_HEADER_FOLDING", m.header_folding},
        {"MULTIPART_LF_LINE", m.lf_line},
        {"MULTIPART_CRLF_LF_LINES", m.crlf_lf_lines},
        {"MULTIPART_MISSING_SEMICOLON", m.missing_semicolon},
        {"MULTIPART_INVALID_QUOTING", m.invalid_quoting},
        {"MULTIPART_INVALID_PART", m.invalid_part},
        {"MULTIPART_INVALID_HEADER_FOLDING", m.invalid_header_folding},
    };
    for (const auto& [name, value] : flags) s.SetScalar(name, std::to_string(value));
  }
  const std::pair<const char*, const body::ScalarVar*> scalars[] = {
      {"REQBODY_ERROR", &br.reqbody_error},
      {"REQBODY_ERROR_MSG", &br.reqbody_error_msg},
      {"REQBODY_PROCESSOR_ERROR", &br.reqbody_processor_error},
      {"REQBODY_PROCESSOR_ERROR_MSG", &br.reqbody_processor_error_msg},
  };
  for (const auto& [name, var] : scalars) {
    if (var->set) s.SetScalar(name, var->value);
  }
  if (br.inbound_data_error) s.SetScalar("INBOUND_DATA_ERROR", "1");
  if (!set.request_body_access) {
    if (!(s.body_access && *s.body_access)) return;
  } else if (s.body_access && !*s.body_access) {
    return;
  }
  std::string full;
  {
    std::vector<Value> hs;
    CVar v = MakeVar(VariableRef{"REQUEST_HEADERS", "", false, false, false});
    s.ResolveBase(v, nullptr, hs);
    for (const auto& h : hs) full += h.key + ": " + h.value + "\n";
  }
  full += "\n\n";
  full += s.request_body;
  s.SetScalar("FULL_REQUEST_LENGTH", std::to_string(full.size()));
  s.SetScalar("FULL_REQUEST", full);
  if (!s.request_body.empty()) {
    s.SetScalar("REQUEST_BODY", s.request_body);
    s.SetScalar("REQUEST_BODY_LENGTH", std::to_string(s.request_body.size()));
  }
  s.EvaluatePhase(2);
}

void Transaction::AddResponseHeader(std::string_view key_in, std::string_view value_in) {
  State& s = *s_;
  const std::string key(key_in);
  const std::string value(value_in);
  s.Set("RESPONSE_HEADERS_NAMES").emplace(key, key);
  s.Set("RESPONSE_HEADERS").emplace(key, value);
  if (EqualsIgnoreCase(key, "content-type")) {
    size_t semi = value.find(';');
    if (!(semi == 0 && value.size() == 1))
      s.SetScalar("RESPONSE_CONTENT_TYPE", value.substr(0, semi));
  }
}

void Transaction::ProcessResponseHeaders(int status, std::string_view protocol) {
  State& s = *s_;
  s.SetScalar("RESPONSE_STATUS", std::to_string(status));
  s.SetScalar("RESPONSE_PROTOCOL", protocol);
  if (s.engine == EngineMode::kOff) return;
  s.EvaluatePhase(3);
}

void Transaction::AppendResponseBody(std::string_view bytes) {
  State& s = *s_;
  const auto& set = *s.rules->set;
  const int64_t limit = set.response_body_limit.value_or(0);
  const int64_t cur = static_cast<int64_t>(s.response_body.size());
  if (limit > 0 && limit < static_cast<int64_t>(bytes.size()) + cur) {
    s.SetScalar("OUTBOUND_DATA_ERROR", "1");
    s.response_body.append(bytes.substr(0, static_cast<size_t>(std::max<int64_t>(0, limit - cur))));
    return;
  }
  s.response_body.append(bytes);
}

void Transaction::ProcessResponseBody() {
  State& s = *s_;
  if (s.engine == EngineMode::kOff) return;
  const auto& set = *s.rules->set;
  if (!set.response_body_access) return;
  const std::string ct = s.Scalar("RESPONSE_CONTENT_TYPE");
  if (!set.response_body_mime_types.empty() &&
      std::find(set.response_body_mime_types.begin(), set.response_body_mime_types.end(), ct) ==
          set.response_body_mime_types.end()) {
    return;
  }
  if (s.Scalar("OUTBOUND_DATA_ERROR").empty()) s.SetScalar("OUTBOUND_DATA_ERROR", "0");
  s.SetScalar("RESPONSE_BODY", s.response_body);
  s.SetScalar("RESPONSE_CONTENT_LENGTH", std::to_string(s.response_body.size()));
  s.EvaluatePhase(4);
}

void Transaction::ProcessLogging() {
  if (s_->engine == EngineMode::kOff) return;
  s_->EvaluatePhase(5);
}

}  // namespace ward::seclang
