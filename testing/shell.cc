#include "testing/shell.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace ward::test {

ShellResult RunShell(const std::string& command) {
  std::string full =
      "export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_TERMINAL_PROMPT=0; (" +
      command + ") 2>&1";
  ShellResult r;
  FILE* p = ::popen(full.c_str(), "r");
  if (p == nullptr) {
    r.output = std::strerror(errno);
    return r;
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string ShOrFail(const std::string& command) {
  ShellResult r = RunShell(command);
  EXPECT_EQ(r.exit_code, 0) << command << "\n" << r.output;
  while (!r.output.empty() && (r.output.back() == '\n' || r.output.back() == ' ')) {
    r.output.pop_back();
  }
  return r.output;
}

std::string ShellQuote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace ward::test
