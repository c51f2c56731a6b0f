// Running shell commands from tests (git, tar, command-line anchors), with git's global and
// system configuration out of the way so a developer's ~/.gitconfig cannot change a result.
#pragma once

#include <string>
#include <string_view>

namespace ward::test {

struct ShellResult {
  int exit_code = -1;  // -1 when the command could not run or ended by a signal
  std::string output;  // stdout and stderr, interleaved
};

// Runs `command` with /bin/sh.
ShellResult RunShell(const std::string& command);

// Runs `command`; a non-zero exit fails the calling test (ADD_FAILURE with the output). Returns the
// output without trailing newlines or spaces.
std::string ShOrFail(const std::string& command);

// `s` as one single-quoted shell word.
std::string ShellQuote(std::string_view s);

}  // namespace ward::test
