#include "agent/modules/loginspect/os_regex.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>

namespace ward::agent::loginspect {
namespace {

constexpr char kBackslash = '\\';
bool g_prefilters = true;  // SetPrefiltersForTesting
constexpr long kNoMatch = LONG_MIN;
constexpr size_t kMaxPattern = 2048;  // OSSEC's OS_PATTERN_MAXSIZE
constexpr size_t kPad = 16;           // zero bytes after a compiled pattern (look-ahead reads)

unsigned char Lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// The class ids OSSEC compiles "\x" into, and the bytes each one accepts (its regexmap).
int ClassId(char c) {
  switch (c) {
    case 'd':
      return 1;
    case 'w':
      return 2;
    case 's':
      return 3;
    case 'p':
      return 4;
    case '(':
      return 5;
    case ')':
      return 6;
    case '\\':
      return 7;
    case 'D':
      return 8;
    case 'W':
      return 9;
    case 'S':
      return 10;
    case '.':
      return 11;
    case 't':
      return 12;
    case '$':
      return 13;
    case '|':
      return 14;
    case '<':
      return 15;
    default:
      return 0;
  }
}

bool IsDigit(unsigned c) { return c >= '0' && c <= '9'; }
bool IsWordByte(unsigned c) {
  return c == '-' || IsDigit(c) || c == '@' || (c >= 'A' && c <= 'Z') || c == '_' ||
         (c >= 'a' && c <= 'z');
}

std::array<std::array<bool, 256>, 16> BuildClassTable() {
  std::array<std::array<bool, 256>, 16> t{};
  for (unsigned c = 0; c < 256; ++c) {
    t[1][c] = IsDigit(c);
    t[2][c] = IsWordByte(c);
    t[3][c] = c == ' ';
    t[4][c] = (c >= 33 && c <= 46) || (c >= 58 && c <= 63) || c == '[' || c == ']' ||
              (c >= 123 && c <= 125);
    t[5][c] = c == '(';
    t[6][c] = c == ')';
    t[7][c] = c == '\\';
    t[8][c] = !IsDigit(c);
    t[9][c] = !IsWordByte(c);
    t[10][c] = c != ' ';
    t[11][c] = true;
    t[12][c] = c == '\t';
    t[13][c] = c == '$';
    t[14][c] = c == '|';
    t[15][c] = c == '<';
  }
  return t;
}

const std::array<std::array<bool, 256>, 16> kClassTable = BuildClassTable();

bool InClass(unsigned char id, unsigned char c) { return id < 16 && kClassTable[id][c]; }
bool IsPlus(unsigned char c) { return c == '+' || c == '*'; }

bool StartsWithNoCase(const char* s, std::string_view p) {
  for (size_t i = 0; i < p.size(); ++i) {
    if (s[i] == '\0' || Lower(static_cast<unsigned char>(s[i])) != static_cast<unsigned char>(p[i]))
      return false;
  }
  return true;
}

// The first case-insensitive occurrence of `needle` (lower-cased, not empty) in s[0, len):
// memchr for the first byte in either case, then a comparison.
const char* FindNoCase(const char* s, size_t len, std::string_view needle) {
  if (needle.size() > len) return nullptr;
  const auto first = static_cast<unsigned char>(needle[0]);
  const bool letter = first >= 'a' && first <= 'z';
  const char* end = s + (len - needle.size()) + 1;  // last start + 1
  const char* p = s;
  const char* next_lower = nullptr;
  const char* next_upper = nullptr;
  while (p < end) {
    if (next_lower == nullptr || next_lower < p) {
      next_lower = static_cast<const char*>(std::memchr(p, first, static_cast<size_t>(end - p)));
      if (next_lower == nullptr) next_lower = end;
    }
    const char* hit = next_lower;
    if (letter) {
      if (next_upper == nullptr || next_upper < p) {
        next_upper =
            static_cast<const char*>(std::memchr(p, first - 32, static_cast<size_t>(end - p)));
        if (next_upper == nullptr) next_upper = end;
      }
      if (next_upper < hit) hit = next_upper;
    }
    if (hit >= end) return nullptr;
    if (StartsWithNoCase(hit + 1, needle.substr(1))) return hit;
    p = hit + 1;
  }
  return nullptr;
}

// The runs of literal bytes in a compiled sub-pattern that a match must consume consecutively
// (docs in os_regex.h), longest first, at most four. Classes, their '+'/'*' and parentheses end a
// run; the pattern's last byte is left out when it follows a class directly (the matcher may
// succeed without it: Wazuh's "class followed by at most one byte" shortcut).
std::vector<std::string> RequiredLiterals(const std::string& code) {
  std::vector<std::string> runs;
  std::string run;
  auto flush = [&] {
    if (!run.empty()) runs.push_back(run);
    run.clear();
  };
  size_t n = code.find('\0');  // the matcher reads the pattern as a C string
  if (n == std::string::npos) n = code.size();
  size_t i = 0;
  bool after_class = false;
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(code[i]);
    if (c == '\0') break;  // the matcher reads the pattern as a C string: it ends here
    if (c == kBackslash) {
      flush();
      i += 2;
      after_class = true;
      if (i < n && IsPlus(static_cast<unsigned char>(code[i]))) {
        ++i;
        after_class = false;
      }
      continue;
    }
    if (c == '(') {
      flush();
      ++i;
      after_class = false;
      continue;
    }
    if (!(i + 1 == n && after_class)) run.push_back(static_cast<char>(c));
    after_class = false;
    ++i;
  }
  flush();
  std::stable_sort(runs.begin(), runs.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  if (runs.size() > 4) runs.resize(4);
  return runs;
}

// For a '^' sub-pattern: the bytes its first token accepts at offset 0, or empty when it has no
// such constraint (a class with '*', or nothing). A non-empty text whose first byte is not in it
// cannot match: the matcher keeps no retry point before the first token and gives up.
std::vector<bool> FirstBytes(const std::string& code) {
  size_t i = 0;
  if (i < code.size() && code[i] == '(') ++i;
  if (i >= code.size() || code[i] == '\0') return {};
  std::vector<bool> ok(256, false);
  auto c = static_cast<unsigned char>(code[i]);
  if (c == kBackslash) {
    if (i + 1 >= code.size()) return {};
    auto id = static_cast<unsigned char>(code[i + 1]);
    if (i + 2 < code.size() && code[i + 2] == '*') return {};
    for (unsigned b = 0; b < 256; ++b) ok[b] = InClass(id, static_cast<unsigned char>(b));
    return ok;
  }
  for (unsigned b = 0; b < 256; ++b) ok[b] = Lower(static_cast<unsigned char>(b)) == c;
  return ok;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// OsMatch

Result<OsMatch> OsMatch::Compile(std::string_view pattern) {
  OsMatch m;
  m.raw_ = std::string(pattern);
  if (pattern.size() > kMaxPattern) return InvalidArgument("pattern longer than 2048 bytes");
  if (!pattern.empty() && pattern[0] == '!') {
    m.negate_ = true;
    pattern.remove_prefix(1);
  }
  std::string lowered;
  lowered.reserve(pattern.size());
  for (char c : pattern) lowered.push_back(static_cast<char>(Lower(static_cast<unsigned char>(c))));
  size_t start = 0;
  while (true) {
    size_t bar = lowered.find('|', start);
    std::string_view piece = std::string_view(lowered).substr(
        start, bar == std::string::npos ? std::string::npos : bar - start);
    Sub sub;
    bool begin = !piece.empty() && piece.front() == '^';
    bool end = !piece.empty() && piece.back() == '$';
    std::string_view body = begin ? piece.substr(1) : piece;
    if (begin && end) {
      sub.kind = Kind::kExact;
      sub.text = std::string(body.substr(0, body.empty() ? 0 : body.size() - 1));
    } else if (piece.empty()) {
      sub.kind = Kind::kAll;
    } else if (end) {
      sub.kind = Kind::kSuffix;
      sub.text = std::string(body.substr(0, body.size() - 1));
    } else if (begin) {
      sub.kind = Kind::kPrefix;
      sub.text = std::string(body);
    } else {
      sub.kind = Kind::kSubstring;
      sub.text = std::string(body);
    }
    m.subs_.push_back(std::move(sub));
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  return m;
}

bool OsMatch::Match(const char* text, const char* lowered) const {
  if (text == nullptr) return false;
  size_t len = std::char_traits<char>::length(text);
  for (const Sub& sub : subs_) {
    bool hit = false;
    const size_t n = sub.text.size();
    switch (sub.kind) {
      case Kind::kAll:
        hit = true;
        break;
      case Kind::kExact:
        hit = len == n && (lowered != nullptr ? std::memcmp(lowered, sub.text.data(), n) == 0
                                              : StartsWithNoCase(text, sub.text));
        break;
      case Kind::kPrefix:
        hit = lowered != nullptr ? len >= n && std::memcmp(lowered, sub.text.data(), n) == 0
                                 : StartsWithNoCase(text, sub.text);
        break;
      case Kind::kSuffix:
        hit = len >= n &&
              (lowered != nullptr ? std::memcmp(lowered + (len - n), sub.text.data(), n) == 0
                                  : StartsWithNoCase(text + (len - n), sub.text));
        break;
      case Kind::kSubstring:
        hit = lowered != nullptr ? memmem(lowered, len, sub.text.data(), n) != nullptr
                                 : FindNoCase(text, len, sub.text) != nullptr;
        break;
    }
    if (hit) return !negate_;
  }
  return negate_;
}

// ---------------------------------------------------------------------------------------------
// OsRegex

Result<OsRegex> OsRegex::Compile(std::string_view pattern) {
  OsRegex r;
  r.raw_ = std::string(pattern);
  if (pattern.size() > kMaxPattern) return InvalidArgument("pattern longer than 2048 bytes");
  std::string code;
  code.reserve(pattern.size());
  int depth = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == kBackslash) {
      int id = i + 1 < pattern.size() ? ClassId(pattern[i + 1]) : 0;
      if (id == 0) return InvalidArgument(fmt::format("bad escape at offset {}", i));
      code.push_back(kBackslash);
      code.push_back(static_cast<char>(id));
      ++i;
      continue;
    }
    if (c == '(') {
      ++depth;
    } else if (c == ')') {
      c = '(';
      --depth;
    }
    if (depth != 0 && depth != 1) return InvalidArgument("parentheses nest or do not balance");
    c = static_cast<char>(Lower(static_cast<unsigned char>(c)));
    if (c == '|' && depth != 0) return InvalidArgument("'|' inside parentheses");
    code.push_back(c);
  }
  if (depth != 0) return InvalidArgument("unbalanced parentheses");
  size_t start = 0;
  while (true) {
    size_t bar = code.find('|', start);
    std::string piece =
        code.substr(start, bar == std::string::npos ? std::string::npos : bar - start);
    Sub sub;
    if (!piece.empty() && piece.front() == '^') {
      sub.begin = true;
      piece.erase(0, 1);
    }
    // A trailing '$' that is not the id byte of an escape (ids are < 16, so never '$').
    if (!piece.empty() && piece.back() == '$') {
      sub.end = true;
      piece.pop_back();
    }
    for (size_t i = 0; i < piece.size(); ++i) {
      if (piece[i] == kBackslash) {
        ++i;
        continue;
      }
      if (piece[i] == '(') sub.parens.push_back(static_cast<long>(i));
    }
    if (!sub.parens.empty()) r.has_captures_ = true;
    sub.required = RequiredLiterals(piece);
    if (sub.begin) sub.first_byte = FirstBytes(piece);
    sub.code = piece;
    sub.code.append(kPad, '\0');
    r.subs_.push_back(std::move(sub));
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  return r;
}

void OsRegex::SetPrefiltersForTesting(bool on) { g_prefilters = on; }

bool OsRegex::Execute(const char* text, long* end, std::vector<std::string>* captures,
                      const char* lowered) const {
  if (text == nullptr) return false;
  const auto* s = reinterpret_cast<const unsigned char*>(text);
  // OSSEC tracks capture positions whenever the pattern has parentheses and substrings were
  // asked for; the bookkeeping changes where the matcher stands at the end, so it is kept even
  // when the caller ignores the captures.
  bool closure = has_captures_ && captures != nullptr;
  std::vector<long> marks;
  const size_t len = std::char_traits<char>::length(text);
  for (const Sub& sub : subs_) {
    if (g_prefilters && !sub.first_byte.empty() && len > 0 && !sub.first_byte[s[0]]) continue;
    bool found = true;
    static const std::vector<std::string> kNone;
    for (const std::string& lit : g_prefilters ? sub.required : kNone) {
      found = lowered != nullptr ? memmem(lowered, len, lit.data(), lit.size()) != nullptr
                                 : FindNoCase(text, len, lit) != nullptr;
      if (!found) break;
    }
    if (!found) continue;
    marks.assign(sub.parens.size(), kNoMatch);
    long r = Run(sub, s, closure ? &marks : nullptr, lowered, len);
    if (r == kNoMatch) continue;
    *end = r;
    if (captures != nullptr) {
      captures->clear();
      for (size_t j = 0; j + 1 < marks.size(); j += 2) {
        if (marks[j] == kNoMatch || marks[j + 1] == kNoMatch) break;
        long a = marks[j];
        long b = marks[j + 1];
        if (b < a) b = a;
        captures->emplace_back(text + a, static_cast<size_t>(b - a));
      }
    }
    return true;
  }
  return false;
}

// Wazuh 4.14's matcher (os_regex_execute.c, _OS_Regex), restated over offsets: `pt` walks the
// compiled pattern, `st` the text; up to four (pt, st) retry points are kept for a '+'/'*'
// class that handed over to what follows it; on a dead end the newest retry point is resumed,
// else the scan restarts at the byte after the first byte of the failed attempt.
long OsRegex::Run(const Sub& sub, const unsigned char* s, std::vector<long>* marks,
                  const char* lowered, size_t len) const {
  const auto* pat = reinterpret_cast<const unsigned char*>(sub.code.data());
  auto mark = [&](long at, long value) {
    if (marks == nullptr) return;
    for (size_t i = 0; i < sub.parens.size(); ++i) {
      if (sub.parens[i] == at) {
        (*marks)[i] = value;
        return;
      }
    }
  };
  auto end_ok = [&](long st) { return !sub.end || s[st] == '\0'; };

  long r_code = 0;  // Wazuh 4.x starts from the beginning of the text
  bool regex_matched = false;
  long st = 0;
  long st_error = kNoMatch;
  long pt = 0;
  std::array<long, 4> err_pt = {-1, -1, -1, -1};
  std::array<long, 4> err_st = {0, 0, 0, 0};

  // When the pattern starts with a plain byte, a restart at a byte that differs ends in the
  // same state as skipping it (no retry points are left at a restart), so skip it fast.
  const unsigned char lead = pat[0];
  const bool lead_literal = !sub.begin && lead != '\0' && lead != kBackslash && lead != '(';
  for (st = 0; s[st] != '\0'; ++st) {
    if (lead_literal && pt == 0 && lead != Lower(s[st])) {
      r_code = kNoMatch;
      if (lowered != nullptr && g_prefilters) {
        // Jump to the next byte that can start it; none: the pattern (led by a plain byte)
        // cannot match what is left.
        const void* q = std::memchr(lowered + st, lead, len - static_cast<size_t>(st));
        if (q == nullptr) return kNoMatch;
        st = static_cast<const char*>(q) - lowered - 1;
      }
      continue;
    }
    if (pat[pt] == '\0') {
      if (end_ok(st)) return r_code;
    } else if (pat[pt] == '(') {
      mark(pt, st);
      ++pt;
      if (pat[pt] == '\0' && end_ok(st)) return r_code;
    }

    if (pat[pt] == kBackslash) {
      if (InClass(pat[pt + 1], s[st])) {
        long next = pt + 2;
        if (!IsPlus(pat[next])) {
          pt = next;
          if (st_error == kNoMatch) st_error = st;
          r_code = st;
          continue;
        }
        if (pat[next] == '*') regex_matched = true;
        if (regex_matched) {
          ++next;
          int ok_here = -1;
          if (pat[next] == '(') ++next;
          if (pat[next] == '\0') {
            ok_here = 1;
          } else if (pat[next] == kBackslash) {
            if (InClass(pat[next + 1], s[st])) ok_here = IsPlus(pat[next + 2]) ? 0 : 2;
          } else if (pat[next] == Lower(s[st])) {
            regex_matched = false;
            ok_here = 1;
          }
          if (ok_here >= 0) {
            if (marks != nullptr && pat[next - 1] == '(')
              mark(next - 1, regex_matched && ok_here == 1 ? st + 1 : st);
            if (pat[next] == '\0') continue;
            next += ok_here;
            for (size_t k = 0; k < 4; ++k) {
              if (err_pt[k] < 0) {
                err_pt[k] = pt;
                err_st[k] = st;
                break;
              }
            }
            pt = next;
          }
        } else {
          ++next;
          if (marks != nullptr && pat[next] == '(') {
            mark(next, s[st + 1] == '\0' ? st + 1 : st);
            ++next;
          }
          regex_matched = true;
        }
        r_code = st;
        continue;
      } else if ((pat[pt + 2] == '\0' || pat[pt + 3] == '\0') && regex_matched &&
                 r_code != kNoMatch) {
        r_code = st;
        if (end_ok(st)) return r_code;
      } else if (pat[pt + 2] == '+' && regex_matched) {
        pt += 3;
        --st;
        regex_matched = false;
        continue;
      } else if (pat[pt + 2] == '*') {
        pt += 3;
        --st;
        r_code = st;
        regex_matched = false;
        continue;
      }
      regex_matched = false;
    } else if (pat[pt] != '\0' && pat[pt] == Lower(s[st])) {
      ++pt;
      if (st_error == kNoMatch) st_error = st;
      r_code = st;
      continue;
    }

    // Dead end: resume the newest retry point, else restart the pattern.
    bool resumed = false;
    for (int k = 3; k >= 0; --k) {
      if (err_pt[k] >= 0) {
        pt = err_pt[k];
        st = err_st[k];
        err_pt[k] = -1;
        resumed = true;
        break;
      }
    }
    if (resumed) continue;
    if (sub.begin) return kNoMatch;
    if (st_error != kNoMatch) {
      st = st_error;
      st_error = kNoMatch;
    }
    pt = 0;
    r_code = kNoMatch;
  }

  if (marks != nullptr) {
    while (pat[pt] != '(' && pat[pt] != '\0') {
      if (pat[pt] == kBackslash && pat[pt + 2] == '*') {
        pt += 3;
      } else {
        break;
      }
    }
    if (pat[pt] == '(') mark(pt, st);
  }

  // Whatever is left of the pattern must be able to match nothing.
  auto at_end = [&](long& p) {
    if (pat[p] == '(') ++p;
    return pat[p] == '\0';
  };
  if (at_end(pt)) return r_code;
  if (pat[pt] == kBackslash && regex_matched) {
    pt += 2;
    if (IsPlus(pat[pt])) {
      ++pt;
      if (at_end(pt)) return r_code;
      if (pat[pt] == kBackslash) {
        pt += 2;
        if (pat[pt] == '*') {
          ++pt;
          if (at_end(pt)) return r_code;
        }
      }
    }
  }
  if (pat[pt] == kBackslash) {
    pt += 2;
    if (pat[pt] == '*') {
      ++pt;
      if (at_end(pt)) return r_code;
    }
  }
  return kNoMatch;
}

}  // namespace ward::agent::loginspect
