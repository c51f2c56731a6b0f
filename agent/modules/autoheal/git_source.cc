#include "agent/modules/autoheal/git_source.h"

#include <fmt/format.h>
#include <git2.h>

#include <cstring>
#include <functional>
#include <map>
#include <mutex>

#include "common/text.h"

namespace ward::agent::autoheal {
namespace {

void InitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { git_libgit2_init(); });
}

Status GitError(int rc, std::string_view what) {
  const git_error* e = git_error_last();
  std::string msg = fmt::format("{}: {}", what, e && e->message ? e->message : "libgit2 error");
  if (rc == GIT_ENOTFOUND) return NotFound(std::move(msg));
  if (rc == GIT_EINVALIDSPEC || rc == GIT_EAMBIGUOUS) return InvalidArgument(std::move(msg));
  return Internal(std::move(msg));
}

GitOid FromGit(const git_oid* o) {
  GitOid out{};
  std::memcpy(out.data(), o->id, out.size());
  return out;
}

git_oid ToGit(const GitOid& o) {
  git_oid out;
  std::memcpy(out.id, o.data(), o.size());
  return out;
}

struct TreeFree {
  void operator()(git_tree* t) const { git_tree_free(t); }
};
struct CommitFree {
  void operator()(git_commit* c) const { git_commit_free(c); }
};
struct EntryFree {
  void operator()(git_tree_entry* e) const { git_tree_entry_free(e); }
};
using TreePtr = std::unique_ptr<git_tree, TreeFree>;

bool SafeComponent(std::string_view c) {
  if (c.empty() || c == "." || c == "..") return false;
  if (c.find('/') != std::string_view::npos || c.find('\0') != std::string_view::npos) return false;
  std::string lower(c);
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return lower != ".git";
}

GitEntry EntryOf(const git_tree_entry* e) {
  GitEntry out;
  out.oid = FromGit(git_tree_entry_id(e));
  switch (git_tree_entry_filemode(e)) {
    case GIT_FILEMODE_BLOB:
      out.kind = GitEntry::Kind::kBlob;
      break;
    case GIT_FILEMODE_BLOB_EXECUTABLE:
      out.kind = GitEntry::Kind::kExecutable;
      break;
    case GIT_FILEMODE_LINK:
      out.kind = GitEntry::Kind::kSymlink;
      break;
    case GIT_FILEMODE_TREE:
      out.kind = GitEntry::Kind::kTree;
      break;
    case GIT_FILEMODE_COMMIT:
      out.kind = GitEntry::Kind::kSubmodule;
      break;
    default:
      out.kind = GitEntry::Kind::kInvalid;
      break;
  }
  if (!SafeComponent(git_tree_entry_name(e))) out.kind = GitEntry::Kind::kInvalid;
  return out;
}

}  // namespace

std::string OidHex(const GitOid& oid) { return ToHex(oid); }

