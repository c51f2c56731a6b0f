#include "agent/core/watch/path_filter.h"

#include <cstdint>
#include <vector>

namespace ward::watch {
namespace {

// Matches a bracket class starting at p[0] == '['. Sets `len` to the class length.
bool MatchClass(std::string_view p, char c, size_t& len) {
  size_t i = 1;
  bool negate = false;
  if (i < p.size() && (p[i] == '!' || p[i] == '^')) {
    negate = true;
    ++i;
  }
  bool matched = false;
  bool first = true;
  for (; i < p.size() && (first || p[i] != ']'); ++i, first = false) {
    if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
      if (c >= p[i] && c <= p[i + 2]) matched = true;
      i += 2;
    } else if (p[i] == c) {
      matched = true;
    }
  }
  if (i >= p.size()) {  // no closing bracket: treat '[' literally
    len = 1;
    return c == '[';
  }
  len = i + 1;
  return matched != negate;
}

struct Token {
  enum class Kind { kLiteral, kAnyChar, kClass, kStar, kStarStar, kStarStarSlash };
  Kind kind;
  char c = 0;
  std::string_view cls;  // the whole bracket expression, for kClass
};

std::vector<Token> Tokenize(std::string_view p) {
  std::vector<Token> out;
  for (size_t i = 0; i < p.size();) {
    if (p[i] == '*') {
      if (i + 1 < p.size() && p[i + 1] == '*') {
        if (i + 2 < p.size() && p[i + 2] == '/') {
          out.push_back({Token::Kind::kStarStarSlash, 0, {}});
          i += 3;
        } else {
          out.push_back({Token::Kind::kStarStar, 0, {}});
          i += 2;
          while (i < p.size() && p[i] == '*') ++i;
        }
      } else {
        out.push_back({Token::Kind::kStar, 0, {}});
        ++i;
      }
    } else if (p[i] == '?') {
      out.push_back({Token::Kind::kAnyChar, 0, {}});
      ++i;
    } else if (p[i] == '[') {
      size_t len = 0;
      (void)MatchClass(p.substr(i), '\0', len);
      if (len <= 1) {
        out.push_back({Token::Kind::kLiteral, '[', {}});
        ++i;
      } else {
        out.push_back({Token::Kind::kClass, 0, p.substr(i, len)});
        i += len;
      }
    } else if (p[i] == '\\' && i + 1 < p.size()) {
      out.push_back({Token::Kind::kLiteral, p[i + 1], {}});
      i += 2;
    } else {
      out.push_back({Token::Kind::kLiteral, p[i], {}});
      ++i;
    }
  }
  return out;
}

// Bottom-up dynamic programming over (token, text position): O(tokens x text) time, O(text)
// memory, so no pattern and file name can make it backtrack exponentially.
bool Match(std::string_view pattern, std::string_view t) {
  std::vector<Token> toks = Tokenize(pattern);
  const size_t m = t.size();
  std::vector<uint8_t> next(m + 2, 0), cur(m + 2, 0), pend(m + 2, 0);
  next[m] = 1;  // empty pattern matches only the empty rest
  for (size_t ti = toks.size(); ti-- > 0;) {
    const Token& tok = toks[ti];
    cur.assign(m + 2, 0);
    pend.assign(m + 2, 0);
    for (size_t j = m + 1; j-- > 0;) {
      bool has = j < m;
      bool v = false;
      switch (tok.kind) {
        case Token::Kind::kLiteral:
          v = has && t[j] == tok.c && next[j + 1];
          break;
        case Token::Kind::kAnyChar:
          v = has && t[j] != '/' && next[j + 1];
          break;
        case Token::Kind::kClass: {
          size_t len = 0;
          v = has && t[j] != '/' && MatchClass(tok.cls, t[j], len) && next[j + 1];
          break;
        }
        case Token::Kind::kStar:
          v = next[j] || (has && t[j] != '/' && cur[j + 1]);
          break;
        case Token::Kind::kStarStar:
          v = next[j] || (has && cur[j + 1]);
          break;
        case Token::Kind::kStarStarSlash:
          pend[j] = has && ((t[j] == '/' && next[j + 1]) || pend[j + 1]);
          v = next[j] || pend[j];
          break;
      }
      cur[j] = v;
    }
    std::swap(cur, next);
  }
  return next[0] != 0;
}

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view text) { return Match(pattern, text); }

bool IsUnder(std::string_view path, std::string_view dir) {
  if (dir == "/") return !path.empty() && path[0] == '/';
  if (path.size() < dir.size() || path.compare(0, dir.size(), dir) != 0) return false;
  return path.size() == dir.size() || path[dir.size()] == '/';
}

const WatchRoot* PathFilter::RootOf(std::string_view path) const {
  // The most specific root decides, including how deep it goes: a non-recursive root nested in a
  // recursive one limits what is watched below it (the scanner walks each root on its own).
  const WatchRoot* best = nullptr;
  for (const auto& r : roots_) {
    if (!IsUnder(path, r.path)) continue;
    if (best == nullptr || r.path.size() > best->path.size()) best = &r;
  }
  if (best != nullptr && !best->recursive && path.size() > best->path.size()) {
    // Non-recursive: the root and its direct children only.
    std::string_view rest = path.substr(best->path == "/" ? 1 : best->path.size() + 1);
    if (rest.find('/') != std::string_view::npos) return nullptr;
  }
  return best;
}

bool PathFilter::Excluded(const WatchRoot& root, std::string_view path) const {
  if (path.size() <= root.path.size()) return false;  // the root itself is never excluded
  std::string_view rel = path.substr(root.path == "/" ? 1 : root.path.size() + 1);
  for (const auto& pat : root.exclude) {
    if (pat.find('/') == std::string::npos) {
      // Basename pattern: the file itself or any directory on the way is excluded.
      size_t start = 0;
      while (start <= rel.size()) {
        size_t slash = rel.find('/', start);
        std::string_view comp =
            rel.substr(start, slash == std::string_view::npos ? rel.npos : slash - start);
        if (Match(pat, comp)) return true;
        if (slash == std::string_view::npos) break;
        start = slash + 1;
      }
    } else {
      std::string_view p = pat;
      if (!p.empty() && p[0] == '/') p.remove_prefix(1);
      if (Match(p, rel)) return true;
      if (p.size() >= 3 && p.substr(p.size() - 3) == "/**" &&
          Match(p.substr(0, p.size() - 3), rel)) {
        return true;
      }
      // A pattern that matches a parent directory excludes everything below it.
      for (size_t slash = rel.find('/'); slash != std::string_view::npos;
           slash = rel.find('/', slash + 1)) {
        if (Match(p, rel.substr(0, slash))) return true;
      }
    }
  }
  return false;
}

bool PathFilter::Monitored(std::string_view path) const {
  const WatchRoot* root = RootOf(path);
  return root != nullptr && !Excluded(*root, path);
}

}  // namespace ward::watch
