#include "agent/modules/ips/seclang/evaluator.h"

#include "agent/modules/ips/seclang/body/request_body.h"
#include "agent/modules/ips/seclang/persistent.h"
#include "agent/modules/ips/seclang/regex_prefilter.h"
#include "common/text.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <set>
#include <span>
#include <unordered_map>
#include <utility>

namespace ward::seclang {

namespace {
// tolower() of the "C" locale, inline: only A-Z change (libmodsecurity passes a plain char).
inline int AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }
}  // namespace

size_t CiHash::operator()(std::string_view k) const {
  // MyHash: `h += tolower(c)` with `c` a (signed) char. glibc's tolower maps -128..-2 to
  // 128..254 and leaves -1 (EOF): a byte >= 0x80 adds its unsigned value, 0xff adds -1.
  size_t h = 0;
  for (const char c : k) {
    const auto u = static_cast<unsigned char>(c);
    if (u == 0xff) {
      h -= 1;
    } else {
      h += (u >= 'A' && u <= 'Z') ? static_cast<size_t>(u) + 32 : static_cast<size_t>(u);
    }
  }
  return h;
}

bool CiEqual::operator()(std::string_view a, std::string_view b) const {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

namespace {

// libmodsecurity's utils::string::limitTo and toHexIfNeeded (log lines).
std::string LimitTo(size_t amount, const std::string& str) {
  if (str.size() <= amount) return str;
  return str.substr(0, amount) + " (" + std::to_string(str.size() - amount) +
         " characters omitted)";
}

std::string ToHexIfNeeded(std::string_view str, bool escape_spec) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto needs = [escape_spec](unsigned char c) {
    return c < 32 || c > 126 || (escape_spec && (c == '"' || c == '\\'));
  };
  std::string out;
  out.reserve(str.size());
  size_t i = 0;
  while (i < str.size()) {
    // The run of bytes kept as they are, appended at once (log lines are mostly printable).
    size_t j = i;
    while (j < str.size() && !needs(static_cast<unsigned char>(str[j]))) ++j;
    out.append(str.substr(i, j - i));
    if (j == str.size()) break;
    const auto c = static_cast<unsigned char>(str[j]);
    out += "\\x";
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
    i = j + 1;
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
  // Whether the regex matches somewhere in `s`. One match-data block per thread (one pair is
  // enough to learn that it matched: PCRE2 returns 0, "ovector too small", on a match then).
  bool Search(std::string_view s) const {
    if (code_ == nullptr) return false;
    struct Md {
      pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
      ~Md() { pcre2_match_data_free(md); }
    };
    thread_local Md t_md;
    int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0, 0, t_md.md,
                         nullptr);
    return rc >= 0;
  }

 private:
  pcre2_code* code_ = nullptr;
};

// The empty value: never a null pointer (the C functions transformations and operators call, such
// as memchr and memcpy, must not get one, even with a zero length).
constexpr std::string_view kEmpty("", 0);

// ---------------------------------------------------------------------------------------------
// Per-transaction memory: a bump arena whose blocks are kept when it is rewound, so a warm
// transaction copies into memory it already has. Nothing allocated from it is freed before the
// rewind: a view into it stays valid for the whole transaction, whatever is assigned later.

class Arena {
 public:
  char* Alloc(size_t n, size_t align = 1) {
    if (cur_ < blocks_.size()) {
      size_t p = (pos_ + align - 1) & ~(align - 1);
      if (p + n <= blocks_[cur_].size) {
        pos_ = p + n;
        return blocks_[cur_].data.get() + p;
      }
    }
    return Slow(n, align);
  }
  std::string_view Copy(std::string_view s) {
    if (s.empty()) return kEmpty;
    char* d = Alloc(s.size());
    std::memcpy(d, s.data(), s.size());
    return {d, s.size()};
  }
  // The concatenation of `parts`.
  std::string_view Concat(std::initializer_list<std::string_view> parts) {
    size_t n = 0;
    for (auto p : parts) n += p.size();
    if (n == 0) return kEmpty;
    char* d = Alloc(n);
    size_t o = 0;
    for (auto p : parts) {
      if (!p.empty()) std::memcpy(d + o, p.data(), p.size());
      o += p.size();
    }
    return {d, n};
  }
  std::string_view Number(int64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);
    return Copy(std::string_view(buf, static_cast<size_t>(r.ptr - buf)));
  }
  // Rewinds; blocks beyond kKeep bytes in all are released (one large request does not pin its
  // memory for ever).
  void Reset() {
    size_t kept = 0;
    size_t i = 0;
    for (; i < blocks_.size(); ++i) {
      if (kept + blocks_[i].size > kKeep && i > 0) break;
      kept += blocks_[i].size;
    }
    blocks_.resize(i);
    cur_ = 0;
    pos_ = 0;
  }

 private:
  static constexpr size_t kBlock = 64 * 1024;
  static constexpr size_t kKeep = 1024 * 1024;
  struct Block {
    std::unique_ptr<char[]> data;
    size_t size = 0;
  };
  char* Slow(size_t n, size_t align) {
    for (size_t i = blocks_.empty() ? 0 : cur_ + 1; i < blocks_.size(); ++i) {
      if (blocks_[i].size >= n + align) {
        cur_ = i;
        pos_ = 0;
        return Alloc(n, align);
      }
    }
    const size_t size = std::max(kBlock, n + align);
    blocks_.push_back(Block{std::unique_ptr<char[]>(new char[size]), size});
    cur_ = blocks_.size() - 1;
    pos_ = 0;
    return Alloc(n, align);
  }
  std::vector<Block> blocks_;
  size_t cur_ = 0;
  size_t pos_ = 0;
};

template <typename T>
struct ArenaAlloc {
  using value_type = T;
  Arena* arena;
  explicit ArenaAlloc(Arena* a) : arena(a) {}
  template <typename U>
  ArenaAlloc(const ArenaAlloc<U>& o) : arena(o.arena) {}  // NOLINT: allocator rebinding
  T* allocate(size_t n) { return reinterpret_cast<T*>(arena->Alloc(n * sizeof(T), alignof(T))); }
  void deallocate(T*, size_t) {}
  template <typename U>
  bool operator==(const ArenaAlloc<U>& o) const {
    return arena == o.arena;
  }
};

// A collection's value, with the numbers the transformation cache knows it (and its key) by in
// this transaction (0: not transformed yet). Assigning a new value forgets them.
struct Entry {
  Entry() = default;
  Entry(std::string_view v) : value(v) {}  // NOLINT: a value is an entry
  std::string_view value = kEmpty;
  mutable uint32_t tf_id = 0;
  mutable uint32_t key_tf_id = 0;
};

// A key whose CiHash is known (computed once, at compile time, for the keys rules name).
struct HashedKey {
  std::string_view key;
  size_t hash;
};
// CiHash and CiEqual, also for a HashedKey (heterogeneous lookup).
struct KeyHash {
  using is_transparent = void;
  size_t operator()(std::string_view k) const { return CiHash{}(k); }
  size_t operator()(const HashedKey& k) const { return k.hash; }
};
struct KeyEqual {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return CiEqual{}(a, b); }
  bool operator()(const HashedKey& a, std::string_view b) const { return CiEqual{}(a.key, b); }
  bool operator()(std::string_view a, const HashedKey& b) const { return CiEqual{}(a, b.key); }
};

// libmodsecurity's container for collections (see CiHash), keys and values views into the
// transaction's arena (or the compiled rules).
using Collection = std::unordered_multimap<std::string_view, Entry, KeyHash, KeyEqual,
                                           ArenaAlloc<std::pair<const std::string_view, Entry>>>;

// ---------------------------------------------------------------------------------------------
// Variables resolved to ids at compile time.

// How a collection is resolved (decided once per variable, not per evaluation).
enum class VarKind : uint8_t { kSet, kNames, kStore, kRule, kXml, kHighestSeverity, kEnv, kScalar };

// Collections that are libmodsecurity AnchoredSetVariables; the index is the collection's id.
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
enum SetId : int {
  kArgs,
  kArgsGet,
  kArgsPost,
  kRequestHeaders,
  kRequestHeadersNames,
  kRequestCookies,
  kRequestCookiesNames,
  kResponseHeaders,
  kResponseHeadersNames,
  kFiles,
  kFilesNames,
  kFilesSizes,
  kFilesTmpnames,
  kFilesTmpContent,
  kMultipartPartHeaders,
  kMultipartName,
  kMultipartFilename,
  kMatchedVars,
  kMatchedVarsNames,
  kGeo,
  kEnvSet,
  kSetCount
};
static_assert(std::size(kSetCollections) == kSetCount);

// Collections whose names are the keys of another (AnchoredSetVariableTranslationProxy).
constexpr std::pair<std::string_view, int> kNameProxies[] = {
    {"ARGS_NAMES", kArgs},
    {"ARGS_GET_NAMES", kArgsGet},
    {"ARGS_POST_NAMES", kArgsPost},
};
// Persistent-style collections (libmodsecurity's InMemoryPerProcess backend).
constexpr std::string_view kStoreCollections[] = {"TX",   "IP",     "SESSION",
                                                  "USER", "GLOBAL", "RESOURCE"};
constexpr int kStoreTx = 0;
constexpr int kStoreCount = static_cast<int>(std::size(kStoreCollections));

// The scalars the evaluator itself sets; a rule's other scalars get ids after these.
constexpr std::string_view kBuiltinScalars[] = {
    "REMOTE_ADDR",
    "REMOTE_HOST",
    "REMOTE_PORT",
    "SERVER_ADDR",
    "SERVER_PORT",
    "UNIQUE_ID",
    "REQUEST_METHOD",
    "REQUEST_LINE",
    "REQUEST_PROTOCOL",
    "QUERY_STRING",
    "PATH_INFO",
    "REQUEST_FILENAME",
    "REQUEST_BASENAME",
    "REQUEST_URI",
    "REQUEST_URI_RAW",
    "AUTH_TYPE",
    "REQBODY_PROCESSOR",
    "SERVER_NAME",
    "URLENCODED_ERROR",
    "ARGS_COMBINED_SIZE",
    "MATCHED_VAR",
    "MATCHED_VAR_NAME",
    "INBOUND_DATA_ERROR",
    "OUTBOUND_DATA_ERROR",
    "FILES_COMBINED_SIZE",
    "REQBODY_ERROR",
    "REQBODY_ERROR_MSG",
    "REQBODY_PROCESSOR_ERROR",
    "REQBODY_PROCESSOR_ERROR_MSG",
    "FULL_REQUEST",
    "FULL_REQUEST_LENGTH",
    "REQUEST_BODY",
    "REQUEST_BODY_LENGTH",
    "RESPONSE_CONTENT_TYPE",
    "RESPONSE_STATUS",
    "RESPONSE_PROTOCOL",
    "RESPONSE_BODY",
    "RESPONSE_CONTENT_LENGTH",
    "MULTIPART_STRICT_ERROR",
    "MULTIPART_UNMATCHED_BOUNDARY",
    "MULTIPART_DATA_BEFORE",
    "MULTIPART_DATA_AFTER",
    "MULTIPART_BOUNDARY_QUOTED",
    "MULTIPART_BOUNDARY_WHITESPACE",
    "MULTIPART_HEADER_FOLDING",
    "MULTIPART_LF_LINE",
    "MULTIPART_CRLF_LF_LINES",
    "MULTIPART_MISSING_SEMICOLON",
    "MULTIPART_INVALID_QUOTING",
    "MULTIPART_INVALID_PART",
    "MULTIPART_INVALID_HEADER_FOLDING",
};
enum ScalarId : int {
  kRemoteAddr,
  kRemoteHost,
  kRemotePort,
  kServerAddr,
  kServerPort,
  kUniqueId,
  kRequestMethod,
  kRequestLine,
  kRequestProtocol,
  kQueryString,
  kPathInfo,
  kRequestFilename,
  kRequestBasename,
  kRequestUri,
  kRequestUriRaw,
  kAuthType,
  kReqbodyProcessor,
  kServerName,
  kUrlencodedError,
  kArgsCombinedSize,
  kMatchedVar,
  kMatchedVarName,
  kInboundDataError,
  kOutboundDataError,
  kFilesCombinedSize,
  kReqbodyError,
  kReqbodyErrorMsg,
  kReqbodyProcessorError,
  kReqbodyProcessorErrorMsg,
  kFullRequest,
  kFullRequestLength,
  kRequestBody,
  kRequestBodyLength,
  kResponseContentType,
  kResponseStatus,
  kResponseProtocol,
  kResponseBody,
  kResponseContentLength,
  kMultipartStrictError,  // the 13 MULTIPART_* flags follow in BodyResult's order
  kBuiltinScalarCount = kMultipartStrictError + 13,
};
static_assert(std::size(kBuiltinScalars) == kBuiltinScalarCount);

