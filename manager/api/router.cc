#include "manager/api/router.h"

#include <fmt/format.h>

namespace ward::manager {

bool SplitPath(std::string_view path, std::vector<std::string_view>& out) {
  out.clear();
  if (path.empty() || path[0] != '/' || path.size() > 2048) return false;
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view seg = path.substr(pos, slash - pos);
    if (seg.empty()) {
      // Only a trailing slash is tolerated ("/api/v1/policies/").
      if (slash != path.size() && slash + 1 != path.size()) return false;
      if (slash == path.size() && !out.empty()) break;
      if (slash == path.size()) break;
    } else {
      if (seg.size() > 128 || seg == "." || seg == "..") return false;
      for (char c : seg) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.' || c == '~';
        if (!ok) return false;
      }
      out.push_back(seg);
    }
    pos = slash + 1;
  }
  return true;
}

void Router::Add(std::string method, std::string pattern, int id) {
  Entry e;
  e.method = std::move(method);
  WARD_CHECK(!pattern.empty() && pattern[0] == '/');
  size_t pos = 1;
  while (pos <= pattern.size()) {
    size_t slash = pattern.find('/', pos);
    if (slash == std::string::npos) slash = pattern.size();
    if (slash > pos) e.segments.push_back(pattern.substr(pos, slash - pos));
    pos = slash + 1;
  }
  e.pattern = std::move(pattern);
  e.id = id;
  entries_.push_back(std::move(e));
}

Router::Match Router::Route(std::string_view method, std::string_view path) const {
  Match m;
  std::vector<std::string_view> segs;
  if (!SplitPath(path, segs)) {
    m.error = {404, "not_found", "no such resource", ""};
    return m;
  }
  std::string allow;
  for (const auto& e : entries_) {
    if (e.segments.size() != segs.size()) continue;
    PathParams params;
    bool ok = true;
    for (size_t i = 0; i < segs.size() && ok; ++i) {
      const std::string& p = e.segments[i];
      if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
        params.emplace(p.substr(1, p.size() - 2), std::string(segs[i]));
      } else {
        ok = p == segs[i];
      }
    }
    if (!ok) continue;
    if (e.method != method) {
      if (allow.find(e.method) == std::string::npos) {
        allow += fmt::format("{}{}", allow.empty() ? "" : ", ", e.method);
      }
      continue;
    }
    // A literal route beats a parameter route registered later (events/counts vs events/{id}):
    // routes are tried in order, so literal routes are added first.
    m.id = e.id;
    m.params = std::move(params);
    return m;
  }
  if (!allow.empty()) {
    m.error = {405, "method_not_allowed", fmt::format("method not allowed (allowed: {})", allow),
               ""};
    m.allow = allow;
  } else {
    m.error = {404, "not_found", "no such resource", ""};
  }
  return m;
}

std::vector<std::pair<std::string, std::string>> Router::Routes() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& e : entries_) out.emplace_back(e.method, e.pattern);
  return out;
}

}  // namespace ward::manager
