#include "agent/modules/integrity/config.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/text.h"

namespace ward::agent::integrity {
namespace {

struct AttrName {
  Attr attr;
  std::string_view name;
};
constexpr AttrName kAttrNames[] = {
    {kAttrType, "type"},   {kAttrSha256, "sha256"}, {kAttrSize, "size"},
    {kAttrMode, "mode"},   {kAttrOwner, "owner"},   {kAttrGroup, "group"},
    {kAttrMtime, "mtime"}, {kAttrTarget, "target"}, {kAttrInode, "inode"},
};

Result<WatchedPath> ParseWatchedPath(const ConfigNode& node) {
  WatchedPath w;
  if (node.IsScalar()) {
    w.path = node.scalar();
  } else {
    WARD_RETURN_IF_ERROR(CheckKeys(node, {"path", "recursive", "exclude", "attributes"}));
    const ConfigNode* p = node.Find("path");
    if (p == nullptr) return node.Error("missing required key \"path\"");
    WARD_ASSIGN_OR_RETURN(w.path, ReadString(*p));
    if (const ConfigNode* r = node.Find("recursive")) {
      WARD_ASSIGN_OR_RETURN(w.recursive, ReadBool(*r));
    }
    if (const ConfigNode* e = node.Find("exclude")) {
      WARD_ASSIGN_OR_RETURN(w.exclude, ReadStringList(*e));
      for (size_t i = 0; i < w.exclude.size(); ++i) {
        if (w.exclude[i].empty()) {
          const ConfigNode& item = e->IsSequence() ? e->items()[i] : *e;
          return item.Error("an exclude pattern must not be empty");
        }
      }
    }
    if (const ConfigNode* a = node.Find("attributes")) {
      WARD_ASSIGN_OR_RETURN(auto names, ReadStringList(*a));
      w.attributes = 0;
      for (size_t i = 0; i < names.size(); ++i) {
        auto it = std::find_if(std::begin(kAttrNames), std::end(kAttrNames),
                               [&](const AttrName& an) { return an.name == names[i]; });
        const ConfigNode& item = a->IsSequence() ? a->items()[i] : *a;
        if (names[i] == "all") {
          w.attributes |= kDefaultAttrs;
          continue;
        }
        if (it == std::end(kAttrNames)) {
          return item.Error(fmt::format(
              "unknown attribute \"{}\" (expected sha256, size, mode, owner, group, mtime, type, "
              "target, inode or all)",
              names[i]));
        }
        w.attributes |= it->attr;
      }
      if (w.attributes == 0) return a->Error("at least one attribute is needed");
    }
  }
  if (w.path.empty() || w.path[0] != '/') {
    return (node.IsScalar() ? node : *node.Find("path"))
        .Error(fmt::format("\"{}\" is not an absolute path", w.path));
  }
  w.path = NormalizeAbsolutePath(w.path);
  return w;
}

}  // namespace

std::vector<std::string> AttrNames(uint32_t mask) {
  std::vector<std::string> out;
  for (const auto& an : kAttrNames) {
    if (mask & an.attr) out.emplace_back(an.name);
  }
  return out;
}

Result<IntegrityConfig> ParseIntegrityConfig(const ConfigNode& section) {
  IntegrityConfig c;
  if (section.IsNull()) return c;
  WARD_RETURN_IF_ERROR(CheckKeys(section, {"enabled", "paths", "schedule", "realtime",
                                           "realtime_backend", "settle", "hash_threads"}));
  if (const ConfigNode* n = section.Find("enabled")) {
    WARD_ASSIGN_OR_RETURN(c.enabled, ReadBool(*n));
  }
  if (const ConfigNode* n = section.Find("paths")) {
    if (!n->IsSequence()) return n->Error("expected a list of paths");
    for (const auto& item : n->items()) {
      WARD_ASSIGN_OR_RETURN(auto w, ParseWatchedPath(item));
      for (const auto& prev : c.paths) {
        if (prev.path == w.path) return item.Error(fmt::format("{} is listed twice", w.path));
      }
      c.paths.push_back(std::move(w));
    }
  }
  if (const ConfigNode* n = section.Find("schedule")) {
    WARD_ASSIGN_OR_RETURN(c.schedule, ReadDuration(*n));
    if (c.schedule.count() != 0 && c.schedule < std::chrono::seconds(1)) {
      return n->Error("a schedule shorter than 1s is not allowed (0 turns it off)");
    }
  }
  if (const ConfigNode* n = section.Find("realtime")) {
    WARD_ASSIGN_OR_RETURN(c.realtime, ReadBool(*n));
  }
  if (const ConfigNode* n = section.Find("realtime_backend")) {
    WARD_ASSIGN_OR_RETURN(auto b, ReadString(*n));
    if (b == "auto") {
      c.backend = RealtimeBackend::kAuto;
    } else if (b == "fanotify") {
      c.backend = RealtimeBackend::kFanotify;
    } else if (b == "inotify") {
      c.backend = RealtimeBackend::kInotify;
    } else {
      return n->Error(fmt::format("\"{}\" is not one of auto, fanotify, inotify", b));
    }
  }
  if (const ConfigNode* n = section.Find("settle")) {
    WARD_ASSIGN_OR_RETURN(c.settle, ReadDuration(*n));
    if (c.settle > std::chrono::seconds(10)) return n->Error("settle must be at most 10s");
  }
  if (const ConfigNode* n = section.Find("hash_threads")) {
    WARD_ASSIGN_OR_RETURN(int64_t t, ReadInt(*n, 0, 256));
    c.hash_threads = static_cast<int>(t);
  }
  return c;
}

std::vector<watch::WatchRoot> WatchRoots(const std::vector<WatchedPath>& paths) {
  return {paths.begin(), paths.end()};
}

}  // namespace ward::agent::integrity