int IndexOf(std::span<const std::string_view> names, std::string_view name) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<int>(i);
  }
  return -1;
}

// Names of scalars: the built-in ones, then those rules name (ids fixed at compile time).
class ScalarNames {
 public:
  int Find(std::string_view name) const {
    int b = IndexOf(kBuiltinScalars, name);
    if (b >= 0) return b;
    auto f = extra_.find(name);
    return f == extra_.end() ? -1 : f->second;
  }
  int Intern(std::string_view name) {
    int id = Find(name);
    if (id >= 0) return id;
    id = kBuiltinScalarCount + static_cast<int>(extra_.size());
    extra_.emplace(std::string(name), id);
    return id;
  }
  size_t size() const { return kBuiltinScalarCount + extra_.size(); }

 private:
  std::map<std::string, int, std::less<>> extra_;
};

struct CVar {
  VarKind kind = VarKind::kScalar;
  int id = -1;  // kSet/kNames: the set holding the values; kStore: the store; kScalar: the scalar
  VariableRef ref;
  size_t key_hash = 0;    // CiHash of ref.key
  std::string full_name;  // libmodsecurity's m_fullName ("ARGS:foo", "ARGS:regex(^a)", "TX")
  std::shared_ptr<KeyRegex> regex;
  // In-rule exclusions of keys of this collection (`!ARGS:foo`): string (case-insensitive) or
  // regex.
  std::vector<std::string> exclude_keys;
  std::vector<std::shared_ptr<KeyRegex>> exclude_regexes;
  // The @rx prefilter (CompiledRules::prefilters) of this variable of its rule — the group of
  // (transformation chain, collection) — and the rule's pattern in it; -1: none.
  int32_t pf_group = -1;
  uint32_t pf_index = 0;
};

std::string FullName(const VariableRef& v) {
  if (v.key.empty()) return v.collection;
  if (v.key_is_regex) return v.collection + ":regex(" + v.key + ")";
  return v.collection + ":" + v.key;
}

bool SameVariable(const VariableRef& a, const VariableRef& b) {
  return a.collection == b.collection && a.key == b.key && a.key_is_regex == b.key_is_regex;
}

VarKind Classify(std::string_view c, ScalarNames& scalars, int* id) {
  for (const auto& [proxy, base] : kNameProxies) {
    if (c == proxy) {
      *id = base;
      return VarKind::kNames;
    }
  }
  if ((*id = IndexOf(kSetCollections, c)) >= 0) return VarKind::kSet;
  if ((*id = IndexOf(kStoreCollections, c)) >= 0) return VarKind::kStore;
  if (c == "RULE") return VarKind::kRule;
  if (c == "XML") return VarKind::kXml;
  if (c == "HIGHEST_SEVERITY") return VarKind::kHighestSeverity;
  if (c == "ENV") return VarKind::kEnv;
  *id = scalars.Intern(c);
  return VarKind::kScalar;
}

CVar MakeVar(const VariableRef& ref, ScalarNames& scalars) {
  CVar v;
  v.ref = ref;
  v.ref.exclude = false;
  v.full_name = FullName(ref);
  v.key_hash = CiHash{}(ref.key);
  if (ref.key_is_regex) v.regex = std::make_shared<KeyRegex>(ref.key);
  v.kind = Classify(ref.collection, scalars, &v.id);
  return v;
}

// A text with macros (%{TX.score}), split once into literal pieces and variables.
struct Macro {
  std::string text;      // as written
  size_t text_hash = 0;  // CiHash of text (a collection key without macros)
  bool has = false;      // holds a macro
  struct Segment {
    std::string literal;  // before the variable
    int var = -1;         // index into vars, or -1 (the trailing literal)
  };
  std::vector<Segment> segments;
  std::vector<CVar> vars;
};

// Splits `text` as the runtime expansion reads it: "%{" up to the next '}', the name split at
// the first ':' (else '.') into collection and key, a key in slashes is a regex.
Macro CompileMacro(std::string_view text, ScalarNames& scalars) {
  Macro m;
  m.text = std::string(text);
  m.text_hash = CiHash{}(m.text);
  if (text.find("%{") == std::string_view::npos) return m;
  m.has = true;
  size_t i = 0;
  while (i < text.size()) {
    size_t open = text.find("%{", i);
    if (open == std::string_view::npos) {
      m.segments.push_back({std::string(text.substr(i)), -1});
      break;
    }
    size_t close = text.find('}', open + 2);
    if (close == std::string_view::npos) {
      m.segments.push_back({std::string(text.substr(i)), -1});
      break;
    }
    std::string_view name = text.substr(open + 2, close - open - 2);
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
    m.segments.push_back({std::string(text.substr(i, open - i)), static_cast<int>(m.vars.size())});
    m.vars.push_back(MakeVar(ref, scalars));
    i = close + 1;
  }
  return m;
}

// A setvar with its store resolved and its name and value split into macros.
struct CSetVar {
  SetVar::Op op = SetVar::Op::kSet;
  int store = -1;  // -1: a collection no rule can read
  Macro name;
  Macro value;
};

CSetVar CompileSetVar(const SetVar& sv, ScalarNames& scalars) {
  CSetVar c;
  c.op = sv.op;
  c.store = IndexOf(kStoreCollections, sv.collection);
  c.name = CompileMacro(sv.name, scalars);
  c.value = CompileMacro(sv.value, scalars);
  return c;
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
  // The transformation cache's id of each prefix of the chain (tf_nodes[i]: the first i + 1).
  std::vector<uint32_t> tf_nodes;
  // SecRuleUpdateTargetBy*: exclusions and additions.
  std::vector<CVar> update_exclusions;
  std::vector<CVar> update_additions;
  // SecRuleUpdateActionById for this id (the disruptive action replaces the rule's).
  std::vector<const Rule*> action_updates;
  bool removed = false;  // SecRuleRemoveById/ByTag/ByMsg (heads only)
  bool has_block = false;
  // Texts with macros, split once.
  Macro op_param, msg, logdata, redirect;
  std::vector<CSetVar> setvars;         // the rule's own
  std::vector<CSetVar> update_setvars;  // those of SecRuleUpdateActionById, in order
  // Persistent collections (persistent.h): initcol (store, key), setsid/setuid/setrsc (key, with
  // the SESSIONID/USERID scalar, -1 for none), expirevar (store, name, seconds).
  struct CollectionKey {
    int store = -1;
    int scalar = -1;
    Macro key;
  };
  std::vector<CollectionKey> collection_keys;
  struct ExpireVar {
    int store = -1;
    Macro name, seconds;
  };
  std::vector<ExpireVar> expirevars;
  // Every variable reads a set (ARGS, REQUEST_COOKIES, ...), none counts: when they are all
  // empty the rule cannot match (skipped without resolving anything).
  bool only_sets = false;
};

class CompiledRules {
 public:
  std::unique_ptr<RuleSet> set;
  EvalOptions options;
  std::vector<std::unique_ptr<CRule>> phases[6];  // 1..5 used
  const Rule* defaults[6] = {};
  char separator = '&';
  ScalarNames scalars;
  std::map<std::string, uint32_t> tf_prefixes;  // transformation prefix (bytes) -> cache id
  // Per phase: each SecMarker's positions in phases[p], ascending (skipAfter jumps there).
  std::map<std::string, std::vector<size_t>, std::less<>> markers[6];
  // Per phase: each rule's skipAfter string (by address) -> its marker's positions there (absent:
  // the marker is not in that phase, or the string is not a compiled rule's).
  std::unordered_map<const std::string*, const std::vector<size_t>*> marker_by_address[6];
  CVar all_request_headers;       // REQUEST_HEADERS, for FULL_REQUEST
  std::vector<CVar> rule_fields;  // RULE:id, rev, severity, logdata, msg
  // @rx prefilters, one per (transformation chain, collection) that @rx rules read
  // (CVar::pf_group).
  std::vector<std::unique_ptr<RegexPrefilter>> prefilters;
};

