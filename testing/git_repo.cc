#include "testing/git_repo.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "testing/shell.h"
#include "testing/temp_dir.h"

namespace ward::test {

namespace fs = std::filesystem;

GitRepo::GitRepo(std::string dir) : dir_(std::move(dir)) {
  fs::create_directories(dir_);
  Git({"init", "-q", "-b", "main"});
}

std::string GitRepo::Path(std::string_view relative) const {
  return dir_ + "/" + std::string(relative);
}

std::string GitRepo::Git(const std::vector<std::string>& args) {
  std::string cmd =
      "git -C " + ShellQuote(dir_) + " -c user.name=t -c user.email=t@t -c commit.gpgsign=false";
  for (const auto& a : args) cmd += " " + ShellQuote(a);
  return ShOrFail(cmd);
}

void GitRepo::Write(const std::string& rel, std::string_view content, mode_t mode) {
  fs::remove(Path(rel));
  WriteFile(Path(rel), content);
  ASSERT_EQ(::chmod(Path(rel).c_str(), mode), 0) << Path(rel) << ": " << std::strerror(errno);
}

void GitRepo::Symlink(const std::string& rel, const std::string& target) {
  fs::create_directories(fs::path(Path(rel)).parent_path());
  fs::remove(Path(rel));
  ASSERT_EQ(::symlink(target.c_str(), Path(rel).c_str()), 0)
      << Path(rel) << ": " << std::strerror(errno);
}

void GitRepo::Remove(const std::string& rel) { fs::remove_all(Path(rel)); }

std::string GitRepo::Commit(const std::string& message) {
  Git({"add", "-A"});
  Git({"commit", "-q", "--allow-empty", "-m", message});
  return Git({"rev-parse", "HEAD"});
}

void GitRepo::ArchiveInto(const std::string& commit, const std::string& dir) {
  fs::create_directories(dir);
  ShOrFail("git -C " + ShellQuote(dir_) + " -c tar.umask=0022 archive --format=tar " +
           ShellQuote(commit) + " | tar -x -C " + ShellQuote(dir));
}

}  // namespace ward::test
