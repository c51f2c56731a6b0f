// Wazuh's ruleset unit tests (testing/tests/*.ini) run the way runtests.py runs them: the .ini
// is read like Python 2's RawConfigParser with a multi-value dict (a repeated "log N pass" key
// joins its lines into one logtest session), each "log ..." key is one `logtest -U
// rule:level:decoder` invocation, "pass" expects exit 0 and "fail" expects non-zero.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/modules/loginspect/ruleset.h"
#include "common/status.h"

namespace ward::agent::loginspect {

struct IniCase {
  std::string file;
  std::string section;
  std::string name;  // "log 1 pass"
  std::vector<std::string> lines;
  std::string rule;
  std::string level;
  std::string decoder;
  bool expect_match = true;
};

Result<std::vector<IniCase>> ReadIniCases(const std::filesystem::path& file);

// wazuh-logtest -U: a fresh session, every line in order; true when the last line's rule id,
// level and decoder name are the expected ones.
bool RunUnitCheck(const std::shared_ptr<const Ruleset>& ruleset,
                  const std::vector<std::string>& lines, const std::string& rule,
                  const std::string& level, const std::string& decoder, std::string* got,
                  Compat compat = Compat::kWazuh);

// Every case of the *.ini files in `dir` (files in name order) through RunUnitCheck():
// how many give the expected outcome, how many there are, and one line per failing case
// ("<file> [<section>] <name>: expected <rule>:<level>:<decoder> got <what matched>").
struct IniSuiteResult {
  int passed = 0;
  int total = 0;
  std::string failures;
};
// `before_each`, when given, is called with each case before it runs (debugging aid).
Result<IniSuiteResult> RunIniSuite(const std::shared_ptr<const Ruleset>& ruleset,
                                   const std::filesystem::path& dir,
                                   const std::function<void(const IniCase&)>& before_each = {},
                                   Compat compat = Compat::kWazuh);

}  // namespace ward::agent::loginspect
