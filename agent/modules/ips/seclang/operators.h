// SecLang operators (`@rx`, `@pm`, ...) with libmodsecurity 3.0.9's verdicts, quirks included
// (docs/ips.md, "Ward SecLang engine"). @detectSQLi/@detectXSS call the libinjection that
// libmodsecurity.so.3 exports, so their answers are the library's by construction.
//
// An Operator is compiled once at rule-load time and is then immutable: any number of threads
// may evaluate it at once, each with its own OperatorScratch (which holds the PCRE2 match data and
// the captures, so that a warm evaluation allocates nothing).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ward::seclang {

enum class OperatorKind : uint8_t {
  kRx,
  kPm,
  kPmFromFile,
  kDetectSqli,
  kDetectXss,
  kValidateByteRange,
  kValidateUrlEncoding,
  kValidateUtf8Encoding,
  kWithin,
  kStrEq,
  kContains,
  kContainsWord,
  kEndsWith,
  kBeginsWith,
  kEq,
  kGe,
  kGt,
  kLe,
  kLt,
  kIpMatch,
  kIpMatchFromFile,
  kUnconditionalMatch,
  kNoMatch,
  // Loaded so that CRS loads, never matching — as libmodsecurity in Ward's configuration, which
  // has no GeoIP database and no http:BL key (SecGeoLookupDb and SecHttpBlKey are refused).
  kGeoLookup,
  kRblHttpBl,
};

// Per-thread state for evaluations. After a match it holds what the operator matched:
// regex captures (group, offset, length into the input), or the @pm pattern / libinjection
// fingerprint as `matched`.
class OperatorScratch {
 public:
  OperatorScratch();
  ~OperatorScratch();
  OperatorScratch(const OperatorScratch&) = delete;
  OperatorScratch& operator=(const OperatorScratch&) = delete;

  struct Capture {
    int group;
    size_t offset;
    size_t length;
  };
  const std::vector<Capture>& captures() const { return captures_; }
  std::string_view matched() const { return matched_; }

 private:
  friend class Operator;
  void* match_data_ = nullptr;  // pcre2_match_data_8
  uint32_t match_pairs_ = 0;
  std::vector<Capture> captures_;
  std::string_view matched_;
  std::array<char, 8> fingerprint_{};
  // The last regex compiled from a macro-expanded @rx parameter, reused while it repeats.
  std::string macro_pattern_;
  void* macro_code_ = nullptr;  // pcre2_code_8
  bool macro_jit_ = false;
};

class Operator {
 public:
  // Compiles `@<name> <param>` (name without '@', case-insensitive as libmodsecurity's parser).
  // Relative files (@pmFromFile, @ipMatchFromFile) are looked up in `base_dir`.
  // Errors: InvalidArgument naming the operator for an unknown or unsupported operator
  // (@rbl for other lists than http:BL, @inspectFile, ... are refused), a parameter libmodsecurity
  // would refuse, or one Ward refuses deliberately (a regex that does not compile); NotFound for a
  // missing file.
  static Result<std::unique_ptr<Operator>> Create(std::string_view name, std::string_view param,
                                                  const std::filesystem::path& base_dir);
  ~Operator();

  OperatorKind kind() const { return kind_; }
  const std::string& param() const { return param_; }
  // True when the parameter holds a macro (%{...}): the caller expands it per transaction and
  // passes the expansion to Evaluate(). Only operators that take their parameter as text at
  // evaluation accept macros (@within, @streq, @contains, @eq, @ge, ...), and @rx, whose
  // expansion is compiled per thread and reused while it stays the same.
  bool param_has_macro() const { return has_macro_; }

  // The verdict on one (already transformed) value, without negation.
  bool Evaluate(std::string_view input, OperatorScratch& scratch) const {
    return Evaluate(input, param_, scratch);
  }
  // REQUIRES: `param` is this operator's parameter, or its expansion when param_has_macro().
  bool Evaluate(std::string_view input, std::string_view param, OperatorScratch& scratch) const;

  struct Regex;
  struct PatternSet;
  struct IpSet;

 private:
  Operator(OperatorKind kind, std::string param);

  OperatorKind kind_;
  std::string param_;
  bool has_macro_ = false;
  std::unique_ptr<Regex> regex_;
  std::unique_ptr<PatternSet> patterns_;
  std::unique_ptr<IpSet> ips_;
  std::array<uint8_t, 32> byte_table_{};
  int param_int_ = 0;       // @eq's parameter, parsed at creation
  long long param_ll_ = 0;  // @ge @gt @le @lt's
};

// The name as the rule language spells it ("rx", "pmFromFile", ...).
std::string_view OperatorName(OperatorKind kind);

}  // namespace ward::seclang
