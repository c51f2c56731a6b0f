#include "agent/modules/ips/seclang/operators.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <arpa/inet.h>
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

// libinjection as libmodsecurity.so.3 embeds and exports it.
extern "C" int libinjection_sqli(const char* s, size_t slen, char fingerprint[]);
extern "C" int libinjection_xss(const char* s, size_t slen);

namespace ward::seclang {
namespace {

using u8 = unsigned char;

struct NameEntry {
  std::string_view name;
  OperatorKind kind;
};
constexpr NameEntry kOperatorNames[] = {
    {"rx", OperatorKind::kRx},
    {"pm", OperatorKind::kPm},
    {"pmFromFile", OperatorKind::kPmFromFile},
    {"pmf", OperatorKind::kPmFromFile},
    {"detectSQLi", OperatorKind::kDetectSqli},
    {"detectXSS", OperatorKind::kDetectXss},
    {"validateByteRange", OperatorKind::kValidateByteRange},
    {"validateUrlEncoding", OperatorKind::kValidateUrlEncoding},
    {"validateUtf8Encoding", OperatorKind::kValidateUtf8Encoding},
    {"within", OperatorKind::kWithin},
    {"streq", OperatorKind::kStrEq},
    {"contains", OperatorKind::kContains},
    {"containsWord", OperatorKind::kContainsWord},
    {"endsWith", OperatorKind::kEndsWith},
    {"beginsWith", OperatorKind::kBeginsWith},
    {"eq", OperatorKind::kEq},
    {"ge", OperatorKind::kGe},
    {"gt", OperatorKind::kGt},
    {"le", OperatorKind::kLe},
    {"lt", OperatorKind::kLt},
    {"ipMatch", OperatorKind::kIpMatch},
    {"ipMatchFromFile", OperatorKind::kIpMatchFromFile},
    {"ipMatchF", OperatorKind::kIpMatchFromFile},
    {"unconditionalMatch", OperatorKind::kUnconditionalMatch},
    {"noMatch", OperatorKind::kNoMatch},
    {"geoLookup", OperatorKind::kGeoLookup},
    {"rbl", OperatorKind::kRblHttpBl},
};

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<u8>(a[i])) != std::tolower(static_cast<u8>(b[i]))) return false;
  }
  return true;
}

bool IsSpace(u8 c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
u8 ToLower(u8 c) { return (c >= 'A' && c <= 'Z') ? static_cast<u8>(c + 32) : c; }

// strtol-style parse of a decimal prefix: leading whitespace, a sign, digits. Returns nullopt
// when there are no digits; `overflow` tells whether the value left the long long range (the
// value is then saturated, as strtoll does).
std::optional<long long> ParseDecimal(std::string_view s, bool& overflow) {
  overflow = false;
  size_t i = 0;
  while (i < s.size() && IsSpace(static_cast<u8>(s[i]))) ++i;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  const size_t digits_start = i;
  unsigned long long v = 0;
  const unsigned long long limit =
      negative ? static_cast<unsigned long long>(LLONG_MAX) + 1 : LLONG_MAX;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
    const unsigned d = static_cast<unsigned>(s[i] - '0');
    if (!overflow && v > (limit - d) / 10) overflow = true;
    if (!overflow) v = v * 10 + d;
  }
  if (i == digits_start) return std::nullopt;
  if (overflow) return negative ? LLONG_MIN : LLONG_MAX;
  return negative ? static_cast<long long>(0 - v) : static_cast<long long>(v);
}

// The string up to its first NUL (what the library sees through c_str()).
std::string_view CString(std::string_view s) {
  const void* nul = std::memchr(s.data(), 0, s.size());
  return nul != nullptr ? s.substr(0, static_cast<const char*>(nul) - s.data()) : s;
}

// atoll(): saturating strtoll on the C string.
long long Atoll(std::string_view s) {
  bool overflow = false;
  return ParseDecimal(CString(s), overflow).value_or(0);
}