namespace {

// initcol (ip, global and resource only, as 3.0.9), setsid, setuid, setrsc and expirevar on
// persistent collections.
void CompileCollectionActions(const Rule& r, ScalarNames& scalars, CRule& out) {
  for (const auto& [collection, key] : r.initcols) {
    if (collection == "IP" || collection == "GLOBAL" || collection == "RESOURCE") {
      out.collection_keys.push_back(
          {IndexOf(kStoreCollections, collection), -1, CompileMacro(key, scalars)});
    }
  }
  auto set_key = [&](const std::string& text, std::string_view collection, const char* scalar) {
    if (text.empty()) return;
    out.collection_keys.push_back({IndexOf(kStoreCollections, collection),
                                   scalar != nullptr ? scalars.Intern(scalar) : -1,
                                   CompileMacro(text, scalars)});
  };
  set_key(r.setsid, "SESSION", "SESSIONID");
  set_key(r.setuid, "USER", "USERID");
  set_key(r.setrsc, "RESOURCE", nullptr);
  for (const auto& [variable, seconds] : r.expirevars) {
    const size_t dot = variable.find_first_of(".:");
    if (dot == std::string::npos) continue;
    const int store = IndexOf(kStoreCollections, UpperCase(variable.substr(0, dot)));
    if (store <= kStoreTx) continue;  // TX ends with its transaction
    out.expirevars.push_back(
        {store, CompileMacro(variable.substr(dot + 1), scalars), CompileMacro(seconds, scalars)});
  }
}

Status CompileRule(CompiledRules& c, const Rule& r, const CRule* parent, int phase, CRule& out) {
  const RuleSet& set = *c.set;
  ScalarNames& scalars = c.scalars;
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
    CVar cv = MakeVar(v, scalars);
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
  {
    std::string prefix;
    for (Transformation t : out.transformations) {
      prefix.push_back(static_cast<char>(t));
      auto [it, fresh] = c.tf_prefixes.emplace(prefix, static_cast<uint32_t>(c.tf_prefixes.size()));
      out.tf_nodes.push_back(it->second);
    }
  }
  out.has_block = r.block || r.disruptive == Disruptive::kBlock;
  // Configuration-time exceptions.
  auto has_tag = [&](const std::string& tag) {
    return std::find(r.tags.begin(), r.tags.end(), tag) != r.tags.end();
  };
  auto add_updates = [&](const std::vector<VariableRef>& refs) {
    for (const auto& v : refs) {
      if (v.exclude) {
        out.update_exclusions.push_back(MakeVar(v, scalars));
      } else {
        out.update_additions.push_back(MakeVar(v, scalars));
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
      for (const auto& sv : upd->setvars) {
        out.update_setvars.push_back(CompileSetVar(sv, scalars));
      }
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
  if (r.op != nullptr) out.op_param = CompileMacro(r.op->param(), scalars);
  out.msg = CompileMacro(r.msg, scalars);
  out.logdata = CompileMacro(r.logdata, scalars);
  out.redirect = CompileMacro(r.redirect_url, scalars);
  for (const auto& sv : r.setvars) out.setvars.push_back(CompileSetVar(sv, scalars));
  CompileCollectionActions(r, scalars, out);
  out.only_sets = !out.vars.empty() || !out.update_additions.empty();
  for (const auto* list : {&out.vars, &out.update_additions}) {
    for (const CVar& v : *list) {
      if (v.ref.count || (v.kind != VarKind::kSet && v.kind != VarKind::kNames)) {
        out.only_sets = false;
      }
    }
  }
  if (r.chained != nullptr) {
    out.child = std::make_unique<CRule>();
    // A chain member runs in its own phase's context (libmodsecurity keeps the phase it parsed,
    // 2 unless given); the head decides where the chain runs.
    int child_phase = r.chained->phase_set ? r.chained->phase : 2;
    WARD_RETURN_IF_ERROR(CompileRule(c, *r.chained, &out, child_phase, *out.child));
  }
  return Status::Ok();
}

// Groups the @rx rules (heads and chain members) that read one of the prefiltered variables by
// (transformation chain, variable) — the chain decides the string the regex sees, so one scan of
// a value serves every rule of the group — and builds one prefilter per group.
void BuildPrefilters(CompiledRules& c) {
  struct Member {
    CRule* rule;
    CVar* var;
  };
  std::map<std::pair<uint32_t, std::string>, std::vector<Member>> groups;
  constexpr uint32_t kNone = UINT32_MAX;  // no transformation
  for (int p = 1; p <= 5; ++p) {
    for (auto& head : c.phases[p]) {
      for (CRule* r = head.get(); r != nullptr; r = r->child.get()) {
        const Rule& rule = *r->rule;
        if (rule.kind != Rule::Kind::kRule || rule.op == nullptr) continue;
        if (rule.op->kind() != OperatorKind::kRx || rule.op->param_has_macro() ||
            rule.op->param().empty() || rule.multi_match) {
          continue;
        }
        const uint32_t chain = r->tf_nodes.empty() ? kNone : r->tf_nodes.back();
        for (CVar& v : r->vars) {
          if (v.ref.count) continue;  // &VAR: a computed number, not the value
          const auto& wanted = c.options.regex_prefilter_variables;
          if (std::find(wanted.begin(), wanted.end(), v.ref.collection) == wanted.end()) continue;
          groups[{chain, v.ref.collection}].push_back({r, &v});
        }
      }
    }
  }
  for (auto& [key, members] : groups) {
    std::vector<std::string> patterns;
    for (const Member& m : members) patterns.push_back(m.rule->rule->op->param());
    auto pf = RegexPrefilter::Build(patterns);
    if (pf == nullptr) continue;
    const auto group = static_cast<int32_t>(c.prefilters.size());
    for (size_t i = 0; i < members.size(); ++i) {
      if (!pf->Covers(static_cast<uint32_t>(i))) continue;
      members[i].var->pf_group = group;
      members[i].var->pf_index = static_cast<uint32_t>(i);
    }
    c.prefilters.push_back(std::move(pf));
  }
}

}  // namespace

Result<std::shared_ptr<const CompiledRules>> Compile(std::unique_ptr<RuleSet> set,
                                                     EvalOptions options) {
  auto c = std::make_shared<CompiledRules>();
  c->options = options;
  c->set = std::move(set);
  const RuleSet& rs = *c->set;
  if (!rs.argument_separator.empty()) c->separator = rs.argument_separator[0];
  for (const auto& [phase, rule] : rs.default_actions) {
    if (phase >= 1 && phase <= 5) c->defaults[phase] = rule.get();
  }
  c->all_request_headers =
      MakeVar(VariableRef{"REQUEST_HEADERS", "", false, false, false}, c->scalars);
  for (const char* k : {"id", "rev", "severity", "logdata", "msg"}) {
    c->rule_fields.push_back(MakeVar(VariableRef{"RULE", k, false, false, false}, c->scalars));
  }
  for (const auto& r : rs.rules) {
    if (r->kind == Rule::Kind::kMarker) {
      // A marker is in every phase.
      for (int p = 1; p <= 5; ++p) {
        auto cr = std::make_unique<CRule>();
        WARD_RETURN_IF_ERROR(CompileRule(*c, *r, nullptr, p, *cr));
        c->markers[p][r->marker].push_back(c->phases[p].size());
        c->phases[p].push_back(std::move(cr));
      }
      continue;
    }
    int phase = r->phase;
    if (phase < 1 || phase > 5) phase = phase <= 0 ? 1 : 5;
    auto cr = std::make_unique<CRule>();
    WARD_RETURN_IF_ERROR(CompileRule(*c, *r, nullptr, phase, *cr));
    c->phases[phase].push_back(std::move(cr));
  }
  if (c->options.regex_prefilter) BuildPrefilters(*c);
  for (int p = 1; p <= 5; ++p) {
    for (const auto& r : rs.rules) {
      for (const Rule* x = r.get(); x != nullptr; x = x->chained.get()) {
        if (x->skip_after.empty()) continue;
        auto f = c->markers[p].find(x->skip_after);
        if (f != c->markers[p].end()) c->marker_by_address[p].emplace(&x->skip_after, &f->second);
      }
    }
  }
  return std::shared_ptr<const CompiledRules>(std::move(c));
}

// ---------------------------------------------------------------------------------------------
// Transaction

namespace {

// One value a variable gives: views into the transaction's arena or the compiled rules.
struct Value {
  enum class Name : uint8_t { kCollection, kCollectionKey, kKey };
  std::string_view collection;
  std::string_view key;  // without the collection
  std::string_view value;
  // How libmodsecurity names it (its key with collection): "REQUEST_URI" (a scalar),
  // "ARGS:foo", or the key alone (a count: "&ARGS" gives "ARGS").
  Name name = Name::kCollectionKey;
  // Where the transformation cache keeps this value's number; null: not cached (computed values
  // such as counts and RULE fields).
  uint32_t* tf_id = nullptr;
  // Where the value lives (null: it cannot change, a key). A rule's setvar may replace a value
  // while the rule still visits the one it read: the number then belongs to the new one, and
  // the old value is transformed without the cache.
  const std::string_view* source = nullptr;

  size_t NameSize() const {
    switch (name) {
      case Name::kCollection:
        return collection.size();
      case Name::kCollectionKey:
        return collection.size() + 1 + key.size();
      case Name::kKey:
        return key.size();
    }
    return 0;
  }
  bool NameIs(std::string_view s) const {
    switch (name) {
      case Name::kCollection:
        return s == collection;
      case Name::kKey:
        return s == key;
      case Name::kCollectionKey:
        return s.size() == collection.size() + 1 + key.size() &&
               s.substr(0, collection.size()) == collection && s[collection.size()] == ':' &&
               s.substr(collection.size() + 1) == key;
    }
    return false;
  }
  std::string_view NameIn(Arena& a) const {
    switch (name) {
      case Name::kCollection:
        return collection;
      case Name::kKey:
        return key;
      case Name::kCollectionKey:
        return a.Concat({collection, ":", key});
    }
    return {};
  }
};

// What libmodsecurity keeps in its RuleMessage for the match being logged. Views into the arena
// or the rules: the line is only written when the match is logged. The tags are the State's
// `msg_tags` (one message is being built at a time).
struct Message {
  int64_t id = 0;
  const Rule* head = nullptr;
  std::string_view msg;
  std::string_view data;
  int severity = 0;
  bool save = true;
  bool disruptive = false;
  // The last match: "Matched \"Operator `<op>' with parameter `<param>' against variable
  // `<variable>' (Value: `<value>' )" (or libinjection's sentence).
  bool matched = false;
  OperatorKind op = OperatorKind::kRx;
  std::string_view param;     // as shown: the expansion or the parameter as written
  bool strip_macros = false;  // shown without its macros (operators that take none)
  std::string_view variable;  // ARGS:id
  std::string_view value;     // before transformation
};

// The transformation cache: (chain prefix, value) -> the prefix's result. A value gets a number
// the first time it is transformed (kept beside it in its collection, see Entry), so a lookup is
// an index into the prefix's row, not a hash: rules that follow each other read neighbouring
// cells. Rows are kept by the thread's State and emptied per transaction by a generation
// counter: a warm cache neither allocates nor clears memory.
class TfCache {
 public:
  // Makes room for `nodes` prefixes and forgets every entry and number. Rows longer than
  // kKeepCells are released (a request with thousands of values does not pin its rows).
  void Reset(size_t nodes) {
    if (rows_.size() < nodes) rows_.resize(nodes);
    for (auto& row : rows_) {
      if (row.size() > kKeepCells) std::vector<Cell>().swap(row);
    }
    next_id_ = 1;
    if (++gen_ == 0) {  // wrapped: no cell may look current
      for (auto& row : rows_) {
        for (Cell& c : row) c.gen = 0;
      }
      gen_ = 1;
    }
  }
  uint32_t Number(uint32_t* id) {
    if (*id == 0) *id = next_id_++;
    return *id;
  }
  const std::string_view* Find(uint32_t node, uint32_t id) const {
    const auto& row = rows_[node];
    if (id >= row.size() || row[id].gen != gen_) return nullptr;
    return &row[id].result;
  }
  void Insert(uint32_t node, uint32_t id, std::string_view result) {
    auto& row = rows_[node];
    if (id >= row.size()) {
      row.resize(std::max<size_t>(64, std::max<size_t>(id + 1, row.size() * 2)));
    }
    row[id] = Cell{gen_, result};
  }

 private:
  struct Cell {
    uint32_t gen = 0;
    std::string_view result;
  };
  static constexpr size_t kKeepCells = 2048;
  std::vector<std::vector<Cell>> rows_;
  uint32_t gen_ = 1;
  uint32_t next_id_ = 1;
};

// Whether `a` starts with `prefix`, ASCII case-insensitively.
bool StartsWithIgnoreCase(std::string_view a, std::string_view prefix) {
  return a.size() >= prefix.size() && EqualsIgnoreCase(a.substr(0, prefix.size()), prefix);
}

bool IsCSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// std::stoi as libmodsecurity uses it (strtol base 10): 0 when nothing is read or out of int
// range.
int StoiOrZero(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && IsCSpace(s[i])) ++i;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    neg = s[i] == '-';
    ++i;
  }
  int64_t v = 0;
  bool any = false;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
    any = true;
    v = v * 10 + (s[i] - '0');
    if (v > static_cast<int64_t>(INT_MAX) + 1) return 0;
  }
  if (!any) return 0;
  if (neg) v = -v;
  if (v > INT_MAX || v < INT_MIN) return 0;
  return static_cast<int>(v);
}

// libmodsecurity's utils::uri_decode into the arena: %XX decoded where both digits are hex.
std::string_view UriDecodeIn(Arena& a, std::string_view in) {
  if (in.empty()) return kEmpty;
  char* out = a.Alloc(in.size());
  size_t o = 0;
  size_t i = 0;
  while (i + 2 < in.size()) {
    if (in[i] == '%') {
      int x = HexDigitValue(in[i + 1]);
      int y = HexDigitValue(in[i + 2]);
      if (x >= 0 && y >= 0) {
        out[o++] = static_cast<char>((x << 4) + y);
        i += 3;
        continue;
      }
    }
    out[o++] = in[i++];
  }
  while (i < in.size()) out[o++] = in[i++];
  return {out, o};
}

// URL-decodes non-strictly as libmodsecurity's urldecode_nonstrict_inplace, into the arena.
std::string_view UrlDecodeNonStrictIn(Arena& a, std::string_view in, bool* invalid) {
  if (in.empty()) return kEmpty;
  char* out = a.Alloc(in.size());
  size_t o = 0;
  size_t i = 0;
  while (i < in.size()) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 < in.size() && HexDigitValue(in[i + 1]) >= 0 && HexDigitValue(in[i + 2]) >= 0) {
        out[o++] = static_cast<char>((HexDigitValue(in[i + 1]) << 4) | HexDigitValue(in[i + 2]));
        i += 3;
      } else {
        out[o++] = c;
        ++i;
        *invalid = true;
      }
    } else {
      out[o++] = c == '+' ? ' ' : c;
      ++i;
    }
  }
  return {out, o};
}

constexpr int kMaxDepth = 8;  // nested macro expansion (a RULE:logdata naming itself stops)

}  // namespace

