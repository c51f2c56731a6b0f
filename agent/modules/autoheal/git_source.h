// GitSource: read-only access to the commit that is the truth for an autoheal root (libgit2).
//
// Paths handed out are relative to the tree root and validated: a component that is empty, ".",
// "..", ".git" or contains '/' or NUL makes the entry unusable (kInvalid), so a crafted repository
// cannot name a path outside the root. Thread-safety: one thread at a time per GitSource.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

struct git_repository;

namespace ward::agent::autoheal {

using GitOid = std::array<uint8_t, 20>;
std::string OidHex(const GitOid& oid);

struct GitEntry {
  enum class Kind { kNone, kBlob, kExecutable, kSymlink, kTree, kSubmodule, kInvalid };
  Kind kind = Kind::kNone;
  GitOid oid{};
};

struct GitTreeItem {
  std::string path;  // relative, '/'-separated
  GitEntry entry;
};

struct GitChange {
  std::string path;
  enum class Kind { kWritten, kRemoved } kind;
};

class GitSource {
 public:
  static Result<std::unique_ptr<GitSource>> Open(const std::string& repository);
  ~GitSource();

  // The commit `ref` points at (a ref name, "HEAD", or anything git rev-parse takes).
  Result<GitOid> ResolveCommit(const std::string& ref);
  // The entry at `rel` in the commit's tree ("" = the root tree), kNone when absent.
  Result<GitEntry> Lookup(const GitOid& commit, const std::string& rel);
  Result<std::string> ReadBlob(const GitOid& blob);
  // Every entry below `rel` (pre-order: a directory before its contents); kInvalid entries are
  // included (so callers can refuse them) but not descended into.
  Result<std::vector<GitTreeItem>> ListTree(const GitOid& commit, const std::string& rel);
  // Paths whose entry differs between two commits (files and symlinks; directories implied).
  Result<std::vector<GitChange>> Diff(const GitOid& from, const GitOid& to);

  // The blob id git would give these bytes.
  static GitOid HashBlob(std::string_view content);
  // True when every component of `rel` is acceptable (see above).
  static bool SafeRelativePath(std::string_view rel);

 private:
  explicit GitSource(git_repository* repo) : repo_(repo) {}
  git_repository* repo_;
};

}  // namespace ward::agent::autoheal
