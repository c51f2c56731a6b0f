#include "agent/modules/autoheal/config.h"

#include <fmt/format.h>

#include "agent/core/watch/path_filter.h"
#include "agent/modules/integrity/config.h"
#include "common/text.h"

namespace ward::agent::autoheal {

std::string_view UnexpectedActionName(UnexpectedAction a) {
  switch (a) {
    case UnexpectedAction::kQuarantine:
      return "quarantine";
    case UnexpectedAction::kDelete:
      return "delete";
    case UnexpectedAction::kKeep:
      return "keep";
  }
  return "keep";
}

namespace {

Result<std::string> ReadAbsPath(const ConfigNode& n) {
  WARD_ASSIGN_OR_RETURN(std::string p, ReadString(n));
  if (p.empty() || p[0] != '/') return n.Error(fmt::format("\"{}\" is not an absolute path", p));
  return NormalizeAbsolutePath(p);
}

Result<HealRoot> ParseRoot(const ConfigNode& n) {
  WARD_RETURN_IF_ERROR(
      CheckKeys(n, {"path", "repository", "ref", "lock_file", "unexpected_files"}));
  HealRoot r;
  const ConfigNode* p = n.Find("path");
  if (p == nullptr) return n.Error("missing required key \"path\"");
  WARD_ASSIGN_OR_RETURN(r.path, ReadAbsPath(*p));
  if (r.path == "/") return p->Error("the file system root cannot be an autoheal root");
  const ConfigNode* repo = n.Find("repository");
  if (repo == nullptr) return n.Error("missing required key \"repository\"");
  WARD_ASSIGN_OR_RETURN(r.repository, ReadAbsPath(*repo));
  if (watch::IsUnder(r.repository, r.path)) {
    return repo->Error("the repository must not be inside the root it restores");
  }
  if (const ConfigNode* v = n.Find("ref")) {
    WARD_ASSIGN_OR_RETURN(r.ref, ReadString(*v));
    if (r.ref.empty()) return v->Error("must not be empty");
  }
  if (const ConfigNode* v = n.Find("lock_file")) {
    WARD_ASSIGN_OR_RETURN(r.lock_file, ReadAbsPath(*v));
    if (watch::IsUnder(r.lock_file, r.path)) {
      return v->Error(
          "the lock file must not be inside the root (whoever can write the root "
          "could then turn healing off)");
    }
  }
  if (const ConfigNode* v = n.Find("unexpected_files")) {
    WARD_ASSIGN_OR_RETURN(std::string a, ReadString(*v));
    if (a == "quarantine") {
      r.unexpected = UnexpectedAction::kQuarantine;
    } else if (a == "delete") {
      r.unexpected = UnexpectedAction::kDelete;
    } else if (a == "keep") {
      r.unexpected = UnexpectedAction::kKeep;
    } else {
      return v->Error(fmt::format("\"{}\" is not one of quarantine, delete, keep", a));
    }
  }
  return r;
}

}  // namespace

Result<AutohealConfig> ParseAutohealConfig(const ConfigNode& section) {
  AutohealConfig c;
  if (section.IsNull()) return c;
  WARD_RETURN_IF_ERROR(CheckKeys(
      section, {"enabled", "roots", "persistent_threshold", "persistent_window", "poll_interval"}));
  if (const ConfigNode* n = section.Find("enabled")) {
    WARD_ASSIGN_OR_RETURN(c.enabled, ReadBool(*n));
  }
  if (const ConfigNode* n = section.Find("roots")) {
    if (!n->IsSequence()) return n->Error("expected a list of roots");
    for (const auto& item : n->items()) {
      WARD_ASSIGN_OR_RETURN(HealRoot r, ParseRoot(item));
      for (const auto& prev : c.roots) {
        if (watch::IsUnder(r.path, prev.path) || watch::IsUnder(prev.path, r.path)) {
          return item.Error(fmt::format("{} overlaps {}", r.path, prev.path));
        }
      }
      c.roots.push_back(std::move(r));
    }
  }
  if (const ConfigNode* n = section.Find("persistent_threshold")) {
    WARD_ASSIGN_OR_RETURN(int64_t t, ReadInt(*n, 2, 1000));
    c.persistent_threshold = static_cast<int>(t);
  }
  if (const ConfigNode* n = section.Find("persistent_window")) {
    WARD_ASSIGN_OR_RETURN(c.persistent_window, ReadDuration(*n));
    if (c.persistent_window.count() <= 0) return n->Error("must be positive");
  }
  if (const ConfigNode* n = section.Find("poll_interval")) {
    WARD_ASSIGN_OR_RETURN(c.poll_interval, ReadDuration(*n));
    if (c.poll_interval < std::chrono::milliseconds(10) ||
        c.poll_interval > std::chrono::seconds(60)) {
      return n->Error("must be between 10ms and 60s");
    }
  }
  return c;
}

Result<AutohealSettings> ParseAutohealSettings(const ConfigNode& section,
                                               const ConfigNode& document) {
  AutohealSettings s;
  WARD_ASSIGN_OR_RETURN(s.config, ParseAutohealConfig(section));
  const ConfigNode* integ = document.Find("integrity");
  if (integ != nullptr) {
    WARD_ASSIGN_OR_RETURN(s.integrity, integrity::ParseIntegrityConfig(*integ));
  }
  watch::PathFilter filter(integrity::WatchRoots(s.integrity.paths));
  const ConfigNode* roots = section.Find("roots");
  for (size_t i = 0; i < s.config.roots.size(); ++i) {
    const auto& r = s.config.roots[i];
    const ConfigNode& where = roots ? roots->items()[i] : section;
    if (integ == nullptr || !s.integrity.enabled) {
      return where.Error(
          fmt::format("{} must also be watched by `integrity` (autoheal reacts "
                      "to its real-time events), and there is no integrity section",
                      r.path));
    }
    if (filter.RootOf(r.path) == nullptr || filter.Excluded(*filter.RootOf(r.path), r.path)) {
      return where.Error(
          fmt::format("{} is not watched by `integrity`: add it to integrity.paths", r.path));
    }
    if (!s.integrity.realtime) {
      return where.Error("autoheal needs integrity.realtime: true");
    }
  }
  return s;
}

}  // namespace ward::agent::autoheal