struct Transaction::State {
  // --- kept from one transaction to the next (a State is reused by its thread) ---
  Arena arena;
  OperatorScratch op_scratch;
  TransformScratch tf_scratch;
  body::BodyProcessor body_processor;
  body::BodyResult body_result;
  std::string request_body;
  std::string response_body;
  std::string unique_id;
  std::vector<std::string_view> scalars;  // by scalar id; empty when unset
  std::vector<uint32_t> scalar_tf_ids;    // their numbers in the transformation cache
  std::vector<const CVar*> vars_scratch;
  std::vector<Value> values_scratch;
  std::vector<std::string_view> stages_scratch;
  std::vector<Value> depth_values[kMaxDepth];
  std::string depth_text[kMaxDepth];
  int depth = 0;
  std::string tf_buf;
  std::vector<std::string_view> xml_values;
  // XML:<xpath> results of this transaction (the document does not change once parsed): CRS
  // names XML:/* beside ARGS in ~100 rules, and each evaluation costs an XPath context (libxml2
  // registers every XPath function in a hash per context). Key: the XPath, then each xmlns
  // action of the rule, NUL-separated; values in the arena with their transformation-cache slot.
  struct XmlVal {
    std::string_view value;
    uint32_t tf_id;
  };
  struct XmlMemo {
    std::string key;
    XmlVal* vals = nullptr;
    size_t count = 0;
  };
  std::vector<XmlMemo> xml_memo;  // the first xml_memo_used are this transaction's
  size_t xml_memo_used = 0;
  std::string xml_key;
  std::vector<const std::vector<std::string>*> msg_tags;
  TfCache transform_cache;  // this transaction's (Reset by Begin)
  // @rx prefilter results of this transaction: (group, value number) -> the scan's hit bits at
  // pf_bits[offset...] (ok false: the scan failed, PCRE2 decides). Few entries (long values only).
  struct PfEntry {
    uint32_t group;
    uint32_t id;
    uint32_t offset;
    bool ok;
  };
  std::vector<PfEntry> pf_entries;
  std::vector<uint64_t> pf_bits;
  PrefilterScratch pf_scratch;
  // MATCHED_VARS(_NAMES) updates not applied yet (few rules read them: they are applied, in
  // order, when one does). An entry with a null name clears both.
  struct MatchedOp {
    std::string_view name;
    std::string_view value;
  };
  std::vector<MatchedOp> matched_ops;  // the tags of the Message being built
  // Persistent collections (persistent.h): the caller's (UsePersistentCollections), else
  // own_persistent, emptied when a transaction first uses it. Collection keys by store index
  // (initcol, setsid, ...); persistent_key: scratch for "<key>::<app>::<name>".
  PersistentCollections* persistent = nullptr;
  std::unique_ptr<PersistentCollections> own_persistent;
  std::array<std::string, kStoreCount> collection_keys;
  std::string persistent_key;

  // --- one transaction's ---
  std::shared_ptr<const CompiledRules> rules;
  struct Data {
    // 3.0.9's containers are created with a reserve (AnchoredSetVariable: reserve(10), 11
    // buckets; the TX collection, InMemoryPerProcess: reserve(1000)), and the bucket count
    // decides the order in which a collection is visited (which value is MATCHED_VAR last).
    explicit Data(Arena* a) : sets(MakeArray<kSetCount>(a)), stores(MakeArray<kStoreCount>(a)) {
      for (Collection& c : sets) c.reserve(10);
      stores[kStoreTx].reserve(1000);
    }
    template <size_t N>
    static std::array<Collection, N> MakeArray(Arena* a) {
      return [&]<size_t... I>(std::index_sequence<I...>) {
        return std::array<Collection, N>{((void)I, Collection(ArenaAlloc<int>(a)))...};
      }
      (std::make_index_sequence<N>());
    }
    std::array<Collection, kSetCount> sets;
    std::array<Collection, kStoreCount> stores;

    EngineMode engine = EngineMode::kDetectionOnly;
    std::optional<bool> body_access;  // ctl:requestBodyAccess
    enum class BodyType { kUnknown, kUrlEncoded, kMultipart };
    enum class BodyProc { kUnknown, kJson, kXml };
    BodyType body_type = BodyType::kUnknown;
    BodyProc body_proc = BodyProc::kUnknown;
    std::string_view uri_no_query_decoded;
    std::string_view server_ip;
    std::string_view client_ip;
    int64_t args_combined_size = 0;
    int highest_severity = 255;

    // Runtime exceptions (ctl).
    std::vector<int64_t> remove_ids;
    std::vector<std::pair<int64_t, int64_t>> remove_ranges;
    std::vector<std::string> remove_tags;
    std::vector<std::pair<int64_t, std::string>> remove_target_by_id;
    std::vector<std::pair<std::string, std::string>> remove_target_by_tag;

    // Flow control.
    const std::string* marker = nullptr;  // skipAfter's marker (in the rules), null: none
    int skip_next = 0;
    enum class Allow { kNone, kFromNowOn, kRequest, kPhase };
    Allow allow = Allow::kNone;

    EvalIntervention it;
    std::vector<MatchLog> logs;
    const body::XmlDocument* xml = nullptr;
  };
  std::optional<Data> d;

  void Begin(std::shared_ptr<const CompiledRules> r, std::string_view id) {
    rules = std::move(r);
    arena.Reset();
    d.emplace(&arena);
    transform_cache.Reset(rules->tf_prefixes.size());
    pf_entries.clear();
    pf_bits.clear();
    matched_ops.clear();
    xml_memo_used = 0;
    scalars.assign(rules->scalars.size(), kEmpty);
    scalar_tf_ids.assign(rules->scalars.size(), 0);
    request_body.clear();
    response_body.clear();
    unique_id.assign(id);
    depth = 0;
    d->engine = rules->set->engine;
    scalars[kUniqueId] = unique_id;
    persistent = nullptr;
    for (auto& k : collection_keys) k.clear();
  }
  void End() {
    d.reset();
    rules.reset();
    arena.Reset();
  }

  // --- helpers ---
  Collection& Set(int id) { return d->sets[static_cast<size_t>(id)]; }
  void SetScalar(int id, std::string_view value) { SetScalarView(id, arena.Copy(value)); }
  // `value` already in the arena or the rules.
  void SetScalarView(int id, std::string_view value) {
    scalars[static_cast<size_t>(id)] = value;
    scalar_tf_ids[static_cast<size_t>(id)] = 0;
  }
  std::string_view Scalar(int id) const { return scalars[static_cast<size_t>(id)]; }

  bool HasTag(const Rule& r, const std::string& tag) const {
    return std::find(r.tags.begin(), r.tags.end(), tag) != r.tags.end();
  }

  void Resolve(const CVar& v, const CRule* rule, std::vector<Value>& out);
  void ResolveBase(const CVar& v, const CRule* rule, std::vector<Value>& out);
  std::string_view Expand(const Macro& m, const CRule* rule);

  void EvaluatePhase(int phase);
  bool EvaluateRule(const CRule& r, Message& rm);
  std::string_view TransformCached(const CRule& r, const Value& val);
  // True when the @rx prefilter proves that the regex of v's rule cannot match `input`, val
  // transformed by the rule's chain (false: run the operator).
  bool PrefilterRulesOut(const CVar& v, const Value& val, std::string_view input);
  void ActionsIndependent(const CRule& r, Message& rm);
  void ActionsAfterFullMatch(const CRule& r, Message& rm);
  void RunDisruptive(const CRule& r, Disruptive d, Message& rm);
  void RunCtl(const Ctl& c);
  void RunSetVar(const CSetVar& sv, const CRule* rule);
  // --- persistent collections (IP, GLOBAL, RESOURCE, SESSION, USER) ---
  PersistentCollections& Persistent();
  // persistent_key = "<collection key>::<SecWebAppId>::" + name: where 3.0.9 keeps `name`.
  const std::string& PersistentKey(int store, std::string_view name);
  void RunPersistentSetVar(const CSetVar& sv, const CRule* rule);
  // initcol, setsid, setuid, setrsc, expirevar of a rule that matched.
  void RunCollectionActions(const CRule& r);
  void SetTx(std::string_view name, std::string_view value);
  void Log(Message& rm);
  void UpdateMatched(std::string_view kwc, std::string_view value);
  void CleanMatched();
  void ApplyMatched();
  bool AddArgument(std::string_view origin, std::string_view key, std::string_view value);
  void ExtractArguments(std::string_view origin, std::string_view buf);
};

namespace {

// States kept per thread between transactions (their arenas and scratch buffers warm).
struct StatePool {
  std::vector<std::unique_ptr<Transaction::State>> free;
};
thread_local StatePool t_pool;
constexpr size_t kPoolMax = 8;

}  // namespace

// --- variables ---

