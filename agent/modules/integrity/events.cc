#include "agent/modules/integrity/events.h"

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>

#include <mutex>
#include <unordered_map>

#include "common/text.h"

namespace ward::agent::integrity {
namespace {

std::string ModeString(uint32_t mode) { return fmt::format("{:04o}", mode); }

nlohmann::json AttrValue(const FileRecord& r, Attr a) {
  switch (a) {
    case kAttrSha256:
      return r.has_sha256 ? nlohmann::json(DigestHex(r.sha256)) : nlohmann::json();
    case kAttrSize:
      return r.size;
    case kAttrMode:
      return ModeString(r.mode);
    case kAttrOwner:
      return fmt::format("{}", r.uid);
    case kAttrGroup:
      return fmt::format("{}", r.gid);
    case kAttrMtime:
      return FormatTimestampNs(r.mtime_ns);
    case kAttrType:
      return std::string(FileTypeName(r.type));
    case kAttrTarget:
      return IsValidUtf8(r.target) ? nlohmann::json(r.target) : nlohmann::json(LossyUtf8(r.target));
    case kAttrInode:
      return fmt::format("{}", r.inode);
  }
  return nullptr;
}

constexpr Attr kAllAttrList[] = {kAttrType,  kAttrSha256, kAttrSize,   kAttrMode, kAttrOwner,
                                 kAttrGroup, kAttrMtime,  kAttrTarget, kAttrInode};

}  // namespace

std::string UserName(uint32_t uid) {
  static std::mutex mu;
  static std::unordered_map<uint32_t, std::string> cache;
  std::lock_guard lock(mu);
  auto it = cache.find(uid);
  if (it != cache.end()) return it->second;
  struct passwd pw {};
  struct passwd* res = nullptr;
  char buf[4096];
  std::string name;
  if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res != nullptr) name = res->pw_name;
  cache[uid] = name;
  return name;
}

std::string GroupName(uint32_t gid) {
  static std::mutex mu;
  static std::unordered_map<uint32_t, std::string> cache;
  std::lock_guard lock(mu);
  auto it = cache.find(gid);
  if (it != cache.end()) return it->second;
  struct group gr {};
  struct group* res = nullptr;
  char buf[4096];
  std::string name;
  if (getgrgid_r(gid, &gr, buf, sizeof buf, &res) == 0 && res != nullptr) name = res->gr_name;
  cache[gid] = name;
  return name;
}

void SetFileFields(Event& e, const FileRecord& r, uint32_t attrs) {
  e.SetBytes("file.path", r.path);
  e.Set("file.type", std::string(FileTypeName(r.type)));
  if (attrs & kAttrSize) e.Set("file.size", r.size);
  if (attrs & kAttrMode) e.Set("file.mode", ModeString(r.mode));
  if (attrs & kAttrOwner) {
    e.Set("file.uid", fmt::format("{}", r.uid));
    if (auto n = UserName(r.uid); !n.empty()) e.Set("file.owner", n);
  }
  if (attrs & kAttrGroup) {
    e.Set("file.gid", fmt::format("{}", r.gid));
    if (auto n = GroupName(r.gid); !n.empty()) e.Set("file.group", n);
  }
  if (attrs & kAttrMtime) e.Set("file.mtime", FormatTimestampNs(r.mtime_ns));
  e.Set("file.inode", fmt::format("{}", r.inode));
  if ((attrs & kAttrSha256) && r.has_sha256) e.Set("file.hash.sha256", DigestHex(r.sha256));
  if ((attrs & kAttrTarget) && r.type == FileType::kSymlink)
    e.SetBytes("file.target_path", r.target);
  if (r.hash_unstable) e.Set("integrity.hash_unstable", true);
  if (r.unreadable) e.Set("integrity.unreadable", true);
}

Event ChangeEvent(const Clock& clock, const Change& c, std::string_view detected_by) {
  std::string_view type, action;
  Severity sev = Severity::kMedium;
  switch (c.kind) {
    case ChangeKind::kCreated:
      type = "creation", action = "created";
      break;
    case ChangeKind::kDeleted:
      type = "deletion", action = "deleted";
      break;
    case ChangeKind::kModified:
      type = "change", action = (c.changed & kAttrType) ? "type_changed" : "modified";
      if (c.changed & kAttrType) sev = Severity::kHigh;
      break;
    case ChangeKind::kRenamed:
      type = "change", action = "renamed";
      break;
  }
  Event e = Event::Make(clock, "integrity", type, action, sev);
  e.Set("event.category", "file");
  const FileRecord& cur = c.after ? *c.after : *c.before;
  SetFileFields(e, cur, c.attrs);
  e.Set("integrity.detected_by", std::string(detected_by));
  if (detected_by == "startup") e.Set("integrity.offline", true);
  if (c.kind == ChangeKind::kRenamed) e.SetBytes("integrity.previous_path", c.before->path);
  if (c.kind == ChangeKind::kModified || c.kind == ChangeKind::kRenamed) {
    nlohmann::json names = nlohmann::json::array();
    nlohmann::json before = nlohmann::json::object(), after = nlohmann::json::object();
    for (Attr a : kAllAttrList) {
      if (!(c.changed & a)) continue;
      std::string name = AttrNames(a).front();
      names.push_back(name);
      before[name] = AttrValue(*c.before, a);
      after[name] = AttrValue(*c.after, a);
    }
    e.Set("integrity.changed_attributes", names);
    e.Set("integrity.before", before);
    e.Set("integrity.after", after);
  }
  return e;
}

Event StatusEvent(const Clock& clock, std::string_view action, Severity severity,
                  std::string_view message) {
  Event e = Event::Make(clock, "integrity", "info", action, severity);
  e.Set("message", LossyUtf8(message));
  return e;
}

}  // namespace ward::agent::integrity