// std::stoi() where any failure (no digits, out of int range) counts as 0, as @eq does.
int StoiOrZero(std::string_view s) {
  bool overflow = false;
  const auto v = ParseDecimal(CString(s), overflow);
  if (!v || overflow || *v < INT_MIN || *v > INT_MAX) return 0;
  return static_cast<int>(*v);
}

bool ContainsWord(std::string_view str, std::string_view target) {
  if (target.empty()) return true;
  if (str.empty()) return false;
  if (str == target) return true;
  // Only ASCII letters make a word; a position outside the string is not a boundary.
  auto acceptable = [&](size_t pos) {
    if (str.size() - 1 < pos) return false;
    const auto c = static_cast<u8>(str[pos]);
    return !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'));
  };
  size_t pos = str.find(target);
  while (pos != std::string_view::npos) {
    if (pos == 0 && acceptable(target.size())) return true;
    if (pos + target.size() == str.size() && acceptable(pos - 1)) return true;
    if (acceptable(pos - 1) && acceptable(pos + target.size())) return true;
    pos = str.find(target, pos + 1);
  }
  return false;
}

bool ValidateUrlEncoding(std::string_view in) {
  if (in.empty()) return false;
  auto hex = [](u8 c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  };
  size_t i = 0;
  while (i < in.size()) {
    if (in[i] != '%') {
      ++i;
      continue;
    }
    if (i + 2 >= in.size()) return true;
    if (!hex(static_cast<u8>(in[i + 1])) || !hex(static_cast<u8>(in[i + 2]))) return true;
    i += 3;
  }
  return false;
}

// True when `in` is not valid UTF-8 in libmodsecurity's sense.
bool InvalidUtf8(std::string_view in) {
  const auto* p = reinterpret_cast<const u8*>(in.data());
  size_t i = 0;
  while (i < in.size()) {
    const size_t left = in.size() - i;
    const u8 c = p[i];
    int len;
    unsigned d = 0;
    if ((c & 0x80) == 0) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      if (left < 2 || (p[i + 1] & 0xC0) != 0x80) return true;
      len = 2;
      d = ((c & 0x1Fu) << 6) | (p[i + 1] & 0x3Fu);
    } else if ((c & 0xF0) == 0xE0) {
      if (left < 3 || (p[i + 1] & 0xC0) != 0x80 || (p[i + 2] & 0xC0) != 0x80) return true;
      len = 3;
      d = ((c & 0x0Fu) << 12) | ((p[i + 1] & 0x3Fu) << 6) | (p[i + 2] & 0x3Fu);
    } else if ((c & 0xF8) == 0xF0) {
      if (c >= 0xF5) return true;
      if (left < 4 || (p[i + 1] & 0xC0) != 0x80 || (p[i + 2] & 0xC0) != 0x80 ||
          (p[i + 3] & 0xC0) != 0x80) {
        return true;
      }
      len = 4;
      d = ((c & 0x07u) << 18) | ((p[i + 1] & 0x3Fu) << 12) | ((p[i + 2] & 0x3Fu) << 6) |
          (p[i + 3] & 0x3Fu);
    } else {
      return true;
    }
    if (d >= 0xD800 && d <= 0xDFFF) return true;
    if ((len == 4 && d < 0x010000) || (len == 3 && d < 0x0800) || (len == 2 && d < 0x80)) {
      return true;
    }
    i += static_cast<size_t>(len);
  }
  return false;
}