void Transaction::State::ResolveBase(const CVar& v, const CRule* rule, std::vector<Value>& out) {
  const std::string& c = v.ref.collection;
  auto omit = [&](std::string_view key) {
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
  if (names || v.kind == VarKind::kSet) {
    if (v.id == kMatchedVars || v.id == kMatchedVarsNames) ApplyMatched();
    const Collection& col = Set(v.id);
    if (col.empty()) return;
    auto make = [&](std::string_view key, const Entry& e) {
      return Value{c,
                   key,
                   names ? key : e.value,
                   Value::Name::kCollectionKey,
                   names ? &e.key_tf_id : &e.tf_id,
                   names ? nullptr : &e.value};
    };
    if (v.ref.key.empty() || v.regex != nullptr) {
      // Visited in reverse (3.0.9 inserts each value at the front).
      const size_t start = out.size();
      for (const auto& [k, e] : col) {
        if (v.regex != nullptr && !v.regex->Search(k)) continue;
        if (!omit(k)) out.push_back(make(k, e));
      }
      std::reverse(out.begin() + static_cast<std::ptrdiff_t>(start), out.end());
    } else {
      auto range = col.equal_range(HashedKey{v.ref.key, v.key_hash});
      for (auto i = range.first; i != range.second; ++i) out.push_back(make(i->first, i->second));
    }
    return;
  }
  if (v.kind == VarKind::kStore && v.id != kStoreTx) {
    // 3.0.9 looks up "<collection key>::<app>::<selector>" (a whole collection: the bare prefix)
    // and names the values by that key; a /regex/ selection finds nothing here (docs/ips.md).
    if (v.regex != nullptr) return;
    const PersistentMap& col = Persistent().Get(kStoreCollections[static_cast<size_t>(v.id)]);
    if (col.empty()) return;
    const std::string_view key = arena.Copy(PersistentKey(v.id, v.ref.key));
    const size_t start = out.size();
    auto range = col.equal_range(std::string(key));
    for (auto i = range.first; i != range.second; ++i) {
      if (omit(key)) continue;
      out.push_back(Value{c, key, arena.Copy(i->second), Value::Name::kCollectionKey});
    }
    std::reverse(out.begin() + static_cast<std::ptrdiff_t>(start), out.end());
    return;
  }
  if (v.kind == VarKind::kStore) {
    const Collection& col = d->stores[static_cast<size_t>(v.id)];
    // 3.0.9 keys persistent collections (IP, SESSION, ...) by "<initcol key>::<name>" and
    // prefixes the selector the same way: a whole-collection or regex selection finds nothing.
    if (v.id != kStoreTx && (v.ref.key.empty() || v.regex != nullptr)) return;
    const size_t start = out.size();
    if (v.ref.key.empty() || v.regex != nullptr) {
      for (const auto& [k, e] : col) {
        if (v.regex != nullptr && !v.regex->Search(k)) continue;
        if (omit(k)) continue;
        out.push_back(Value{c, k, e.value, Value::Name::kCollectionKey, &e.tf_id, &e.value});
      }
    } else {
      auto range = col.equal_range(HashedKey{v.ref.key, v.key_hash});
      for (auto i = range.first; i != range.second; ++i) {
        if (omit(v.ref.key)) continue;
        out.push_back(Value{c, v.ref.key, i->second.value, Value::Name::kCollectionKey,
                            &i->second.tf_id, &i->second.value});
      }
    }
    std::reverse(out.begin() + static_cast<std::ptrdiff_t>(start), out.end());
    return;
  }
  if (v.kind == VarKind::kRule && (v.ref.key.empty() || v.regex != nullptr)) {
    for (const CVar& one : rules->rule_fields) {
      if (v.regex != nullptr && !v.regex->Search(one.ref.key)) continue;
      ResolveBase(one, rule, out);
    }
    return;
  }
  if (v.kind == VarKind::kRule) {
    const CRule* r = rule;
    std::string k = UpperCase(v.ref.key);
    std::string_view value;
    bool found = false;
    while (r != nullptr && !found) {
      const Rule& rr = *r->rule;
      if (k == "ID" && rr.id != 0) {
        value = arena.Number(rr.id);
        found = true;
      } else if (k == "MSG" && !rr.msg.empty()) {
        value = rr.msg;
        found = true;
      } else if (k == "SEVERITY" && rr.severity) {
        value = arena.Number(*rr.severity);
        found = true;
      } else if (k == "REV" && !rr.rev.empty()) {
        value = rr.rev;
        found = true;
      } else if (k == "LOGDATA" && !rr.logdata.empty()) {
        value = Expand(r->logdata, r);
        found = true;
      }
      r = r->parent;
    }
    if (found) out.push_back(Value{"RULE", v.ref.key, value, Value::Name::kCollectionKey});
    return;
  }
  if (v.kind == VarKind::kXml) {
    // XML:<xpath> over the parsed body (seclang/body); nothing without an XML document.
    if (d->xml == nullptr || v.ref.key.empty()) return;
    const bool memo = rules->options.memoise_xml;
    XmlMemo* m = nullptr;
    if (memo) {
      xml_key.assign(v.ref.key);
      for (const CRule* r = rule; r != nullptr; r = r->parent) {
        for (const auto& x : r->rule->xmlns) {
          xml_key += '\0';
          xml_key += x;
        }
      }
      for (size_t i = 0; i < xml_memo_used; ++i) {
        if (xml_memo[i].key == xml_key) {
          m = &xml_memo[i];
          break;
        }
      }
    }
    if (m == nullptr) {
      std::vector<std::pair<std::string, std::string>> ns;
      for (const CRule* r = rule; r != nullptr; r = r->parent) {
        for (const auto& x : r->rule->xmlns) {
          size_t eq = x.find('=');
          if (eq != std::string::npos) ns.emplace_back(x.substr(0, eq), x.substr(eq + 1));
        }
      }
      xml_values.clear();
      d->xml->Evaluate(v.ref.key, ns, &body_result, &xml_values);
      if (!memo) {
        for (std::string_view val : xml_values) {
          out.push_back(Value{"XML", v.ref.key, arena.Copy(val), Value::Name::kCollectionKey});
        }
        return;
      }
      if (xml_memo_used == xml_memo.size()) xml_memo.emplace_back();
      m = &xml_memo[xml_memo_used++];
      m->key.assign(xml_key);
      m->count = xml_values.size();
      m->vals = reinterpret_cast<XmlVal*>(
          arena.Alloc(sizeof(XmlVal) * std::max<size_t>(1, m->count), alignof(XmlVal)));
      for (size_t i = 0; i < m->count; ++i) {
        new (&m->vals[i]) XmlVal{arena.Copy(xml_values[i]), 0};
      }
    }
    for (size_t i = 0; i < m->count; ++i) {
      out.push_back(Value{"XML", v.ref.key, m->vals[i].value, Value::Name::kCollectionKey,
                          &m->vals[i].tf_id});
    }
    return;
  }
  if (v.kind == VarKind::kHighestSeverity) {
    out.push_back(Value{c, "", arena.Number(d->highest_severity), Value::Name::kCollection});
    return;
  }
  if (v.kind == VarKind::kEnv) {
    // The process environment, in name order (3.0.9 copies environ into a std::map); a
    // selector compares names exactly.
    std::map<std::string_view, std::string_view> env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      std::string_view kv(*e);
      size_t eq = kv.find('=');
      if (eq == std::string_view::npos) continue;
      env.emplace(kv.substr(0, eq), kv.substr(eq + 1));
    }
    for (const auto& [k, val] : env) {
      if (!v.ref.key.empty() && k != v.ref.key) continue;
      if (omit(k)) continue;
      out.push_back(Value{"ENV", arena.Copy(k), arena.Copy(val), Value::Name::kCollectionKey});
    }
    return;
  }
  // Anchored scalar: always one value.
  const auto sid = static_cast<size_t>(v.id);
  out.push_back(
      Value{c, "", scalars[sid], Value::Name::kCollection, &scalar_tf_ids[sid], &scalars[sid]});
}

void Transaction::State::Resolve(const CVar& v, const CRule* rule, std::vector<Value>& out) {
  if (!v.ref.count) {
    ResolveBase(v, rule, out);
    return;
  }
  const size_t start = out.size();
  ResolveBase(v, rule, out);
  const size_t n = out.size() - start;
  out.resize(start);
  out.push_back(Value{"", v.full_name, arena.Number(static_cast<int64_t>(n)), Value::Name::kKey});
}

std::string_view Transaction::State::Expand(const Macro& m, const CRule* rule) {
  if (!m.has) return m.text;
  if (depth >= kMaxDepth) return kEmpty;
  const int my = depth++;
  std::string& out = depth_text[my];
  out.clear();
  for (const auto& seg : m.segments) {
    out.append(seg.literal);
    if (seg.var < 0) continue;
    std::vector<Value>& values = depth_values[my];
    values.clear();
    ResolveBase(m.vars[static_cast<size_t>(seg.var)], rule, values);
    if (!values.empty()) out.append(values.front().value);
  }
  --depth;
  return arena.Copy(out);
}

// --- matched variables ---

void Transaction::State::UpdateMatched(std::string_view kwc, std::string_view value) {
  value = arena.Copy(value);
  SetScalarView(kMatchedVar, value);
  SetScalarView(kMatchedVarName, kwc);
  if (kwc.data() == nullptr) kwc = std::string_view("", 0);  // null marks a clear
  if (rules->options.lazy_matched_vars) {
    matched_ops.push_back({kwc, value});
  } else {
    Set(kMatchedVars).emplace(kwc, value);
    Set(kMatchedVarsNames).emplace(kwc, kwc);
  }
}

void Transaction::State::CleanMatched() {
  SetScalarView(kMatchedVar, kEmpty);
  SetScalarView(kMatchedVarName, kEmpty);
  if (rules->options.lazy_matched_vars) {
    if (!matched_ops.empty() && matched_ops.back().name.data() != nullptr) {
      matched_ops.push_back({});
    } else if (matched_ops.empty() && !Set(kMatchedVars).empty()) {
      matched_ops.push_back({});
    }
    return;
  }
  if (!Set(kMatchedVars).empty()) Set(kMatchedVars).clear();
  if (!Set(kMatchedVarsNames).empty()) Set(kMatchedVarsNames).clear();
}

// Applies the pending MATCHED_VARS(_NAMES) updates in their order: the collections are then as
// if each had been applied at once (a cleared multimap keeps its buckets, so the order of later
// inserts depends on the whole history: nothing is dropped).
void Transaction::State::ApplyMatched() {
  for (const MatchedOp& op : matched_ops) {
    if (op.name.data() == nullptr) {
      if (!Set(kMatchedVars).empty()) Set(kMatchedVars).clear();
      if (!Set(kMatchedVarsNames).empty()) Set(kMatchedVarsNames).clear();
    } else {
      Set(kMatchedVars).emplace(op.name, op.value);
      Set(kMatchedVarsNames).emplace(op.name, op.name);
    }
  }
  matched_ops.clear();
}

// --- actions ---

void Transaction::State::SetTx(std::string_view name, std::string_view value) {
  Collection& col = d->stores[kStoreTx];
  value = arena.Copy(value);
  auto f = col.find(name);
  if (f != col.end()) {
    f->second = value;
  } else {
    col.emplace(arena.Copy(name), value);
  }
}

PersistentCollections& Transaction::State::Persistent() {
  if (persistent == nullptr) {
    // No caller's collections: this transaction's own (they live for it only).
    if (own_persistent == nullptr) {
      own_persistent = std::make_unique<PersistentCollections>();
    } else {
      own_persistent->Clear();
    }
    persistent = own_persistent.get();
  }
  return *persistent;
}

const std::string& Transaction::State::PersistentKey(int store, std::string_view name) {
  std::string_view app;
  for (const auto& [directive, args] : rules->set->recorded) {
    if (EqualsIgnoreCase(directive, "SecWebAppId")) app = args;
  }
  persistent_key.assign(collection_keys[static_cast<size_t>(store)]);
  persistent_key.append("::").append(app).append("::").append(name);
  return persistent_key;
}

void Transaction::State::RunPersistentSetVar(const CSetVar& sv, const CRule* rule) {
  PersistentCollections& p = Persistent();
  const std::string_view collection = kStoreCollections[static_cast<size_t>(sv.store)];
  const std::string key = PersistentKey(sv.store, Expand(sv.name, rule));
  if (sv.op == SetVar::Op::kDelete) {
    p.Erase(collection, key);
    return;
  }
  std::string_view value = Expand(sv.value, rule);
  if (sv.op == SetVar::Op::kAdd || sv.op == SetVar::Op::kSubtract) {
    // The variable as a rule reads it: the last value of the key's range (3.0.9's l[0]).
    int cur = 0;
    const PersistentMap& col = p.Get(collection);
    auto range = col.equal_range(key);
    for (auto i = range.first; i != range.second; ++i) cur = StoiOrZero(i->second);
    const int pre = StoiOrZero(value);
    value = arena.Number(sv.op == SetVar::Op::kAdd ? cur + pre : cur - pre);
  }
  p.Store(collection, key, std::string(value), rules->set->collection_timeout.value_or(0));
}

void Transaction::State::RunCollectionActions(const CRule& r) {
  for (const auto& k : r.collection_keys) {
    std::string_view v = Expand(k.key, &r);
    if (k.scalar >= 0) SetScalar(k.scalar, v);
    collection_keys[static_cast<size_t>(k.store)].assign(v);
  }
  for (const auto& e : r.expirevars) {
    // 3.0.9 loads expirevar and does nothing; Ward ends the entry then (docs/ips.md).
    const int64_t seconds = StoiOrZero(Expand(e.seconds, &r));
    const std::string key = PersistentKey(e.store, Expand(e.name, &r));
    Persistent().ExpireIn(kStoreCollections[static_cast<size_t>(e.store)], key, seconds);
  }
}

void Transaction::State::RunSetVar(const CSetVar& sv, const CRule* rule) {
  if (sv.store < 0) return;  // a collection no variable reads
  if (sv.store != kStoreTx) {
    RunPersistentSetVar(sv, rule);
    return;
  }
  Collection& col = d->stores[static_cast<size_t>(sv.store)];
  const std::string_view name = Expand(sv.name, rule);
  const HashedKey key{name, sv.name.has ? CiHash{}(name) : sv.name.text_hash};
  if (sv.op == SetVar::Op::kDelete) {
    col.erase(name);
    return;
  }
  std::string_view value = Expand(sv.value, rule);
  if (sv.op == SetVar::Op::kAdd || sv.op == SetVar::Op::kSubtract) {
    int pre = StoiOrZero(value);
    int cur = 0;
    auto range = col.equal_range(key);
    // The variable is evaluated as TX:name (the first value, in resolution order).
    std::string_view last;
    bool any = false;
    for (auto i = range.first; i != range.second; ++i) {
      last = i->second.value;
      any = true;
    }
    if (any) cur = StoiOrZero(last);
    value = arena.Number(sv.op == SetVar::Op::kAdd ? cur + pre : cur - pre);
  }
  auto f = col.find(key);
  if (f != col.end()) {
    f->second = value;
  } else {
    col.emplace(name, value);
  }
}

