// GitRepo: a non-bare git repository in a directory, driven through the git command line, for the
// tests of everything that reads git (autoheal).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace ward::test {

class GitRepo {
 public:
  // Creates `dir` when missing and runs `git init -b main` in it.
  explicit GitRepo(std::string dir);

  const std::string& dir() const { return dir_; }
  // dir()/relative.
  std::string Path(std::string_view relative) const;

  // Runs git in the repository with a fixed identity; a failure fails the test. Returns the
  // output, trimmed.
  std::string Git(const std::vector<std::string>& args);

  // Work-tree edits (relative paths; parents are created).
  void Write(const std::string& rel, std::string_view content, mode_t mode = 0644);
  void Symlink(const std::string& rel, const std::string& target);
  void Remove(const std::string& rel);

  // Commits everything in the work tree; returns the commit id (hex).
  std::string Commit(const std::string& message = "c");

  // Extracts the tree of `commit` into `dir` with `git archive | tar` (umask 022).
  void ArchiveInto(const std::string& commit, const std::string& dir);

 private:
  std::string dir_;
};

}  // namespace ward::test