// libmodsecurity's parse_pm_content: strips surrounding quotes, decodes |hex| runs (where, as in
// the library, only the letters a-f count as hex digits) and \ escapes. The decoded prefix
// replaces the start of the parameter and the rest of the original text stays behind it.
// Returns nullopt where the library falls back to the raw parameter.
std::optional<std::string> ParsePmContent(std::string_view raw) {
  std::string content(CString(raw));
  size_t offset = 0;
  while (offset < content.size() && (content[offset] == ' ' || content[offset] == '\t')) ++offset;
  std::string parm;
  if (!content.empty() && content[offset < content.size() ? offset : 0] == '"' &&
      content.back() == '"' && offset < content.size()) {
    if (content.size() - offset < 2) return std::nullopt;  // a lone quote: empty content
    parm = content.substr(offset + 1, content.size() - offset - 2);
  } else {
    parm = content.substr(std::min(offset, content.size()));
  }
  parm = std::string(CString(parm));
  if (parm.empty()) return std::nullopt;
  bool bin = false, esc = false;
  int bin_offset = 0;
  char bin_parm[3] = {0, 0, 0};
  size_t x = 0;
  for (size_t i = 0; i < parm.size(); ++i) {
    const char c = parm[i];
    if (c == '|') {
      bin = !bin;
    } else if (!esc && c == '\\') {
      esc = true;
    } else if (bin) {
      const bool accepted = (c >= 0 && c <= 9) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
      if (accepted) {
        bin_parm[bin_offset++] = c;
        if (bin_offset == 2) {
          parm[x++] = static_cast<char>(std::strtol(bin_parm, nullptr, 16) & 0xFF);
          bin_offset = 0;
        }
      }
    } else if (esc) {
      if (c == ':' || c == ';' || c == '\\' || c == '"') {
        parm[x++] = c;
      } else {
        return std::nullopt;  // unsupported escape sequence
      }
      esc = false;
    } else {
      parm[x++] = c;
    }
  }
  return std::string(CString(parm));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// @rx: PCRE2 with libmodsecurity 3.0.9's options (DOTALL | MULTILINE), JIT with its fallback.

struct Operator::Regex {
  pcre2_code* code = nullptr;
  bool jit = false;
  uint32_t pairs = 1;
  ~Regex() { pcre2_code_free(code); }
};

// ---------------------------------------------------------------------------------------------
// @pm: libmodsecurity's Aho-Corasick (acmp) rebuilt with the same automaton, whose failure links
// look one level up only, so that it misses exactly what the library misses.

struct Operator::PatternSet {
  struct Node {
    long letter = 0;
    int parent = -1;
    int fail = 0;
    bool is_last = false;
    int o_match = -1;
    uint32_t text_pattern = 0;  // the pattern whose prefix this node spells first
    uint32_t text_length = 0;
    std::vector<std::pair<long, int>> children;  // sorted by letter
  };
  std::vector<std::string> patterns;
  std::vector<Node> nodes{1};

  int Child(int node, long letter) const {
    const auto& ch = nodes[static_cast<size_t>(node)].children;
    const auto it = std::lower_bound(ch.begin(), ch.end(), std::make_pair(letter, INT_MIN));
    return (it != ch.end() && it->first == letter) ? it->second : -1;
  }

  void Add(std::string pattern) {
    patterns.push_back(std::move(pattern));
    const std::string& p = patterns.back();
    int parent = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      // The library widens the signed char and glibc's tolower() maps -128..-1 back to
      // 128..255, so every byte is its unsigned value, lowercased in ASCII.
      const long letter = ToLower(static_cast<u8>(p[i]));
      int child = Child(parent, letter);
      if (child < 0) {
        child = static_cast<int>(nodes.size());
        Node n;
        n.letter = letter;
        n.parent = parent;
        n.text_pattern = static_cast<uint32_t>(patterns.size() - 1);
        n.text_length = static_cast<uint32_t>(i + 1);
        nodes.push_back(std::move(n));
        auto& ch = nodes[static_cast<size_t>(parent)].children;
        ch.insert(std::lower_bound(ch.begin(), ch.end(), std::make_pair(letter, INT_MIN)),
                  {letter, child});
      }
      if (i == p.size() - 1) nodes[static_cast<size_t>(child)].is_last = true;
      parent = child;
    }
  }

  void Prepare() {
    std::vector<int> level;
    for (const auto& [letter, child] : nodes[0].children) level.push_back(child);
    std::vector<int> order;
    while (!level.empty()) {
      std::vector<int> next;
      for (const int n : level) {
        Node& node = nodes[static_cast<size_t>(n)];
        node.fail = 0;
        if (node.parent != 0) {
          const int g = Child(nodes[static_cast<size_t>(node.parent)].fail, node.letter);
          node.fail = g >= 0 ? g : 0;
        }
        order.push_back(n);
        for (const auto& [letter, child] : node.children) next.push_back(child);
      }
      level = std::move(next);
    }
    for (const int n : order) {
      for (int om = nodes[static_cast<size_t>(n)].fail; om != 0;
           om = nodes[static_cast<size_t>(om)].fail) {
        if (nodes[static_cast<size_t>(om)].is_last) {
          nodes[static_cast<size_t>(n)].o_match = om;
          break;
        }
      }
    }
  }

  std::string_view Text(int n) const {
    const Node& node = nodes[static_cast<size_t>(n)];
    return std::string_view(patterns[node.text_pattern]).substr(0, node.text_length);
  }

  // The library's search step, simulated: from `node` on `letter`, the node reached (>= 0) or
  // ~node of the node whose text the library reports (a match ends the search).
  int Step(int node, long letter) const {
    int go_to = -1;
    while (go_to < 0) {
      go_to = Child(node, letter);
      if (go_to >= 0 && nodes[static_cast<size_t>(go_to)].is_last) return ~go_to;
      if (node == 0) break;
      if (go_to < 0) node = nodes[static_cast<size_t>(node)].fail;
    }
    if (go_to >= 0) node = go_to;
    if (nodes[static_cast<size_t>(node)].o_match >= 0) return ~node;
    return node;
  }

  // Step() precomputed for every node and letter class (the letters the patterns use, and one
  // class for every other byte, which never has a child): the search is then one table load per
  // input byte. Built after Prepare().
  std::array<uint16_t, 256> letter_class{};
  size_t classes = 1;
  std::vector<int32_t> table;
  // The same table in 16 bits (a node, or 0x8000 | the reported node) when the automaton has
  // fewer than 32,768 nodes, as every CRS set has: half the cache lines per step.
  std::vector<uint16_t> table16;

  void BuildTable() {
    letter_class.fill(0);
    std::array<long, 256> representative{};
    classes = 1;
    for (const Node& n : nodes) {
      for (const auto& [letter, child] : n.children) {
        (void)child;
        const auto l = static_cast<size_t>(letter);
        if (l < 256 && letter_class[l] == 0) {
          letter_class[l] = static_cast<uint16_t>(classes);
          representative[classes++] = letter;
        }
      }
    }
    // Upper-case ASCII letters share their lower-case letter's class (the library lowercases).
    for (int c = 'A'; c <= 'Z'; ++c) {
      letter_class[static_cast<size_t>(c)] = letter_class[static_cast<size_t>(c - 'A' + 'a')];
    }
    table.assign(nodes.size() * classes, 0);
    for (size_t n = 0; n < nodes.size(); ++n) {
      // The class of bytes no pattern uses: no node has a child for them.
      table[n * classes] = Step(static_cast<int>(n), -1);
      for (size_t c = 1; c < classes; ++c) {
        table[n * classes + c] = Step(static_cast<int>(n), representative[c]);
      }
    }
    table16.clear();
    if (nodes.size() < 0x8000) {
      table16.resize(table.size());
      for (size_t i = 0; i < table.size(); ++i) {
        table16[i] = static_cast<uint16_t>(table[i] >= 0 ? table[i] : (0x8000 | ~table[i]));
      }
      table.clear();
      table.shrink_to_fit();
    }
  }

  // Returns the node whose text the library reports, or -1.
  int Find(std::string_view input) const {
    const size_t k = classes;
    if (!table16.empty()) {
      const uint16_t* t = table16.data();
      size_t node = 0;
      for (const char ch : input) {
        node = t[node * k + letter_class[static_cast<u8>(ch)]];
        if (node & 0x8000) return static_cast<int>(node & 0x7fff);
      }
      return -1;
    }
    const int32_t* t = table.data();
    int32_t node = 0;
    for (const char ch : input) {
      node = t[static_cast<size_t>(node) * k + letter_class[static_cast<u8>(ch)]];
      if (node < 0) return ~node;
    }
    return -1;
  }
};