void Transaction::State::RunCtl(const Ctl& c) {
  Data& t = *d;
  switch (c.kind) {
    case Ctl::Kind::kRuleEngine:
      if (EqualsIgnoreCase(c.value, "On")) {
        t.engine = EngineMode::kOn;
      } else if (EqualsIgnoreCase(c.value, "Off")) {
        t.engine = EngineMode::kOff;
      } else {
        t.engine = EngineMode::kDetectionOnly;
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
            t.remove_ranges.emplace_back(StoiOrZero(std::string_view(tok).substr(0, dash)),
                                         StoiOrZero(std::string_view(tok).substr(dash + 1)));
          } else {
            t.remove_ids.push_back(StoiOrZero(tok));
          }
        }
        if (end == std::string::npos) break;
        pos = end + 1;
      }
      break;
    }
    case Ctl::Kind::kRuleRemoveByTag:
      t.remove_tags.push_back(c.value);
      break;
    case Ctl::Kind::kRuleRemoveTargetById: {
      size_t semi = c.value.find(';');
      if (semi == std::string::npos) break;
      std::string target = c.value.substr(semi + 1);
      size_t semi2 = target.find(';');
      if (semi2 != std::string::npos) target = target.substr(0, semi2);
      t.remove_target_by_id.emplace_back(StoiOrZero(std::string_view(c.value).substr(0, semi)),
                                         target);
      break;
    }
    case Ctl::Kind::kRuleRemoveTargetByTag: {
      size_t semi = c.value.find(';');
      if (semi == std::string::npos) break;
      std::string target = c.value.substr(semi + 1);
      size_t semi2 = target.find(';');
      if (semi2 != std::string::npos) target = target.substr(0, semi2);
      t.remove_target_by_tag.emplace_back(c.value.substr(0, semi), target);
      break;
    }
    case Ctl::Kind::kRequestBodyProcessor:
      if (EqualsIgnoreCase(c.value, "JSON")) {
        t.body_proc = Data::BodyProc::kJson;
        SetScalarView(kReqbodyProcessor, "JSON");
      } else if (EqualsIgnoreCase(c.value, "XML")) {
        t.body_proc = Data::BodyProc::kXml;
        SetScalarView(kReqbodyProcessor, "XML");
      } else {
        t.body_type = Data::BodyType::kUrlEncoded;
        SetScalarView(kReqbodyProcessor, "URLENCODED");
      }
      break;
    case Ctl::Kind::kRequestBodyAccess:
      t.body_access = EqualsIgnoreCase(c.value, "On") || EqualsIgnoreCase(c.value, "true");
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
  m.msg = std::string(rm.msg);
  m.data = std::string(rm.data);
  m.severity = rm.severity;
  m.variable = std::string(rm.variable);
  m.disruptive = rm.disruptive;
  std::string match;
  if (!rm.matched) {
  } else if (rm.op == OperatorKind::kDetectSqli) {
    match = "detected SQLi using libinjection.";
  } else if (rm.op == OperatorKind::kDetectXss) {
    match = "detected XSS using libinjection.";
  } else {
    const std::string shown = rm.strip_macros ? StripMacros(rm.param) : std::string(rm.param);
    match = "Matched \"Operator `" + std::string(LibraryOperatorName(rm.op)) +
            "' with parameter `" + LimitTo(200, shown) + "' against variable `" +
            std::string(rm.variable) + "' (Value: `" +
            LimitTo(100, ToHexIfNeeded(rm.value, false)) + "' )";
  }
  // RuleMessage::log: the match, then _details; the whole line through toHexIfNeeded.
  std::string line = rm.disruptive
                         ? "ModSecurity: Access denied with code " + std::to_string(d->it.status) +
                               " (phase " + std::to_string(rm.head ? rm.head->phase : 2) + "). "
                         : "ModSecurity: Warning. ";
  line += match;
  line += " [file \"" + (rm.head ? rm.head->where.file : std::string()) + "\"] [line \"" +
          std::to_string(rm.head ? rm.head->where.line : 0) + "\"]";
  line += " [id \"" + std::to_string(rm.id) + "\"] [rev \"" +
          ToHexIfNeeded(rm.head ? rm.head->rev : std::string(), true) + "\"] [msg \"" + m.msg +
          "\"] [data \"" + ToHexIfNeeded(LimitTo(200, m.data), true) + "\"] [severity \"" +
          std::to_string(rm.severity) + "\"] [ver \"" +
          ToHexIfNeeded(rm.head ? rm.head->ver : std::string(), true) +
          "\"] [maturity \"0\"] [accuracy \"0\"]";
  for (const auto* tags : msg_tags) {
    for (const auto& t : *tags) line += " [tag \"" + ToHexIfNeeded(t, true) + "\"]";
  }
  line += " [hostname \"" + std::string(d->server_ip) + "\"] [uri \"" +
          LimitTo(200, std::string(d->uri_no_query_decoded)) + "\"] [unique_id \"" + unique_id +
          "\"] [ref \"\"]";
  line = ToHexIfNeeded(line, false);
  m.line = std::move(line);
  d->logs.push_back(std::move(m));
}

void Transaction::State::ActionsIndependent(const CRule& r, Message& rm) {
  for (const auto& sv : r.setvars) RunSetVar(sv, &r);
  for (const auto& sv : r.update_setvars) RunSetVar(sv, &r);
  if (r.rule->multi_match && r.rule->chained == nullptr) {
    if (r.rule->severity) {
      rm.severity = *r.rule->severity;
      d->highest_severity = std::min(d->highest_severity, *r.rule->severity);
    }
    if (!r.rule->logdata.empty()) rm.data = Expand(r.logdata, &r);
    if (!r.rule->msg.empty()) rm.msg = Expand(r.msg, &r);
  }
}

void Transaction::State::RunDisruptive(const CRule& r, Disruptive dis, Message& rm) {
  EvalIntervention& it = d->it;
  if (d->engine != EngineMode::kOn) return;
  switch (dis) {
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
      it.url = std::string(Expand(r.redirect, &r));
      it.disruptive = true;
      it.rule_id = rm.id;
      rm.disruptive = true;
      return;
    case Disruptive::kAllow:
      d->allow = Data::Allow::kFromNowOn;
      return;
  }
}

void Transaction::State::ActionsAfterFullMatch(const CRule& r, Message& rm) {
  const Rule& rule = *r.rule;
  EvalIntervention& it = d->it;
  bool disruptive_done = false;
  if (const Rule* def = rules->defaults[r.phase]) {
    // SecDefaultAction's non-disruptive actions run first (status, log/nolog, tags).
    if (def->status) it.status = *def->status;
    if (def->save_message) rm.save = *def->save_message;
    if (!def->tags.empty()) msg_tags.push_back(&def->tags);
  }
  if (!rule.tags.empty()) msg_tags.push_back(&rule.tags);
  for (const Rule* upd : r.action_updates) {
    if (upd->save_message) rm.save = *upd->save_message;
    if (upd->status) it.status = *upd->status;
    RunDisruptive(r, upd->disruptive, rm);
    disruptive_done = true;
  }
  if (rule.severity) {
    rm.severity = *rule.severity;
    d->highest_severity = std::min(d->highest_severity, *rule.severity);
  }
  if (!rule.logdata.empty()) rm.data = Expand(r.logdata, &r);
  if (!rule.msg.empty()) rm.msg = Expand(r.msg, &r);
  if (rule.save_message) rm.save = *rule.save_message;
  if (rule.status) it.status = *rule.status;
  if (rule.skip > 0) d->skip_next = rule.skip;
  if (!rule.skip_after.empty()) d->marker = &rule.skip_after;
  for (const auto& c : rule.ctls) RunCtl(c);
  if (!r.collection_keys.empty() || !r.expirevars.empty()) RunCollectionActions(r);
  // `block` (a runtime action, before the rule's own disruptive one): the phase's default
  // disruptive action.
  if (r.has_block && !disruptive_done) RunDisruptive(r, Disruptive::kBlock, rm);
  if (!disruptive_done && rule.disruptive != Disruptive::kBlock) {
    RunDisruptive(r, rule.disruptive, rm);
  }
}

// The rule's transformation chain on `val`, each prefix's result cached for the transaction:
// rules sharing a chain, or its beginning, compute it once per value. Results are in the arena
// (or the value itself); a value the cache cannot number is transformed in the scratch.
std::string_view Transaction::State::TransformCached(const CRule& r, const Value& val) {
  const UnicodeMap* umap = rules->set->unicode_map.get();
  const bool replaced = val.source != nullptr && (val.source->data() != val.value.data() ||
                                                  val.source->size() != val.value.size());
  if (val.tf_id == nullptr || replaced) return tf_scratch.Run(r.transformations, val.value, umap);
  const size_t n = r.transformations.size();
  TfCache& cache = transform_cache;
  const uint32_t id = cache.Number(val.tf_id);
  // The longest prefix already computed for this value.
  size_t done = 0;
  std::string_view cur = val.value;
  for (size_t k = n; k > 0; --k) {
    if (const std::string_view* hit = cache.Find(r.tf_nodes[k - 1], id)) {
      done = k;
      cur = *hit;
      break;
    }
  }
  for (size_t k = done; k < n; ++k) {
    std::string_view res = Transform(r.transformations[k], cur, tf_buf, umap);
    if (res.data() != cur.data() || res.size() != cur.size()) cur = arena.Copy(res);
    cache.Insert(r.tf_nodes[k], id, cur);
  }
  return cur;
}

