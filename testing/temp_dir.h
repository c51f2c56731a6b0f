// TempDir: a fresh directory under $TMPDIR (or /tmp), removed with everything in it on
// destruction. Used by every test that touches files.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace ward::test {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string Str() const { return path_.string(); }
  // path() / relative, as a string.
  std::string Sub(std::string_view relative) const { return (path_ / relative).string(); }

 private:
  std::filesystem::path path_;
};

// Writes `content` to `path`, creating parent directories.
void WriteFile(const std::string& path, std::string_view content);
std::string ReadFileOrDie(const std::string& path);

}  // namespace ward::test