// ---------------------------------------------------------------------------------------------
// @ipMatch: networks parsed as libmodsecurity's msc_tree does.

struct Operator::IpSet {
  struct Net {
    bool v6;
    std::array<u8, 16> addr;
    int bits;
  };
  std::vector<Net> nets;

  // One comma-separated entry; false where the library refuses it.
  bool AddEntry(std::string entry) {
    const bool v6 = entry.find(':') != std::string::npos;
    const size_t cap = v6 ? 127 : 31;  // the library's fixed buffers
    if (entry.size() > cap) entry.resize(cap);
    int bits = v6 ? 128 : 32;
    const size_t slash = entry.find('/');
    if (slash != std::string::npos) {
      const std::string mask = entry.substr(slash + 1);
      if (mask.find(v6 ? ':' : '.') != std::string::npos) return false;
      const int cidr = std::atoi(mask.c_str());
      if (cidr < 0 || cidr > (v6 ? 128 : 32)) return false;
      bits = cidr;
      // IPv6 keeps "/128" in the text (and then fails to parse), as the library does.
      if (!(v6 && bits == 128)) entry.resize(slash);
    }
    if (bits == 0) return false;
    Net net{v6, {}, bits};
    if (inet_pton(v6 ? AF_INET6 : AF_INET, entry.c_str(), net.addr.data()) <= 0) return false;
    nets.push_back(net);
    return true;
  }

