#include "agent/modules/integrity/path_filter.h"

namespace ward::agent::integrity {
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

bool Match(std::string_view p, std::string_view t) {
  while (!p.empty()) {
    if (p.size() >= 2 && p[0] == '*' && p[1] == '*') {
      std::string_view rest = p.substr(2);
      // "**/" may also match nothing at all.
      if (!rest.empty() && rest[0] == '/' && Match(rest.substr(1), t)) return true;
      for (size_t i = 0; i <= t.size(); ++i) {
        if (Match(rest, t.substr(i))) return true;
      }
      return false;
    }
    if (p[0] == '*') {
      std::string_view rest = p.substr(1);
      for (size_t i = 0; i <= t.size(); ++i) {
        if (Match(rest, t.substr(i))) return true;
        if (i < t.size() && t[i] == '/') break;
      }
      return false;
    }
    if (t.empty()) return false;
    if (p[0] == '?') {
      if (t[0] == '/') return false;
      p.remove_prefix(1);
      t.remove_prefix(1);
      continue;
    }
    if (p[0] == '[') {
      size_t len = 0;
      if (t[0] == '/' || !MatchClass(p, t[0], len)) return false;
      p.remove_prefix(len);
      t.remove_prefix(1);
      continue;
    }
    if (p[0] == '\\' && p.size() > 1) p.remove_prefix(1);
    if (p[0] != t[0]) return false;
    p.remove_prefix(1);
    t.remove_prefix(1);
  }
  return t.empty();
}

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view text) { return Match(pattern, text); }

bool IsUnder(std::string_view path, std::string_view dir) {
  if (dir == "/") return !path.empty() && path[0] == '/';
  if (path.size() < dir.size() || path.compare(0, dir.size(), dir) != 0) return false;
  return path.size() == dir.size() || path[dir.size()] == '/';
}

const WatchedPath* PathFilter::RootOf(std::string_view path) const {
  const WatchedPath* best = nullptr;
  for (const auto& r : roots_) {
    if (!IsUnder(path, r.path)) continue;
    if (!r.recursive && path.size() > r.path.size()) {
      // Non-recursive: the root and its direct children only.
      std::string_view rest = path.substr(r.path == "/" ? 1 : r.path.size() + 1);
      if (rest.find('/') != std::string_view::npos) continue;
    }
    if (best == nullptr || r.path.size() > best->path.size()) best = &r;
  }
  return best;
}

bool PathFilter::Excluded(const WatchedPath& root, std::string_view path) const {
  if (path.size() <= root.path.size()) return false;  // the root itself is never excluded
  std::string_view rel = path.substr(root.path == "/" ? 1 : root.path.size() + 1);
  for (const auto& pat : root.exclude) {
    if (pat.find('/') == std::string::npos) {
      // Basename pattern: the file itself or any directory on the way is excluded.
      size_t start = 0;
      while (start <= rel.size()) {
        size_t slash = rel.find('/', start);
        std::string_view comp = rel.substr(start, slash == std::string_view::npos ? rel.npos : slash - start);
        if (Match(pat, comp)) return true;
        if (slash == std::string_view::npos) break;
        start = slash + 1;
      }
    } else {
      std::string_view p = pat;
      if (!p.empty() && p[0] == '/') p.remove_prefix(1);
      if (Match(p, rel)) return true;
      if (p.size() >= 3 && p.substr(p.size() - 3) == "/**" && Match(p.substr(0, p.size() - 3), rel)) {
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
  const WatchedPath* root = RootOf(path);
  return root != nullptr && !Excluded(*root, path);
}

}  // namespace ward::agent::integrity
