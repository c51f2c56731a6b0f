// RuleParser: reads SecLang configuration files (SecRule, SecAction, SecMarker, SecDefaultAction,
// engine settings, exceptions, Include) into a RuleSet, compiling each rule's operator and
// transformations as it goes.
//
// The accepted language is the subset Debian's CRS 3.3.4, crs-setup.conf, libmodsecurity's
// modsecurity.conf-recommended and ordinary custom rules and exclusions use (docs/ips.md, "Ward
// SecLang engine"). Anything else — an unknown or unsupported directive, action, variable,
// operator or transformation — is refused, never ignored: the error reads
// "<file>:<line>: <Directive>: <what>".
//
// Thread-safety: one parser per load; not thread-safe. The RuleSet it returns is immutable.
#pragma once

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "agent/modules/ips/seclang/rule_set.h"
#include "common/status.h"

namespace ward::seclang {

class RuleParser {
 public:
  RuleParser();

  // Parses the file at `path` and the files it includes (relative paths are relative to the
  // including file). Returns InvalidArgument/NotFound with the location on the first error;
  // after an error the parser must not be used further.
  Status LoadFile(const std::filesystem::path& path);

  // Parses `text` as if read from a file called `name` in `base_dir`.
  Status LoadText(std::string_view text, const std::string& name,
                  const std::filesystem::path& base_dir);

  // Checks what only the whole configuration can tell (a chain left open) and hands the rule
  // set over. REQUIRES: called once, after every Load succeeded.
  Result<std::unique_ptr<RuleSet>> Finish();

  struct Line {
    std::string_view file;
    int number;
    std::filesystem::path base_dir;
  };

 private:
  Status ParseDirective(const Line& where, std::string_view text);
  Status Include(const Line& where, const std::string& pattern);

  std::unique_ptr<RuleSet> set_;
  Rule* open_chain_ = nullptr;  // the last rule of a chain that awaits its next rule
  SourceLocation open_chain_where_;
  std::set<int64_t> ids_;
  int include_depth_ = 0;
};

}  // namespace ward::seclang
