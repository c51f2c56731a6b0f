// Test support: libmodsecurity 3.0.9 itself, called for one transformation or one operator the
// way its own unit tests do (no transaction, no rule). It is the reference Ward's engine is
// compared with byte for byte.
// Thread-safety: each call is independent.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ward::seclang::test {

// libmodsecurity's result of `t:<name>` on `input`. `name` is the rule-language name
// ("urlDecodeUni", "cmdLine", ...).
std::string ModsecTransform(std::string_view name, std::string_view input);

// The same inside a transaction whose rules set `SecUnicodeMapFile <map_file> <code_page>`.
std::string ModsecTransformWithMap(std::string_view name, std::string_view input,
                                   const std::string& map_file, int code_page);

// libmodsecurity's verdict of `@<name> <param>` on `input`; nullopt when it refuses the
// parameter (init fails or it throws). `config_file` is the file relative paths in the
// parameter (@pmFromFile) are resolved against.
std::optional<bool> ModsecOperator(std::string_view name, std::string_view param,
                                   std::string_view input, std::string_view config_file = "");

// One operator of libmodsecurity, created once and evaluated many times.
class ModsecOperatorHandle {
 public:
  // nullptr when libmodsecurity refuses it. `config_file` as for ModsecOperator.
  static std::unique_ptr<ModsecOperatorHandle> Create(std::string_view name, std::string_view param,
                                                      std::string_view config_file);
  ~ModsecOperatorHandle();
  bool Evaluate(std::string_view input);

 private:
  ModsecOperatorHandle() = default;
  void* op_ = nullptr;
};

// The operator of each rule as libmodsecurity parsed `files`: rule id, position in its chain
// (0 for the head), operator name as the library calls it ("Rx", "PmFromFile", ...), parameter
// and negation.
struct ModsecRuleOperator {
  int64_t id;
  int chain_index;
  std::string name;
  std::string param;
  bool negated;
};
std::vector<ModsecRuleOperator> ModsecRuleOperators(const std::vector<std::string>& files,
                                                    std::string* error);

// Loads `files` in order into one libmodsecurity RulesSet. Returns the number of rules it
// reports, or -1 with its error message in `error`.
int ModsecLoadRules(const std::vector<std::string>& files, std::string* error);

}  // namespace ward::seclang::test