  bool AddList(std::string_view text) {
    std::istringstream lines{std::string(text)};
    for (std::string line; std::getline(lines, line);) {
      const size_t hash = line.find('#');
      if (hash != std::string::npos) line.resize(hash);
      line = std::string(CString(line));
      size_t start = 0;
      while (start <= line.size()) {
        size_t comma = line.find(',', start);
        if (comma == std::string::npos) comma = line.size();
        if (comma > start && !AddEntry(line.substr(start, comma - start))) return false;
        start = comma + 1;
      }
    }
    return true;
  }

  bool Contains(std::string_view input) const {
    const std::string_view value = CString(input);
    if (value.size() > 63) return false;
    char buf[64];
    std::memcpy(buf, value.data(), value.size());
    buf[value.size()] = '\0';
    const bool v6 = value.find(':') != std::string_view::npos;
    std::array<u8, 16> addr{};
    if (inet_pton(v6 ? AF_INET6 : AF_INET, buf, addr.data()) <= 0) return false;
    for (const Net& n : nets) {
      if (n.v6 != v6) continue;
      const int full = n.bits / 8, rest = n.bits % 8;
      if (std::memcmp(addr.data(), n.addr.data(), static_cast<size_t>(full)) != 0) continue;
      if (rest != 0) {
        const u8 mask = static_cast<u8>(0xff << (8 - rest));
        if ((addr[static_cast<size_t>(full)] & mask) != (n.addr[static_cast<size_t>(full)] & mask))
          continue;
      }
      return true;
    }
    return false;
  }
};

// ---------------------------------------------------------------------------------------------

OperatorScratch::OperatorScratch() { captures_.reserve(16); }
OperatorScratch::~OperatorScratch() {
  pcre2_match_data_free(static_cast<pcre2_match_data*>(match_data_));
  pcre2_code_free(static_cast<pcre2_code*>(macro_code_));
}

Operator::Operator(OperatorKind kind, std::string param) : kind_(kind), param_(std::move(param)) {}
Operator::~Operator() = default;

std::string_view OperatorName(OperatorKind kind) {
  for (const auto& e : kOperatorNames) {
    if (e.kind == kind) return e.name;
  }
  return "?";
}