bool Transaction::State::PrefilterRulesOut(const CVar& v, const Value& val,
                                           std::string_view input) {
  if (v.pf_group < 0 || input.size() < rules->options.regex_prefilter_min_bytes) return false;
  // The value's number in the transformation cache names it for this transaction; values
  // without one (computed, or replaced since) are not prefiltered.
  const bool replaced = val.source != nullptr && (val.source->data() != val.value.data() ||
                                                  val.source->size() != val.value.size());
  if (val.tf_id == nullptr || replaced) return false;
  const uint32_t id = transform_cache.Number(val.tf_id);
  const auto group = static_cast<uint32_t>(v.pf_group);
  const RegexPrefilter& pf = *rules->prefilters[group];
  const PfEntry* found = nullptr;
  for (auto it = pf_entries.rbegin(); it != pf_entries.rend(); ++it) {
    if (it->group == group && it->id == id) {
      found = &*it;
      break;
    }
  }
  if (found == nullptr) {
    const size_t offset = pf_bits.size();
    pf_bits.resize(offset + pf.Words());
    const bool ok = pf.Scan(input, pf_scratch, pf_bits.data() + offset);
    pf_entries.push_back({group, id, static_cast<uint32_t>(offset), ok});
    found = &pf_entries.back();
  }
  if (!found->ok) return false;
  return ((pf_bits[found->offset + v.pf_index / 64] >> (v.pf_index % 64)) & 1) == 0;
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
  for (int64_t id : d->remove_ids) {
    if (id == rule.id) return true;
  }
  for (const auto& [a, b] : d->remove_ranges) {
    if (a <= rule.id && b >= rule.id) return true;
  }
  // Every variable is a set and all are empty: no value, no match (nothing else to do).
  if (r.only_sets && rules->options.skip_empty_variables) {
    bool any = false;
    for (const auto* list : {&r.vars, &r.update_additions}) {
      for (const CVar& v : *list) {
        if (v.id == kMatchedVars || v.id == kMatchedVarsNames) ApplyMatched();
        if (!Set(v.id).empty()) any = true;
      }
    }
    if (!any) {
      CleanMatched();
      return false;
    }
  }
  const Operator& op = *rule.op;
  const bool macro = op.param_has_macro();
  std::string_view param;
  if (macro) param = Expand(r.op_param, &r);

  // getFinalVars
  std::vector<const CVar*>& vars = vars_scratch;
  vars.clear();
  auto excluded_var = [&](const CVar& v) {
    for (const auto& e : r.update_exclusions) {
      if (e.ref.collection == v.ref.collection && e.ref.key == v.ref.key &&
          e.full_name == v.full_name) {
        return true;
      }
    }
    for (const auto& [id, target] : d->remove_target_by_id) {
      if (id == rule.id && target == v.full_name) return true;
    }
    for (const auto& [tag, target] : d->remove_target_by_tag) {
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
      } else if (val.NameIs(e.full_name)) {
        return true;
      }
    }
    for (const auto& [id, target] : d->remove_target_by_id) {
      if (id == rule.id && val.NameIs(target)) return true;
    }
    for (const auto& [tag, target] : d->remove_target_by_tag) {
      if (HasTag(rule, tag) && val.NameIs(target)) return true;
    }
    return false;
  };

  const bool cache_on = rules->options.transformation_cache;
  const UnicodeMap* umap = rules->set->unicode_map.get();
  bool matched = false;
  std::vector<Value>& values = values_scratch;
  std::vector<std::string_view>& stages = stages_scratch;
  for (const CVar* v : vars) {
    values.clear();
    Resolve(*v, &r, values);
    for (const Value& val : values) {
      if (excluded_value(val)) continue;
      // Transformations (multiMatch: the original and every changed stage).
      stages.clear();
      if (r.transformations.empty()) {
        stages.push_back(val.value);
      } else if (!rule.multi_match && cache_on) {
        stages.push_back(TransformCached(r, val));
      } else if (!rule.multi_match) {
        stages.push_back(tf_scratch.Run(r.transformations, val.value, umap));
      } else {
        std::string_view cur = val.value;
        stages.push_back(cur);
        for (Transformation t : r.transformations) {
          std::string_view res = Transform(t, cur, tf_buf, umap);
          if (res != cur) {
            cur = arena.Copy(res);
            stages.push_back(cur);
          }
        }
      }
      for (const std::string_view input : stages) {
        bool ret = false;
        if (!PrefilterRulesOut(*v, val, input)) {
          ret = macro ? op.Evaluate(input, param, op_scratch) : op.Evaluate(input, op_scratch);
        }
        // Captures (before negation, as the operators store them).
        if (ret && rule.capture) {
          switch (op.kind()) {
            case OperatorKind::kRx:
              for (const auto& c : op_scratch.captures()) {
                char num[16];
                auto e = std::to_chars(num, num + sizeof(num), c.group);
                SetTx(std::string_view(num, static_cast<size_t>(e.ptr - num)),
                      input.substr(c.offset, c.length));
              }
              break;
            case OperatorKind::kPm:
            case OperatorKind::kPmFromFile:
            case OperatorKind::kDetectSqli:
              SetTx("0", op_scratch.matched());
              break;
            case OperatorKind::kDetectXss:
              SetTx("0", input);
              break;
            default:
              break;
          }
        }
        if (rule.negated) ret = !ret;
        if (!ret) continue;
        const std::string_view kwc = val.NameIn(arena);
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
          rm.matched = true;
          rm.op = k;
          rm.param = macro && takes_macros ? param : std::string_view(op.param());
          rm.strip_macros = macro && !takes_macros;
          rm.variable = kwc;
          rm.value = val.value;
        }
        UpdateMatched(kwc, input);
        ActionsIndependent(r, rm);
        if (rule.multi_match && rm.save) {
          Log(rm);
          Message fresh;
          fresh.id = rm.id;
          fresh.head = rm.head;
          fresh.save = rm.save;
          rm = fresh;
          msg_tags.clear();
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
  Data& t = *d;
  if (t.allow == Data::Allow::kFromNowOn && phase != 5) return;
  if (t.allow == Data::Allow::kRequest && phase <= 2) return;
  t.allow = Data::Allow::kNone;
  const auto& list = rules->phases[phase];
  // While a skipAfter's marker is open, the rules up to its next SecMarker are passed over:
  // jump there (a marker not in the rest of this phase stays open into the next one).
  auto next_marker = [&](size_t from) {
    // skipAfter's marker is a rule's string: found by its address (compiled), else by its text.
    const std::vector<size_t>* positions = nullptr;
    const auto& by_address = rules->marker_by_address[phase];
    if (auto a = by_address.find(t.marker); a != by_address.end()) {
      positions = a->second;
    } else if (auto f = rules->markers[phase].find(*t.marker); f != rules->markers[phase].end()) {
      positions = &f->second;
    }
    if (positions == nullptr) return list.size();
    auto pos = std::lower_bound(positions->begin(), positions->end(), from);
    return pos == positions->end() ? list.size() : *pos;
  };
  for (size_t i = t.marker != nullptr ? next_marker(0) : 0; i < list.size(); ++i) {
    const auto& cr = list[i];
    // The rules are walked in order and each one's data (CRule, Rule, variables, operator) lives
    // in its own heap blocks, cold when a transaction reaches it (its first load was the largest
    // single cost of the CRS mix): fetch the next rules' ahead, one level of pointers per step —
    // the CRule three ahead, its Rule and variables two ahead, its operator one ahead.
    if (i + 3 < list.size()) __builtin_prefetch(list[i + 3].get());
    if (i + 2 < list.size()) {
      const CRule& c2 = *list[i + 2];
      __builtin_prefetch(c2.rule);
      __builtin_prefetch(c2.vars.data());
    }
    if (i + 1 < list.size() && list[i + 1]->rule->op != nullptr) {
      __builtin_prefetch(list[i + 1]->rule->op.get());
    }
    const Rule& rule = *cr->rule;
    if (rule.kind == Rule::Kind::kMarker) {
      if (t.marker != nullptr && *t.marker == rule.marker) t.marker = nullptr;
      continue;
    }
    if (t.skip_next > 0) {
      --t.skip_next;
      continue;
    }
    if (t.allow != Data::Allow::kNone) continue;
    if (cr->removed) continue;
    bool removed = false;
    for (const auto& tag : t.remove_tags) {
      if (HasTag(rule, tag)) removed = true;
    }
    if (removed) continue;
    Message rm;
    rm.id = rule.id;
    rm.head = &rule;
    msg_tags.clear();
    EvaluateRule(*cr, rm);
    if (t.it.disruptive) {
      if (rm.disruptive) Log(rm);
      break;
    }
    if (t.marker != nullptr) i = next_marker(i + 1) - 1;
  }
}

// --- arguments ---

// `key` and `value` in the arena.
bool Transaction::State::AddArgument(std::string_view origin, std::string_view key,
                                     std::string_view value) {
  const auto& set = *rules->set;
  Collection& args = Set(kArgs);
  if (set.arguments_limit && static_cast<int64_t>(args.size()) >= *set.arguments_limit) {
    return false;
  }
  args.emplace(key, value);
  if (origin == "GET") {
    Set(kArgsGet).emplace(key, value);
  } else if (origin == "POST") {
    Set(kArgsPost).emplace(key, value);
  }
  d->args_combined_size += static_cast<int64_t>(key.size() + value.size());
  SetScalarView(kArgsCombinedSize, arena.Number(d->args_combined_size));
  return true;
}

// The one application/x-www-form-urlencoded parser (query string and body), as libmodsecurity
// 3.0.9's Transaction::extractArguments: split on SecArgumentSeparator (getline: no trailing
// empty piece), then on the first '=', names and values URL-decoded non-strictly ('+' is a
// space, an invalid %-escape kept and URLENCODED_ERROR set), decoded into the arena.
void Transaction::State::ExtractArguments(std::string_view origin, std::string_view buf) {
  bool invalid = false;
  const char separator = rules->separator;
  size_t pos = 0;
  while (pos < buf.size()) {
    size_t end = buf.find(separator, pos);
    std::string_view piece =
        buf.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    size_t eq = piece.find('=');
    std::string_view k = piece.substr(0, eq);
    std::string_view v = eq == std::string_view::npos ? kEmpty : piece.substr(eq + 1);
    std::string_view key = UrlDecodeNonStrictIn(arena, k, &invalid);
    std::string_view value = UrlDecodeNonStrictIn(arena, v, &invalid);
    AddArgument(origin, key, value);
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  if (invalid) SetScalarView(kUrlencodedError, "1");
}

// --- Transaction ---

Transaction::Transaction(std::shared_ptr<const CompiledRules> rules, std::string unique_id) {
  if (!t_pool.free.empty()) {
    s_ = std::move(t_pool.free.back());
    t_pool.free.pop_back();
  } else {
    s_ = std::make_unique<State>();
  }
  s_->Begin(std::move(rules), unique_id);
}

Transaction::~Transaction() {
  s_->End();
  if (t_pool.free.size() < kPoolMax) t_pool.free.push_back(std::move(s_));
}

const EvalIntervention& Transaction::intervention() const { return s_->d->it; }
const std::vector<MatchLog>& Transaction::matches() const { return s_->d->logs; }

std::optional<std::string> Transaction::Tx(std::string_view name) const {
  const Collection& tx = s_->d->stores[kStoreTx];
  auto v = tx.find(name);
  if (v == tx.end()) return std::nullopt;
  return std::string(v->second.value);
}

bool Transaction::AddArgument(std::string_view origin, std::string_view key,
                              std::string_view value) {
  return s_->AddArgument(origin, s_->arena.Copy(key), s_->arena.Copy(value));
}

void Transaction::AddToCollection(std::string_view collection, std::string_view key,
                                  std::string_view value) {
  const int id = IndexOf(kSetCollections, collection);
  if (id < 0) return;  // no rule reads it
  s_->Set(id).emplace(s_->arena.Copy(key), s_->arena.Copy(value));
}

void Transaction::SetScalar(std::string_view variable, std::string_view value) {
  const int id = s_->rules->scalars.Find(variable);
  if (id >= 0) s_->SetScalar(id, value);  // else no rule reads it
}

void Transaction::UsePersistentCollections(PersistentCollections* collections) {
  s_->persistent = collections;
  if (collections != nullptr) collections->Expire();
}

void Transaction::RemoveTargetById(int64_t id, std::string target) {
  s_->d->remove_target_by_id.emplace_back(id, std::move(target));
}

void Transaction::ProcessConnection(std::string_view client_ip, int client_port,
                                    std::string_view server_ip, int server_port) {
  State& s = *s_;
  s.d->client_ip = s.arena.Copy(client_ip);
  s.d->server_ip = s.arena.Copy(server_ip);
  s.SetScalarView(kRemoteAddr, s.d->client_ip);
  s.SetScalarView(kRemoteHost, s.d->client_ip);
  s.SetScalarView(kRemotePort, s.arena.Number(client_port));
  s.SetScalarView(kServerAddr, s.d->server_ip);
  s.SetScalarView(kServerPort, s.arena.Number(server_port));
}

void Transaction::ProcessUri(std::string_view uri_in, std::string_view method,
                             std::string_view http_version) {
  State& s = *s_;
  Arena& a = s.arena;
  // libmodsecurity's processURI takes C strings: each ends at its first NUL.
  auto c_string = [](std::string_view v) { return v.substr(0, v.find('\0')); };
  uri_in = a.Copy(c_string(uri_in));
  method = a.Copy(c_string(method));
  http_version = c_string(http_version);
  std::string_view uri_s = uri_in;
  size_t frag = uri_s.find('#');
  if (frag != std::string_view::npos) uri_s = uri_s.substr(0, frag);
  size_t raw_q = uri_s.find('?');
  std::string_view decoded = UriDecodeIn(a, uri_s);
  s.SetScalarView(kRequestMethod, method);
  s.SetScalarView(kRequestLine, a.Concat({method, " ", uri_in, " HTTP/", http_version}));
  s.SetScalarView(kRequestProtocol, a.Concat({"HTTP/", http_version}));
  size_t q = decoded.find('?');
  s.d->uri_no_query_decoded = q == std::string_view::npos ? decoded : decoded.substr(0, q);
  if (s.rules->options.fix_cve_2024_1019) {
    s.d->uri_no_query_decoded =
        UriDecodeIn(a, raw_q == std::string_view::npos ? uri_s : uri_s.substr(0, raw_q));
  }
  std::string_view query;
  if (raw_q != std::string_view::npos) {
    query = uri_s.substr(raw_q + 1);
    s.SetScalarView(kQueryString, query);
  }
  const std::string_view path_info = s.d->uri_no_query_decoded;
  s.SetScalarView(kPathInfo, path_info);
  s.SetScalarView(kRequestFilename, path_info);
  size_t slash = path_info.find_last_of("/\\");
  if (slash != std::string_view::npos && path_info.size() > slash + 1) {
    s.SetScalarView(kRequestBasename, path_info.substr(slash + 1));
  }
  std::string_view parsed = decoded;
  if (!decoded.empty() && decoded[0] != '/') {
    size_t colon = decoded.find(':');
    if (colon != std::string_view::npos) {
      size_t scheme = colon + 1;
      size_t nl = decoded.find("//", scheme);
      if (nl != std::string_view::npos && nl == scheme) {
        size_t netloc = nl + 2;
        size_t path = decoded.find('/', netloc);
        if (path != std::string_view::npos) parsed = decoded.substr(path);
      }
    }
  }
  s.SetScalarView(kRequestUri, parsed);
  s.SetScalarView(kRequestUriRaw, uri_in);
  if (!query.empty()) s.ExtractArguments("GET", query);
}

void Transaction::AddRequestHeader(std::string_view key_in, std::string_view value_in) {
  State& s = *s_;
  const std::string_view key = s.arena.Copy(key_in);
  const std::string_view value = s.arena.Copy(value_in);
  s.Set(kRequestHeadersNames).emplace(key, key);
  s.Set(kRequestHeaders).emplace(key, value);
  if (EqualsIgnoreCase(key, "authorization")) {
    size_t sp = value.find(' ');
    s.SetScalarView(kAuthType, value.substr(0, sp));
  }
  if (EqualsIgnoreCase(key, "cookie")) {
    // ssplit on ';' (getline: no trailing empty piece), whitespace after the last pair dropped.
    size_t pos = 0;
    while (pos < value.size()) {
      size_t end = value.find(';', pos);
      std::string_view c =
          value.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
      const bool last = end == std::string_view::npos || end + 1 >= value.size();
      if (last) {
        while (!c.empty() && std::isspace(static_cast<unsigned char>(c.back()))) {
          c.remove_suffix(1);
        }
      }
      if (!c.empty()) {
        size_t eq = c.find('=');
        std::string_view ckey = eq == std::string_view::npos ? c : c.substr(0, eq);
        std::string_view cval = eq == std::string_view::npos ? kEmpty : c.substr(eq + 1);
        size_t ws = 0;
        while (ws < ckey.size() && std::isspace(static_cast<unsigned char>(ckey[ws]))) ++ws;
        ckey.remove_prefix(ws);
        if (!ckey.empty()) {
          s.Set(kRequestCookiesNames).emplace(ckey, ckey);
          s.Set(kRequestCookies).emplace(ckey, cval);
        }
      }
      if (end == std::string_view::npos) break;
      pos = end + 1;
    }
  }
  if (EqualsIgnoreCase(key, "content-type")) {
    if (StartsWithIgnoreCase(value, "multipart/form-data")) {
      s.d->body_type = State::Data::BodyType::kMultipart;
      s.SetScalarView(kReqbodyProcessor, "MULTIPART");
    }
    if (StartsWithIgnoreCase(value, "application/x-www-form-urlencoded")) {
      s.d->body_type = State::Data::BodyType::kUrlEncoded;
      s.SetScalarView(kReqbodyProcessor, "URLENCODED");
    }
  }
  if (EqualsIgnoreCase(key, "host")) {
    size_t colon = value.find(':');
    s.SetScalarView(kServerName, value.substr(0, colon));
  }
}

void Transaction::ProcessRequestHeaders() {
  if (s_->d->engine == EngineMode::kOff) return;
  s_->EvaluatePhase(1);
}

void Transaction::AppendRequestBody(std::string_view bytes) {
  State& s = *s_;
  const auto& set = *s.rules->set;
  const int64_t limit = set.request_body_limit.value_or(0);
  const int64_t cur = static_cast<int64_t>(s.request_body.size());
  if (limit > 0 && limit < static_cast<int64_t>(bytes.size()) + cur) {
    s.SetScalarView(kInboundDataError, "1");
    if (set.request_body_limit_action == "ProcessPartial") {
      s.request_body.append(
          bytes.substr(0, static_cast<size_t>(std::max<int64_t>(0, limit - cur))));
      return;
    }
    if (s.d->engine == EngineMode::kOn) {
      s.d->it.status = 403;
      s.d->it.disruptive = true;
    }
    return;
  }
  s.request_body.append(bytes);
}

void Transaction::ProcessRequestBody() {
  State& s = *s_;
  State::Data& t = *s.d;
  if (t.engine == EngineMode::kOff) return;
  const auto& set = *s.rules->set;
  Arena& a = s.arena;
  if (s.Scalar(kInboundDataError).empty()) s.SetScalarView(kInboundDataError, "0");
  // The body processor 3.0.9 runs: ctl:requestBodyProcessor=XML|JSON first, then the
  // Content-Type's multipart or URL-encoded (seclang/body decides limits and error flags).
  body::BodyInput input;
  if (t.body_proc == State::Data::BodyProc::kXml) {
    input.kind = body::BodyProcessorKind::kXml;
  } else if (t.body_proc == State::Data::BodyProc::kJson) {
    input.kind = body::BodyProcessorKind::kJson;
  } else if (t.body_type == State::Data::BodyType::kMultipart) {
    input.kind = body::BodyProcessorKind::kMultipart;
  } else if (t.body_type == State::Data::BodyType::kUrlEncoded) {
    input.kind = body::BodyProcessorKind::kUrlEncoded;
  }
  {
    const Collection& headers = s.Set(kRequestHeaders);
    auto range = headers.equal_range("content-type");
    if (range.first != range.second) input.content_type = range.first->second.value;
  }
  const std::string_view request_body = a.Copy(s.request_body);
  input.body = request_body;
  input.args_before = s.Set(kArgs).size();
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
  t.xml = br.xml();
  s.xml_memo_used = 0;  // XML:<xpath> results belong to the document they were read from
  if (br.parse_urlencoded) s.ExtractArguments("POST", request_body);
  for (const auto& arg : br.args) {
    const std::string_view name = a.Copy(arg.name);
    const std::string_view value = a.Copy(arg.value);
    s.Set(kArgs).emplace(name, value);
    if (br.args_are_post) s.Set(kArgsPost).emplace(name, value);
  }
  if (br.args_combined_size_added > 0) {
    t.args_combined_size += static_cast<int64_t>(br.args_combined_size_added);
    s.SetScalarView(kArgsCombinedSize, a.Number(t.args_combined_size));
  }
  for (const auto& f : br.files) {
    const std::string_view name = a.Copy(f.name);
    s.Set(kFiles).emplace(name, a.Copy(f.filename));
    s.Set(kFilesNames).emplace(name, name);
    s.Set(kFilesSizes).emplace(name, a.Copy(f.size));
    // FILES_TMP_CONTENT: 3.0.9 keeps the content only with upload storage (Ward has none).
    s.Set(kFilesTmpContent).emplace(name, kEmpty);
  }
  if (br.files_combined_size.set) s.SetScalar(kFilesCombinedSize, br.files_combined_size.value);
  for (const auto& n : br.multipart_names) {
    s.Set(kMultipartName).emplace(a.Copy(n.name), a.Copy(n.value));
  }
  for (const auto& n : br.multipart_filenames) {
    s.Set(kMultipartFilename).emplace(a.Copy(n.name), a.Copy(n.value));
  }
  for (const auto& n : br.multipart_part_headers) {
    s.Set(kMultipartPartHeaders).emplace(a.Copy(n.name), a.Copy(n.value));
  }
  if (br.multipart.set) {
    const auto& m = br.multipart;
    const int flags[] = {
        m.strict_error,           m.unmatched_boundary,  m.data_before,     m.data_after,
        m.boundary_quoted,        m.boundary_whitespace, m.header_folding,  m.lf_line,
        m.crlf_lf_lines,          m.missing_semicolon,   m.invalid_quoting, m.invalid_part,
        m.invalid_header_folding,
    };
    for (size_t i = 0; i < std::size(flags); ++i) {
      s.SetScalarView(kMultipartStrictError + static_cast<int>(i), a.Number(flags[i]));
    }
  }
  const std::pair<int, const body::ScalarVar*> scalars[] = {
      {kReqbodyError, &br.reqbody_error},
      {kReqbodyErrorMsg, &br.reqbody_error_msg},
      {kReqbodyProcessorError, &br.reqbody_processor_error},
      {kReqbodyProcessorErrorMsg, &br.reqbody_processor_error_msg},
  };
  for (const auto& [id, var] : scalars) {
    if (var->set) s.SetScalar(id, var->value);
  }
  if (br.inbound_data_error) s.SetScalarView(kInboundDataError, "1");
  if (!set.request_body_access) {
    if (!(t.body_access && *t.body_access)) return;
  } else if (t.body_access && !*t.body_access) {
    return;
  }
  {
    std::vector<Value>& hs = s.values_scratch;
    hs.clear();
    s.ResolveBase(s.rules->all_request_headers, nullptr, hs);
    size_t n = 2 + request_body.size();
    for (const auto& h : hs) n += h.key.size() + 2 + h.value.size() + 1;
    char* full = a.Alloc(n);
    size_t o = 0;
    auto put = [&](std::string_view p) {
      if (!p.empty()) std::memcpy(full + o, p.data(), p.size());
      o += p.size();
    };
    for (const auto& h : hs) {
      put(h.key);
      put(": ");
      put(h.value);
      put("\n");
    }
    put("\n\n");
    put(request_body);
    s.SetScalarView(kFullRequestLength, a.Number(static_cast<int64_t>(n)));
    s.SetScalarView(kFullRequest, std::string_view(full, n));
  }
  if (!request_body.empty()) {
    s.SetScalarView(kRequestBody, request_body);
    s.SetScalarView(kRequestBodyLength, a.Number(static_cast<int64_t>(request_body.size())));
  }
  s.EvaluatePhase(2);
}

void Transaction::AddResponseHeader(std::string_view key_in, std::string_view value_in) {
  State& s = *s_;
  const std::string_view key = s.arena.Copy(key_in);
  const std::string_view value = s.arena.Copy(value_in);
  s.Set(kResponseHeadersNames).emplace(key, key);
  s.Set(kResponseHeaders).emplace(key, value);
  if (EqualsIgnoreCase(key, "content-type")) {
    size_t semi = value.find(';');
    if (!(semi == 0 && value.size() == 1)) {
      s.SetScalarView(kResponseContentType, value.substr(0, semi));
    }
  }
}

void Transaction::ProcessResponseHeaders(int status, std::string_view protocol) {
  State& s = *s_;
  s.SetScalarView(kResponseStatus, s.arena.Number(status));
  s.SetScalar(kResponseProtocol, protocol);
  if (s.d->engine == EngineMode::kOff) return;
  s.EvaluatePhase(3);
}

void Transaction::AppendResponseBody(std::string_view bytes) {
  State& s = *s_;
  const auto& set = *s.rules->set;
  const int64_t limit = set.response_body_limit.value_or(0);
  const int64_t cur = static_cast<int64_t>(s.response_body.size());
  if (limit > 0 && limit < static_cast<int64_t>(bytes.size()) + cur) {
    s.SetScalarView(kOutboundDataError, "1");
    s.response_body.append(bytes.substr(0, static_cast<size_t>(std::max<int64_t>(0, limit - cur))));
    return;
  }
  s.response_body.append(bytes);
}

void Transaction::ProcessResponseBody() {
  State& s = *s_;
  if (s.d->engine == EngineMode::kOff) return;
  const auto& set = *s.rules->set;
  if (!set.response_body_access) return;
  const std::string_view ct = s.Scalar(kResponseContentType);
  if (!set.response_body_mime_types.empty() &&
      std::find(set.response_body_mime_types.begin(), set.response_body_mime_types.end(), ct) ==
          set.response_body_mime_types.end()) {
    return;
  }
  if (s.Scalar(kOutboundDataError).empty()) s.SetScalarView(kOutboundDataError, "0");
  s.SetScalar(kResponseBody, s.response_body);
  s.SetScalarView(kResponseContentLength,
                  s.arena.Number(static_cast<int64_t>(s.response_body.size())));
  s.EvaluatePhase(4);
}

void Transaction::ProcessLogging() {
  if (s_->d->engine == EngineMode::kOff) return;
  s_->EvaluatePhase(5);
}

}  // namespace ward::seclang
