#include "agent/modules/autoheal/healer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "agent/modules/integrity/config.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/text.h"

namespace ward::agent::autoheal {
namespace {

// Files larger than this are not compared in memory (they are rewritten from git).
constexpr uint64_t kMaxCompareSize = 256ULL << 20;
// Forensic copies keep at most this much of a tampered file (meta.json says when cut short).
constexpr uint64_t kMaxForensicsSize = 64ULL << 20;

int64_t CtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
}

std::string Sha256Hex(std::string_view data) { return DigestHex(Sha256::Of(data)); }

// Resolves a symlink target lexically against the link's directory (relative to the root);
// false when it leaves the root. `is_symlink(prefix)` says whether a path in the commit is itself
// a symlink: a target that goes *through* one (a -> ., up -> a/..) is refused, since the kernel
// would resolve it differently from the text.
bool SymlinkStaysInside(const std::string& link_rel, const std::string& target,
                        const std::function<bool(const std::string&)>& is_symlink) {
  if (target.empty() || target[0] == '/') return false;
  std::vector<std::string> parts;
  std::string dir = ParentOf(link_rel);
  size_t start = 0;
  auto push = [&](std::string_view comp) -> bool {
    if (comp.empty() || comp == ".") return true;
    if (comp == "..") {
      if (parts.empty()) return false;
      parts.pop_back();
      return true;
    }
    parts.emplace_back(comp);
    return true;
  };
  while (!dir.empty() && start <= dir.size()) {
    size_t slash = dir.find('/', start);
    push(std::string_view(dir).substr(
        start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  start = 0;
  for (;;) {
    size_t slash = target.find('/', start);
    if (!push(std::string_view(target).substr(
            start, slash == std::string::npos ? std::string::npos : slash - start))) {
      return false;
    }
    if (slash == std::string::npos) break;
    // This component is traversed as a directory.
    std::string prefix;
    for (const auto& p : parts) prefix = prefix.empty() ? p : prefix + "/" + p;
    if (!prefix.empty() && is_symlink(prefix)) return false;
    start = slash + 1;
  }
  return true;
}

// Writing rel makes its missing parent directories (SafeRoot does): announce them too, so that
// integrity monitoring does not report them as new.
void ExpectMissingParents(const SafeRoot& safe, ChangeLedger* ledger, const std::string& rel) {
  if (ledger == nullptr) return;
  for (std::string d = ParentOf(rel); !d.empty(); d = ParentOf(d)) {
    if (safe.Lstat(d)) break;
    ledger->Expect(safe.Abs(d), ChangeLedger::Expected::Directory());
  }
}

std::string StatusFile(const std::filesystem::path& state_dir, const std::string& root) {
  return (state_dir / "autoheal" / "status" / (DigestHex(Sha256::Of(root)).substr(0, 16) + ".json"))
      .string();
}

}  // namespace

Healer::Healer(HealRoot root, const watch::PathFilter* filter, ChangeLedger* ledger,
               EventSink& sink, const Clock& clock, FileSystem& fs, std::filesystem::path state_dir,
               int persistent_threshold, std::chrono::milliseconds persistent_window)
    : root_(std::move(root)),
      filter_(filter),
      ledger_(ledger),
      sink_(sink),
      clock_(clock),
      fs_(fs),
      state_dir_(std::move(state_dir)),
      persistent_threshold_(persistent_threshold),
      persistent_window_(persistent_window),
      safe_(root_.path) {
  status_.root = root_.path;
  status_.repository = root_.repository;
  status_.ref = root_.ref;
}

int64_t Healer::NowNs() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.Now().time_since_epoch())
      .count();
}

Event Healer::MakeEvent(std::string_view action, std::string_view type, Severity sev) {
  Event e = Event::Make(clock_, "autoheal", type, action, sev);
  e.Set("autoheal.root", root_.path);
  if (commit_) e.Set("autoheal.commit", OidHex(*commit_));
  return e;
}

void Healer::Refuse(const std::string& rel, std::string_view why) {
  spdlog::warn("autoheal: refusing {}: {}", safe_.Abs(rel), why);
  Event e = MakeEvent("refused", "info", Severity::kHigh);
  e.SetBytes("file.path", safe_.Abs(rel));
  e.Set("message", LossyUtf8(why));
  sink_.Emit(std::move(e));
}

bool Healer::Excluded(const std::string& abs) const {
  if (filter_ == nullptr) return false;
  return !filter_->Monitored(abs);
}

Status Healer::Start() {
  for (auto sub : {"forensics", "quarantine", "status"}) {
    Status made = fs_.CreateDirectories((state_dir_ / "autoheal" / sub).string(), 0700);
    if (!made.ok())
      return Status(made.code(), "create autoheal state directory: " + made.message());
  }
  ::chmod((state_dir_ / "autoheal").c_str(), 0700);
  auto git = GitSource::Open(root_.repository);
  if (!git) {
    // Poll() retries every poll_interval: report each distinct error once, not on every retry.
    if (status_.error != git.error().message()) {
      status_.error = git.error().message();
      Event e = MakeEvent("repository_unavailable", "info", Severity::kHigh);
      e.Set("message", LossyUtf8(git.error().message()));
      sink_.Emit(std::move(e));
      SaveStatus();
    }
    return git.error();
  }
  git_ = std::move(*git);
  auto commit = git_->ResolveCommit(root_.ref);
  if (!commit) {
    if (status_.error != commit.error().message()) {
      status_.error = commit.error().message();
      Event e = MakeEvent("ref_unavailable", "info", Severity::kHigh);
      e.Set("message", LossyUtf8(commit.error().message()));
      sink_.Emit(std::move(e));
      SaveStatus();
    }
    return commit.error();
  }
  commit_ = *commit;
  status_.commit = OidHex(*commit_);
  status_.error.clear();
  started_ = true;
  bool locked = !root_.lock_file.empty() && ::access(root_.lock_file.c_str(), F_OK) == 0;
  status_.locked = locked;
  if (ledger_) ledger_->SetMaintenance(root_.path, locked);
  if (!locked) WARD_RETURN_IF_ERROR(Reconcile());
  SaveStatus();
  return Status::Ok();
}

void Healer::SetLocked(bool locked) {
  status_.locked = locked;
  if (ledger_) ledger_->SetMaintenance(root_.path, locked);
  Event e = MakeEvent(locked ? "maintenance_started" : "maintenance_ended", "info", Severity::kLow);
  e.SetBytes("file.path", root_.lock_file);
  e.Set("message", locked ? "lock file present: changes are reported but not restored"
                          : "lock file removed: the root is compared with git and every "
                            "difference restored");
  sink_.Emit(std::move(e));
  SaveStatus();
}

void Healer::Poll() {
  if (!started_) {
    // Retry a repository or ref that was missing at start.
    if (Start().ok()) spdlog::info("autoheal: {} is now healing from {}", root_.path, root_.ref);
    return;
  }
  bool locked = !root_.lock_file.empty() && ::access(root_.lock_file.c_str(), F_OK) == 0;
  auto commit = git_->ResolveCommit(root_.ref);
  if (!commit) {
    if (!ref_error_reported_) {
      ref_error_reported_ = true;
      Event e = MakeEvent("ref_unavailable", "info", Severity::kHigh);
      e.Set("message", LossyUtf8(commit.error().message()));
      sink_.Emit(std::move(e));
    }
  } else {
    ref_error_reported_ = false;
  }
  if (locked != status_.locked) {
    SetLocked(locked);
    if (!locked) {
      if (commit) {
        commit_ = *commit;
        status_.commit = OidHex(*commit_);
      }
      (void)Reconcile();
      SaveStatus();
      return;
    }
  }
  if (!locked && commit && *commit != *commit_) Deploy(*commit_, *commit);
}

void Healer::Deploy(GitOid from, GitOid to) {
  auto changes = git_->Diff(from, to);
  commit_ = to;
  status_.commit = OidHex(to);
  if (!changes) {
    Refuse("", fmt::format("cannot compare commits: {}", changes.error().message()));
    return;
  }
  deploy_written_ = deploy_removed_ = 0;
  std::set<std::string, std::greater<>> emptied_dirs;
  // Removals first: a path that turns from a file into a directory (or back) must be cleared
  // before what replaces it can be written.
  for (const auto& c : *changes) {
    if (c.kind != GitChange::Kind::kRemoved) continue;
    auto st = safe_.Lstat(c.path);
    if (st && !Excluded(safe_.Abs(c.path))) {
      if (ledger_) ledger_->Expect(safe_.Abs(c.path), ChangeLedger::Expected::Gone(true));
      if (Status s = safe_.Remove(c.path); s.ok()) {
        ++deploy_removed_;
      } else {
        Refuse(c.path, s.message());
      }
    }
    for (std::string d = ParentOf(c.path); !d.empty(); d = ParentOf(d)) emptied_dirs.insert(d);
  }
  // Directories the new commit no longer has (or has as a file or symlink), once empty, go too
  // (deepest first).
  for (const auto& d : emptied_dirs) {
    auto e = git_->Lookup(to, d);
    if (!e || e->kind == GitEntry::Kind::kTree || e->kind == GitEntry::Kind::kSubmodule) continue;
    std::string abs = safe_.Abs(d);
    if (Excluded(abs)) continue;
    if (ledger_) ledger_->Expect(abs, ChangeLedger::Expected::Gone(false));
    // Never through a path: a symlink planted on the way must not lead the rmdir outside.
    if (!safe_.RemoveEmptyDir(d).ok() && ledger_) ledger_->Forget(abs);
  }
  for (const auto& c : *changes) {
    if (c.kind != GitChange::Kind::kWritten) continue;
    auto entry = git_->Lookup(to, c.path);
    if (entry) Apply(c.path, *entry, Why::kDeploy, false);
  }
  Event e = MakeEvent("deployed", "change", Severity::kLow);
  e.Set("autoheal.commit_before", OidHex(from));
  e.Set("autoheal.files_written", deploy_written_);
  e.Set("autoheal.files_removed", deploy_removed_);
  e.Set("message", fmt::format("{} moved to {}: {} written, {} removed", root_.ref,
                               OidHex(to).substr(0, 12), deploy_written_, deploy_removed_));
  sink_.Emit(std::move(e));
  SaveStatus();
}

void Healer::OnChange(const std::string& abs_path, int64_t observed_ns) {
  observed_ns_ = observed_ns;
  OnChangeImpl(abs_path);
  observed_ns_ = 0;
}

void Healer::OnChangeImpl(const std::string& abs_path) {
  if (!started_ || status_.locked) return;
  if (!watch::IsUnder(abs_path, root_.path)) return;
  // The lock file may have appeared since the last Poll() (`touch lock; edit`): look now.
  if (!root_.lock_file.empty() && ::access(root_.lock_file.c_str(), F_OK) == 0) {
    SetLocked(true);
    return;
  }
  if (Excluded(abs_path) && abs_path != root_.path) return;
  std::string rel = abs_path == root_.path ? "" : abs_path.substr(root_.path.size() + 1);
  if (rel.empty()) {
    (void)Reconcile();
    return;
  }
  if (!GitSource::SafeRelativePath(rel)) {
    Refuse(rel, "the path has a component git cannot hold (.git, ..)");
    return;
  }
  // A file or symlink where a directory belongs: that comes first.
  if (auto blocker = safe_.BlockingAncestor(rel)) {
    auto be = git_->Lookup(*commit_, *blocker);
    if (be) Apply(*blocker, *be, Why::kTamper, true);
  }
  // A deleted directory comes back whole, announced, before what was inside it.
  if (auto missing = safe_.MissingAncestor(rel)) {
    auto me = git_->Lookup(*commit_, *missing);
    if (me && me->kind == GitEntry::Kind::kTree) {
      Apply(*missing, *me, Why::kTamper, true);
      return;
    }
  }
  auto entry = git_->Lookup(*commit_, rel);
  if (!entry) {
    Refuse(rel, entry.error().message());
    return;
  }
  // A deleted directory comes back with its contents.
  Apply(rel, *entry, Why::kTamper, true);
}

Status Healer::Reconcile() {
  if (!started_) return FailedPrecondition("not started");
  auto items = git_->ListTree(*commit_, "");
  if (!items) {
    Refuse("", items.error().message());
    return items.error();
  }
  if (!safe_.Lstat("")) (void)safe_.MakeDirs("");
  std::set<std::string> known;
  for (const auto& it : *items) {
    known.insert(it.path);
    if (it.entry.kind == GitEntry::Kind::kInvalid) {
      Refuse(it.path, "the repository names a path that is not allowed (.., .git, /)");
      continue;
    }
    if (Excluded(safe_.Abs(it.path))) continue;
    Apply(it.path, it.entry, Why::kReconcile, false);
  }
  // What is on disk but not in git.
  std::vector<std::string> stack{""};
  while (!stack.empty()) {
    std::string dir = std::move(stack.back());
    stack.pop_back();
    auto entries = RealFileSystem().ListDir(safe_.Abs(dir));
    if (!entries) continue;
    for (const auto& e : *entries) {
      std::string rel = dir.empty() ? e.name : dir + "/" + e.name;
      if (Excluded(safe_.Abs(rel))) continue;
      auto st = safe_.Lstat(rel);
      if (!st) continue;
      if (!known.count(rel)) {
        HandleUnexpected(rel, *st, Why::kReconcile);
        continue;
      }
      if (S_ISDIR(st->st_mode)) stack.push_back(rel);
    }
  }
  return Status::Ok();
}

Result<std::string> Healer::KeepForensics(const std::string& rel, const struct stat& st, bool move,
                                          std::string* sha256_hex) {
  auto now = clock_.Now();
  uint8_t rnd[4];
  (void)RandomBytes(rnd);
  std::string ts = FormatTimestamp(now);
  for (auto& c : ts) {
    if (c == ':') c = '-';
  }
  auto dir = state_dir_ / "autoheal" / "forensics" /
             fmt::format("{}-{:02x}{:02x}{:02x}{:02x}", ts, rnd[0], rnd[1], rnd[2], rnd[3]);
  WARD_RETURN_IF_ERROR(fs_.CreateDirectories(dir.string(), 0700));
  nlohmann::json meta;
  meta["original_path"] = LossyUtf8(safe_.Abs(rel));
  if (!IsValidUtf8(safe_.Abs(rel))) meta["original_path_base64"] = Base64Encode(safe_.Abs(rel));
  meta["kept_at"] = FormatTimestamp(now);
  meta["uid"] = st.st_uid;
  meta["gid"] = st.st_gid;
  meta["mode"] = fmt::format("{:04o}", st.st_mode & 07777);
  meta["mtime"] = FormatTimestampNs(static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
                                    st.st_mtim.tv_nsec);
  if (commit_) meta["commit"] = OidHex(*commit_);
  std::string content_path = (dir / "content").string();
  if (S_ISREG(st.st_mode)) {
    meta["type"] = "file";
    meta["size"] = static_cast<uint64_t>(st.st_size);
    auto data = safe_.ReadFile(rel, kMaxForensicsSize);
    if (data) {
      std::string sha = Sha256Hex(*data);
      if (sha256_hex) *sha256_hex = sha;
      meta["sha256"] = sha;
      // Written as a new file (never the tampered inode itself, which may have other links).
      // Not kept (disk full...): the caller leaves the file alone rather than lose it.
      WARD_RETURN_IF_ERROR(fs_.WriteFileAtomic(content_path, *data, 0400));
      meta["content_kept"] = true;
    } else {
      meta["content_kept"] = false;
      meta["content_error"] = data.error().message();
    }
  } else if (S_ISLNK(st.st_mode)) {
    meta["type"] = "symlink";
    std::string target(4096, '\0');
    ssize_t n = ::readlink(safe_.Abs(rel).c_str(), target.data(), target.size());
    if (n >= 0) {
      target.resize(static_cast<size_t>(n));
      meta["target"] = LossyUtf8(target);
    }
  } else if (S_ISDIR(st.st_mode)) {
    meta["type"] = "dir";
  } else {
    meta["type"] = "other";
  }
  // The record is written before anything moves: a failure leaves rel where it is.
  const std::string meta_path = (dir / "meta.json").string();
  WARD_RETURN_IF_ERROR(fs_.WriteFileAtomic(meta_path, meta.dump(2) + "\n", 0600));
  if (move) {
    if (ledger_) ledger_->Expect(safe_.Abs(rel), ChangeLedger::Expected::Gone(true));
    // A regular file was copied above: remove it. Anything else moves whole.
    Status s = S_ISREG(st.st_mode) ? safe_.Remove(rel) : safe_.MoveOut(rel, content_path);
    if (!s.ok()) {
      meta["move_error"] = s.message();
      (void)fs_.WriteFileAtomic(meta_path, meta.dump(2) + "\n", 0600);
    }
  }
  return dir.string();
}

bool Healer::Keep(const std::string& rel, const struct stat& st, bool move, std::string* sha256_hex,
                  std::string* forensics) {
  auto kept = KeepForensics(rel, st, move, sha256_hex);
  if (kept) {
    *forensics = std::move(*kept);
    return true;
  }
  Refuse(rel, fmt::format("the tampered version could not be kept for forensics ({}); left in "
                          "place, healed on its next change",
                          kept.error().message()));
  return false;
}

void Healer::Apply(const std::string& rel, const GitEntry& entry, Why why, bool recurse) {
  auto st = safe_.Lstat(rel);
  std::string abs = safe_.Abs(rel);
  int64_t change_ns = 0;
  if (st) {
    change_ns = CtimeNs(*st);
  } else if (observed_ns_ > 0) {
    change_ns = observed_ns_;  // a deletion: when integrity's event reached us
  } else if (auto pst = safe_.Lstat(ParentOf(rel))) {
    change_ns = CtimeNs(*pst);  // a deletion changes the parent directory
  }
  switch (entry.kind) {
    case GitEntry::Kind::kInvalid:
      Refuse(rel, "the repository names a path that is not allowed (.., .git, /)");
      return;
    case GitEntry::Kind::kSubmodule:
      return;
    case GitEntry::Kind::kNone:
      if (st) HandleUnexpected(rel, *st, why);
      return;
    case GitEntry::Kind::kTree: {
      if (st && S_ISDIR(st->st_mode)) {
        if (recurse) {
          auto items = git_->ListTree(*commit_, rel);
          if (items) {
            for (const auto& it : *items) {
              if (!Excluded(safe_.Abs(it.path))) Apply(it.path, it.entry, why, false);
            }
          }
        }
        return;
      }
      std::string forensics;
      if (st && !Keep(rel, *st, /*move=*/true, nullptr, &forensics)) return;
      if (ledger_) ledger_->Expect(abs, ChangeLedger::Expected::Directory());
      if (Status s = safe_.MakeDirs(rel); !s.ok()) {
        Refuse(rel, s.message());
        return;
      }
      Restored(rel, st ? "type" : "recreated", "", "", forensics, change_ns, why);
      auto items = git_->ListTree(*commit_, rel);
      if (items) {
        for (const auto& it : *items) {
          if (!Excluded(safe_.Abs(it.path))) Apply(it.path, it.entry, why, false);
        }
      }
      return;
    }
    case GitEntry::Kind::kSymlink: {
      auto target = git_->ReadBlob(entry.oid);
      if (!target) {
        Refuse(rel, target.error().message());
        return;
      }
      auto through_symlink = [&](const std::string& prefix) {
        auto e = git_->Lookup(*commit_, prefix);
        return !e || e->kind == GitEntry::Kind::kSymlink;
      };
      if (!SymlinkStaysInside(rel, *target, through_symlink)) {
        Refuse(rel, fmt::format("the repository's symlink points outside the root ({})",
                                LossyUtf8(*target)));
        return;
      }
      if (st && S_ISLNK(st->st_mode)) {
        std::string cur(4096, '\0');
        ssize_t n = ::readlink(abs.c_str(), cur.data(), cur.size());
        if (n >= 0 && std::string_view(cur.data(), static_cast<size_t>(n)) == *target) return;
      }
      std::string forensics;
      if (st && !Keep(rel, *st, S_ISDIR(st->st_mode), nullptr, &forensics)) return;
      if (ledger_) {
        ledger_->Expect(abs, ChangeLedger::Expected::Symlink(*target));
      }
      ExpectMissingParents(safe_, ledger_, rel);
      std::string scratch;
      Status s = safe_.WriteSymlink(rel, *target, [&](const std::string& tmp) {
        scratch = tmp;
        if (ledger_) ledger_->Expect(tmp, ChangeLedger::Expected::Scratch());
      });
      if (ledger_ && !scratch.empty()) ledger_->Forget(scratch);
      if (!s.ok()) {
        Refuse(rel, s.message());
        return;
      }
      Restored(rel, st ? "content" : "recreated", "", "", forensics, change_ns, why);
      return;
    }
    case GitEntry::Kind::kBlob:
    case GitEntry::Kind::kExecutable: {
      mode_t want_mode = entry.kind == GitEntry::Kind::kExecutable ? 0755 : 0644;
      std::string before_sha;
      if (st && S_ISREG(st->st_mode)) {
        auto cur = safe_.ReadFile(rel, kMaxCompareSize);
        // Only the mode was changed: put it back in place. Not on a file with other hard links,
        // though: its inode may be a file outside the root, whose mode is not ours to change; it
        // is rewritten (a new inode) below instead.
        if (cur && GitSource::HashBlob(*cur) == entry.oid &&
            ((st->st_mode & 07777) == want_mode || st->st_nlink == 1)) {
          if ((st->st_mode & 07777) == want_mode) return;
          std::string sha = Sha256Hex(*cur);
          if (ledger_) {
            ledger_->Expect(abs, ChangeLedger::Expected::File(Sha256::Of(*cur), want_mode));
          }
          if (Status s = safe_.Chmod(rel, want_mode); s.ok()) {
            Restored(rel, "mode", sha, sha, "", change_ns, why);
            return;
          }
          // Swapped for something else meanwhile (another link): rewrite it below instead.
        }
      }
      auto content = git_->ReadBlob(entry.oid);
      if (!content) {
        Refuse(rel, content.error().message());
        return;
      }
      std::string forensics;
      uid_t uid = 0;
      gid_t gid = 0;
      if (st) {
        if (!Keep(rel, *st, S_ISDIR(st->st_mode), &before_sha, &forensics)) return;
        uid = S_ISREG(st->st_mode) ? st->st_uid : 0;
        gid = S_ISREG(st->st_mode) ? st->st_gid : 0;
      }
      if (!st || !S_ISREG(st->st_mode)) {
        if (auto pst = safe_.Lstat(ParentOf(rel)); pst && S_ISDIR(pst->st_mode)) {
          uid = pst->st_uid;
          gid = pst->st_gid;
        }
      }
      Sha256Digest after = Sha256::Of(*content);
      if (ledger_) {
        ledger_->Expect(abs, ChangeLedger::Expected::File(after, want_mode));
      }
      ExpectMissingParents(safe_, ledger_, rel);
      std::string scratch;
      uint64_t inode = 0;
      Status s = safe_.WriteFile(
          rel, *content, want_mode, uid, gid,
          [&](const std::string& tmp) {
            scratch = tmp;
            if (ledger_) ledger_->Expect(tmp, ChangeLedger::Expected::Scratch());
          },
          &inode);
      if (ledger_) {
        if (!scratch.empty()) ledger_->Forget(scratch);
        // Only this very file counts as the restore: not another file with the same bytes.
        ChangeLedger::Expected exact = ChangeLedger::Expected::File(after, want_mode);
        exact.inode = inode;
        if (s.ok() && inode != 0) ledger_->Expect(abs, exact);
      }
      if (!s.ok()) {
        Refuse(rel, s.message());
        return;
      }
      Restored(rel, st ? (S_ISREG(st->st_mode) ? "content" : "type") : "recreated", before_sha,
               DigestHex(after), forensics, change_ns, why);
      return;
    }
  }
}

void Healer::HandleUnexpected(const std::string& rel, const struct stat& st, Why why) {
  std::string abs = safe_.Abs(rel);
  if (why == Why::kDeploy) return;
  Event e = MakeEvent("unexpected_file", "change", Severity::kMedium);
  e.SetBytes("file.path", abs);
  e.Set("autoheal.action_taken", std::string(UnexpectedActionName(root_.unexpected)));
  switch (root_.unexpected) {
    case UnexpectedAction::kKeep:
      e.Set("message", "a file that is not in git was kept (unexpected_files: keep)");
      break;
    case UnexpectedAction::kDelete: {
      std::string sha;
      if (S_ISREG(st.st_mode)) {
        auto data = safe_.ReadFile(rel, kMaxCompareSize);
        if (data) sha = Sha256Hex(*data);
      }
      if (ledger_) ledger_->Expect(abs, ChangeLedger::Expected::Gone(true));
      Status s = safe_.Remove(rel);
      if (!sha.empty()) e.Set("file.hash.sha256", sha);
      e.Set("autoheal.success", s.ok());
      e.Set("message", s.ok() ? "a file that is not in git was deleted"
                              : fmt::format("could not delete: {}", s.message()));
      break;
    }
    case UnexpectedAction::kQuarantine: {
      std::string sha;
      std::string where;
      if (!Keep(rel, st, /*move=*/true, &sha, &where)) return;
      // KeepForensics put it under forensics/; quarantine is the same record, filed apart.
      std::string qdir =
          (state_dir_ / "autoheal" / "quarantine" / std::filesystem::path(where).filename())
              .string();
      if (fs_.Rename(where, qdir).ok()) where = qdir;
      bool gone = !safe_.Lstat(rel).has_value();
      if (!sha.empty()) e.Set("file.hash.sha256", sha);
      e.Set("autoheal.quarantine_path", where);
      e.Set("autoheal.success", gone);
      e.Set("message", gone ? "a file that is not in git was moved to quarantine"
                            : "a file that is not in git could not be moved to quarantine");
      break;
    }
  }
  sink_.Emit(std::move(e));
}

void Healer::Restored(const std::string& rel, std::string_view what, const std::string& before_sha,
                      const std::string& after_sha, const std::string& forensics, int64_t change_ns,
                      Why why) {
  std::string abs = safe_.Abs(rel);
  int64_t now = NowNs();
  if (why == Why::kDeploy) {
    ++deploy_written_;
    return;
  }
  ++status_.restored;
  status_.last_restore_ns = now;
  status_.last_restore_path = LossyUtf8(abs);
  Event e = MakeEvent("restored", "change", Severity::kMedium);
  e.SetBytes("file.path", abs);
  e.Set("autoheal.restored", std::string(what));
  if (!before_sha.empty()) e.Set("autoheal.sha256_before", before_sha);
  if (!after_sha.empty()) {
    e.Set("autoheal.sha256_after", after_sha);
    e.Set("file.hash.sha256", after_sha);
  }
  if (!forensics.empty()) e.Set("autoheal.forensics_path", forensics);
  if (change_ns > 0 && change_ns <= now)
    e.Set("autoheal.latency_ms", (now - change_ns) / 1'000'000);
  e.Set("autoheal.trigger", why == Why::kTamper ? "tamper" : "reconcile");
  sink_.Emit(std::move(e));

  // Persistent attack: the same file restored again and again.
  auto steady = clock_.SteadyNow();
  auto& times = recent_[abs];
  times.push_back(steady);
  while (!times.empty() && steady - times.front() > persistent_window_) times.pop_front();
  if (static_cast<int>(times.size()) >= persistent_threshold_ &&
      static_cast<int>(times.size()) % persistent_threshold_ == 0) {
    Event p = MakeEvent("persistent_tampering", "info", Severity::kCritical);
    p.SetBytes("file.path", abs);
    p.Set("autoheal.restores_in_window", times.size());
    p.Set("message", fmt::format("{} was restored {} times within {} s: something keeps "
                                 "tampering with it",
                                 LossyUtf8(abs), times.size(), persistent_window_.count() / 1000));
    sink_.Emit(std::move(p));
  }
  if (recent_.size() > 10000) recent_.clear();
  status_dirty_ = true;  // written by FlushStatus() once the batch is done
}

void Healer::FlushStatus() {
  if (status_dirty_) SaveStatus();
}

void Healer::SaveStatus() {
  status_dirty_ = false;
  nlohmann::json j;
  j["root"] = status_.root;
  j["repository"] = status_.repository;
  j["ref"] = status_.ref;
  j["commit"] = status_.commit;
  j["locked"] = status_.locked;
  j["restored"] = status_.restored;
  j["last_restore_ns"] = status_.last_restore_ns;
  j["last_restore_path"] = status_.last_restore_path;
  j["error"] = status_.error;
  std::string file = StatusFile(state_dir_, root_.path);
  if (Status s = fs_.WriteFileAtomic(file, j.dump() + "\n", 0600); !s.ok()) {
    spdlog::warn("autoheal: status not saved: {}", s.ToString());
    status_dirty_ = true;  // tried again at the next flush
  }
}

Result<std::vector<HealerStatus>> LoadStatus(const std::filesystem::path& state_dir) {
  std::vector<HealerStatus> out;
  std::error_code ec;
  auto dir = state_dir / "autoheal" / "status";
  if (!std::filesystem::exists(dir, ec)) return out;
  for (const auto& f : std::filesystem::directory_iterator(dir, ec)) {
    if (f.path().extension() != ".json") continue;
    std::ifstream in(f.path());
    std::stringstream ss;
    ss << in.rdbuf();
    try {
      auto j = nlohmann::json::parse(ss.str());
      HealerStatus s;
      s.root = j.value("root", "");
      s.repository = j.value("repository", "");
      s.ref = j.value("ref", "");
      s.commit = j.value("commit", "");
      s.locked = j.value("locked", false);
      s.restored = j.value("restored", uint64_t{0});
      s.last_restore_ns = j.value("last_restore_ns", int64_t{0});
      s.last_restore_path = j.value("last_restore_path", "");
      s.error = j.value("error", "");
      out.push_back(std::move(s));
    } catch (const nlohmann::json::exception& e) {
      return DataLoss(fmt::format("{}: {}", f.path().string(), e.what()));
    }
  }
  return out;
}

}  // namespace ward::agent::autoheal