namespace {

Result<std::string> ReadFile(const std::filesystem::path& base_dir, std::string_view name,
                             std::string_view op) {
  std::filesystem::path p(name);
  if (p.is_relative()) p = base_dir / p;
  std::error_code ec;
  std::ifstream in;
  if (std::filesystem::is_regular_file(p, ec)) in.open(p, std::ios::binary);
  if (!in.is_open()) {
    return NotFound(std::string("@") + std::string(op) + ": cannot open " + p.string());
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool IsPmComment(const std::string& s) {
  if (s.empty()) return true;
  const size_t pos = s.find('#');
  if (pos == std::string::npos) return false;
  for (size_t i = 0; i < pos; ++i) {
    if (!IsSpace(static_cast<u8>(s[i]))) return false;
  }
  return true;
}

// One range of @validateByteRange ("32", "9-13"), set in `table`; pieces the library cannot
// read are skipped as it skips them. Returns false for a single value outside 0-255, which the
// library would write outside its table (Ward refuses the rule instead).
bool AddByteRange(const std::string& piece, std::array<uint8_t, 32>& table) {
  auto stoi = [](const std::string& s) -> std::optional<int> {
    bool overflow = false;
    const auto v = ParseDecimal(s, overflow);
    if (!v || overflow || *v < INT_MIN || *v > INT_MAX) return std::nullopt;
    return static_cast<int>(*v);
  };
  auto set = [&](int b) {
    table[static_cast<size_t>(b >> 3)] |= static_cast<uint8_t>(1 << (b & 7));
  };
  const size_t dash = piece.find('-');
  if (dash == std::string::npos) {
    const auto v = stoi(piece);
    if (!v) return true;
    if (*v < 0 || *v > 255) return false;
    set(*v);
    return true;
  }
  const auto start = stoi(piece.substr(0, dash));
  const auto end = stoi(piece.substr(dash + 1));
  if (!start || !end || *start < 0 || *start > 255 || *end < 0 || *end > 255 || *start > *end) {
    return true;
  }
  for (int b = *start; b <= *end; ++b) set(b);
  return true;
}

}  // namespace

Result<std::unique_ptr<Operator>> Operator::Create(std::string_view name, std::string_view param,
                                                   const std::filesystem::path& base_dir) {
  std::optional<OperatorKind> kind;
  for (const auto& e : kOperatorNames) {
    if (EqualsNoCase(e.name, name)) kind = e.kind;
  }
  if (!kind) {
    return InvalidArgument("operator @" + std::string(name) +
                           " is not supported by Ward's SecLang engine");
  }
  std::unique_ptr<Operator> op(new Operator(*kind, std::string(param)));
  op->has_macro_ = param.find("%{") != std::string_view::npos;
  const std::string label = "@" + std::string(OperatorName(*kind));
  switch (*kind) {
    case OperatorKind::kWithin:
    case OperatorKind::kStrEq:
    case OperatorKind::kContains:
    case OperatorKind::kContainsWord:
    case OperatorKind::kEndsWith:
    case OperatorKind::kBeginsWith:
    case OperatorKind::kEq:
    case OperatorKind::kGe:
    case OperatorKind::kGt:
    case OperatorKind::kLe:
    case OperatorKind::kLt:
      // Parsed once (used when the parameter is not a macro's expansion).
      op->param_int_ = StoiOrZero(op->param_);
      op->param_ll_ = Atoll(op->param_);
      return op;
    case OperatorKind::kDetectSqli:
    case OperatorKind::kDetectXss:
    case OperatorKind::kValidateUrlEncoding:
    case OperatorKind::kValidateUtf8Encoding:
    case OperatorKind::kUnconditionalMatch:
    case OperatorKind::kNoMatch:
    case OperatorKind::kGeoLookup:
      op->has_macro_ = false;  // the parameter is ignored
      return op;
    case OperatorKind::kRblHttpBl:
      // libmodsecurity queries DNS for other lists; http:BL needs SecHttpBlKey, without which
      // it never matches a dotted-quad address.
      if (op->param_.find("httpbl.org") == std::string::npos) {
        return InvalidArgument(label +
                               ": DNS block lists are not supported (only http:BL, which never "
                               "matches without SecHttpBlKey)");
      }
      op->has_macro_ = false;
      return op;
    default:
      break;
  }
  if (op->has_macro_ && *kind != OperatorKind::kRx) {
    return InvalidArgument(label + ": a macro in this operator's parameter is not supported");
  }
  switch (*kind) {
    case OperatorKind::kRx: {
      if (op->has_macro_) return op;  // compiled per thread once expanded
      auto re = std::make_unique<Regex>();
      int error = 0;
      PCRE2_SIZE offset = 0;
      re->code =
          pcre2_compile(reinterpret_cast<PCRE2_SPTR>(op->param_.c_str()), PCRE2_ZERO_TERMINATED,
                        PCRE2_DOTALL | PCRE2_MULTILINE, &error, &offset, nullptr);
      if (re->code == nullptr) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(error, msg, sizeof(msg));
        return InvalidArgument(label + ": regular expression does not compile at offset " +
                               std::to_string(offset) + ": " + reinterpret_cast<char*>(msg));
      }
      re->jit = pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0;
      uint32_t groups = 0;
      pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &groups);
      re->pairs = groups + 1;
      op->regex_ = std::move(re);
      return op;
    }
    case OperatorKind::kPm:
    case OperatorKind::kPmFromFile: {
      auto set = std::make_unique<PatternSet>();
      if (*kind == OperatorKind::kPm) {
        const auto content = ParsePmContent(op->param_);
        std::istringstream words(content ? *content : op->param_);
        for (std::string w; words >> w;) set->Add(std::move(w));
      } else {
        auto text = ReadFile(base_dir, op->param_, "pmFromFile");
        if (!text.has_value()) return text.error();
        std::istringstream lines(*text);
        for (std::string line; std::getline(lines, line);) {
          if (!IsPmComment(line)) set->Add(std::move(line));
        }
      }
      set->Prepare();
      set->BuildTable();
      op->patterns_ = std::move(set);
      return op;
    }
    case OperatorKind::kValidateByteRange: {
      size_t start = 0;
      while (true) {
        const size_t comma = op->param_.find(',', start);
        const std::string piece = op->param_.substr(
            start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!AddByteRange(piece, op->byte_table_)) {
          return InvalidArgument(label + ": byte value out of range 0-255: " + piece);
        }
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      return op;
    }
    case OperatorKind::kIpMatch:
    case OperatorKind::kIpMatchFromFile: {
      auto ips = std::make_unique<IpSet>();
      std::string text = op->param_;
      if (*kind == OperatorKind::kIpMatchFromFile) {
        auto file = ReadFile(base_dir, op->param_, "ipMatchFromFile");
        if (!file.has_value()) return file.error();
        text = std::move(*file);
      }
      if (!ips->AddList(text)) return InvalidArgument(label + ": invalid network in " + op->param_);
      op->ips_ = std::move(ips);
      return op;
    }
    default:
      return InvalidArgument(label + ": not supported");
  }
}

bool Operator::Evaluate(std::string_view input, std::string_view param,
                        OperatorScratch& scratch) const {
  // The parameter as compiled (not a macro's expansion): what Create() parsed applies.
  const bool own_param = param.data() == param_.data() && param.size() == param_.size();
  scratch.captures_.clear();
  scratch.matched_ = {};
  switch (kind_) {
    case OperatorKind::kRx: {
      if (param_.empty()) return true;
      pcre2_code* code = regex_ ? regex_->code : nullptr;
      bool jit = regex_ && regex_->jit;
      if (has_macro_) {
        if (scratch.macro_code_ == nullptr || scratch.macro_pattern_ != param) {
          pcre2_code_free(static_cast<pcre2_code*>(scratch.macro_code_));
          scratch.macro_pattern_.assign(param.empty() ? std::string_view(".*") : param);
          int error = 0;
          PCRE2_SIZE offset = 0;
          scratch.macro_code_ =
              pcre2_compile(reinterpret_cast<PCRE2_SPTR>(scratch.macro_pattern_.data()),
                            scratch.macro_pattern_.size(), PCRE2_DOTALL | PCRE2_MULTILINE, &error,
                            &offset, nullptr);
          scratch.macro_jit_ = scratch.macro_code_ != nullptr &&
                               pcre2_jit_compile(static_cast<pcre2_code*>(scratch.macro_code_),
                                                 PCRE2_JIT_COMPLETE) == 0;
          if (param.empty()) scratch.macro_pattern_.clear();
        }
        code = static_cast<pcre2_code*>(scratch.macro_code_);
        jit = scratch.macro_jit_;
        if (code == nullptr) return false;  // as the library: an invalid expansion never matches
      }
      uint32_t groups = 0;
      if (has_macro_) {
        pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &groups);
      } else {
        groups = regex_->pairs - 1;
      }
      if (scratch.match_pairs_ < groups + 1) {
        pcre2_match_data_free(static_cast<pcre2_match_data*>(scratch.match_data_));
        scratch.match_pairs_ = std::max<uint32_t>(groups + 1, 16);
        scratch.match_data_ = pcre2_match_data_create(scratch.match_pairs_, nullptr);
      }
      auto* md = static_cast<pcre2_match_data*>(scratch.match_data_);
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(input.data());
      int rc = 0;
      if (jit) rc = pcre2_jit_match(code, subject, input.size(), 0, 0, md, nullptr);
      if (!jit || rc == PCRE2_ERROR_JIT_STACKLIMIT) {
        rc = pcre2_match(code, subject, input.size(), 0, PCRE2_NO_JIT, md, nullptr);
      }
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      for (int i = 0; i < rc; ++i) {
        const PCRE2_SIZE start = ov[2 * i], end = ov[2 * i + 1];
        if (end > input.size()) continue;  // an unset group
        scratch.captures_.push_back({i, start, end - start});
      }
      return !scratch.captures_.empty();
    }
    case OperatorKind::kPm:
    case OperatorKind::kPmFromFile: {
      const int node = patterns_->Find(input);
      if (node < 0) return false;
      scratch.matched_ = patterns_->Text(node);
      return true;
    }
    case OperatorKind::kDetectSqli: {
      scratch.fingerprint_.fill(0);
      const int r = libinjection_sqli(input.data(), input.size(), scratch.fingerprint_.data());
      if (r != 0) scratch.matched_ = std::string_view(scratch.fingerprint_.data());
      return r != 0;
    }
    case OperatorKind::kDetectXss:
      return libinjection_xss(input.data(), input.size()) != 0;
    case OperatorKind::kValidateByteRange:
      for (const char ch : input) {
        const auto b = static_cast<u8>(ch);
        if (!(byte_table_[b >> 3] & (1 << (b & 7)))) return true;
      }
      return false;
    case OperatorKind::kValidateUrlEncoding:
      return ValidateUrlEncoding(input);
    case OperatorKind::kValidateUtf8Encoding:
      return InvalidUtf8(input);
    case OperatorKind::kWithin:
      return input.empty() || param.find(input) != std::string_view::npos;
    case OperatorKind::kStrEq:
      return param == input;
    case OperatorKind::kContains:
      return input.find(param) != std::string_view::npos;
    case OperatorKind::kContainsWord:
      return ContainsWord(input, param);
    case OperatorKind::kEndsWith:
      return input.size() >= param.size() && input.substr(input.size() - param.size()) == param;
    case OperatorKind::kBeginsWith:
      return input.size() >= param.size() && input.substr(0, param.size()) == param;
    case OperatorKind::kEq:
      return (own_param ? param_int_ : StoiOrZero(param)) == StoiOrZero(input);
    case OperatorKind::kGe:
      return Atoll(input) >= (own_param ? param_ll_ : Atoll(param));
    case OperatorKind::kGt:
      return Atoll(input) > (own_param ? param_ll_ : Atoll(param));
    case OperatorKind::kLe:
      return Atoll(input) <= (own_param ? param_ll_ : Atoll(param));
    case OperatorKind::kLt:
      return Atoll(input) < (own_param ? param_ll_ : Atoll(param));
    case OperatorKind::kIpMatch:
    case OperatorKind::kIpMatchFromFile:
      return ips_->Contains(input);
    case OperatorKind::kUnconditionalMatch:
      return true;
    case OperatorKind::kNoMatch:
    case OperatorKind::kGeoLookup:
    case OperatorKind::kRblHttpBl:
      return false;
  }
  return false;
}

}  // namespace ward::seclang