bool GitSource::SafeRelativePath(std::string_view rel) {
  if (rel.empty()) return true;
  size_t start = 0;
  for (;;) {
    size_t slash = rel.find('/', start);
    if (!SafeComponent(
            rel.substr(start, slash == std::string_view::npos ? rel.npos : slash - start))) {
      return false;
    }
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

Result<std::unique_ptr<GitSource>> GitSource::Open(const std::string& repository) {
  InitOnce();
  git_repository* repo = nullptr;
  int rc =
      git_repository_open_ext(&repo, repository.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr);
  if (rc != 0) return GitError(rc, fmt::format("open git repository {}", repository));
  return std::unique_ptr<GitSource>(new GitSource(repo));
}

GitSource::~GitSource() { git_repository_free(repo_); }

Result<GitOid> GitSource::ResolveCommit(const std::string& ref) {
  git_object* obj = nullptr;
  int rc = git_revparse_single(&obj, repo_, ref.c_str());
  if (rc != 0) return GitError(rc, fmt::format("resolve {}", ref));
  git_object* peeled = nullptr;
  rc = git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT);
  git_object_free(obj);
  if (rc != 0) return GitError(rc, fmt::format("{} is not a commit", ref));
  GitOid out = FromGit(git_object_id(peeled));
  git_object_free(peeled);
  return out;
}

namespace {
Result<TreePtr> CommitTree(git_repository* repo, const GitOid& commit) {
  git_oid id = ToGit(commit);
  git_commit* c = nullptr;
  int rc = git_commit_lookup(&c, repo, &id);
  if (rc != 0) return GitError(rc, fmt::format("commit {}", OidHex(commit)));
  std::unique_ptr<git_commit, CommitFree> cg(c);
  git_tree* t = nullptr;
  rc = git_commit_tree(&t, c);
  if (rc != 0) return GitError(rc, "commit tree");
  return TreePtr(t);
}
}  // namespace

Result<GitEntry> GitSource::Lookup(const GitOid& commit, const std::string& rel) {
  WARD_ASSIGN_OR_RETURN(TreePtr tree, CommitTree(repo_, commit));
  if (rel.empty()) {
    GitEntry e;
    e.kind = GitEntry::Kind::kTree;
    e.oid = FromGit(git_tree_id(tree.get()));
    return e;
  }
  if (!SafeRelativePath(rel)) return GitEntry{GitEntry::Kind::kInvalid, {}};
  git_tree_entry* entry = nullptr;
  int rc = git_tree_entry_bypath(&entry, tree.get(), rel.c_str());
  if (rc == GIT_ENOTFOUND) return GitEntry{};
  if (rc != 0) return GitError(rc, fmt::format("look up {}", rel));
  std::unique_ptr<git_tree_entry, EntryFree> eg(entry);
  return EntryOf(entry);
}

Result<std::string> GitSource::ReadBlob(const GitOid& blob) {
  git_oid id = ToGit(blob);
  git_blob* b = nullptr;
  int rc = git_blob_lookup(&b, repo_, &id);
  if (rc != 0) return GitError(rc, fmt::format("blob {}", OidHex(blob)));
  std::string out(static_cast<const char*>(git_blob_rawcontent(b)),
                  static_cast<size_t>(git_blob_rawsize(b)));
  git_blob_free(b);
  return out;
}

Result<std::vector<GitTreeItem>> GitSource::ListTree(const GitOid& commit, const std::string& rel) {
  WARD_ASSIGN_OR_RETURN(TreePtr root, CommitTree(repo_, commit));
  TreePtr start;
  if (!rel.empty()) {
    if (!SafeRelativePath(rel)) return InvalidArgument(fmt::format("unsafe path {}", rel));
    git_tree_entry* entry = nullptr;
    int rc = git_tree_entry_bypath(&entry, root.get(), rel.c_str());
    if (rc == GIT_ENOTFOUND) return std::vector<GitTreeItem>{};
    if (rc != 0) return GitError(rc, fmt::format("look up {}", rel));
    std::unique_ptr<git_tree_entry, EntryFree> eg(entry);
    if (git_tree_entry_type(entry) != GIT_OBJECT_TREE) return std::vector<GitTreeItem>{};
    git_tree* t = nullptr;
    rc = git_tree_lookup(&t, repo_, git_tree_entry_id(entry));
    if (rc != 0) return GitError(rc, "tree");
    start.reset(t);
  } else {
    start = std::move(root);
  }
  struct Ctx {
    std::vector<GitTreeItem> items;
    std::string prefix;
  } ctx;
  ctx.prefix = rel.empty() ? "" : rel + "/";
  auto cb = [](const char* dir, const git_tree_entry* entry, void* payload) -> int {
    auto* c = static_cast<Ctx*>(payload);
    GitEntry e = EntryOf(entry);
    c->items.push_back({c->prefix + dir + git_tree_entry_name(entry), e});
    // Skip the contents of trees we refuse (positive return = skip this subtree).
    return e.kind == GitEntry::Kind::kInvalid ? 1 : 0;
  };
  int rc = git_tree_walk(start.get(), GIT_TREEWALK_PRE, cb, &ctx);
  if (rc < 0) return GitError(rc, "walk tree");
  return std::move(ctx.items);
}

Result<std::vector<GitChange>> GitSource::Diff(const GitOid& from, const GitOid& to) {
  WARD_ASSIGN_OR_RETURN(auto a, ListTree(from, ""));
  WARD_ASSIGN_OR_RETURN(auto b, ListTree(to, ""));
  std::map<std::string, GitEntry> before;
  // Entries with names we refuse are never part of a diff: nothing is written or removed for them.
  auto usable = [](const GitTreeItem& i) {
    return i.entry.kind != GitEntry::Kind::kTree && i.entry.kind != GitEntry::Kind::kInvalid &&
           SafeRelativePath(i.path);
  };
  for (auto& i : a) {
    if (usable(i)) before[i.path] = i.entry;
  }
  std::vector<GitChange> out;
  for (auto& i : b) {
    if (!usable(i)) continue;
    auto it = before.find(i.path);
    if (it == before.end() || it->second.kind != i.entry.kind || it->second.oid != i.entry.oid) {
      out.push_back({i.path, GitChange::Kind::kWritten});
    }
    if (it != before.end()) before.erase(it);
  }
  for (auto& [p, e] : before) out.push_back({p, GitChange::Kind::kRemoved});
  return out;
}

GitOid GitSource::HashBlob(std::string_view content) {
  InitOnce();
  git_oid id;
  git_odb_hash(&id, content.data(), content.size(), GIT_OBJECT_BLOB);
  return FromGit(&id);
}

}  // namespace ward::agent::autoheal
