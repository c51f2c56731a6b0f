// Test support: the vectors of secrules-language-tests (testdata/oracles), read as
// libmodsecurity's unit-test runner reads them (its json2bin turns "\xHH" and "\uHHHH" escapes
// in inputs and outputs into bytes).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ward::seclang::test {

struct Vector {
  std::string file;  // e.g. "transformations/urlDecode.json"
  int index = 0;     // position in that file
  std::string type;  // "tfn" or "op"
  std::string name;
  std::string param;
  std::string input;
  std::string output;  // tfn
  int ret = 0;         // op
  std::string resource;
};

// Every vector of every *.json file in `<oracles>/secrules-language-tests/<dir>` (or of the one
// file `only`), files in name order. A file that cannot be read fails the test.
std::vector<Vector> LoadVectors(const std::string& dir, const std::string& only = "");

// The directory holding the oracles (testdata/oracles).
std::string OraclesDir();

// Debian's CRS 3.3.4 as installed, in the order Ward loads it (docs/ips.md): crs-setup.conf,
// the 900 exclusions, rules/*.conf by name, the 999 exclusions.
std::vector<std::string> CrsFiles();

// The request lines and bodies (`uri:`/`data:`) of the CRS regression tests, as written.
std::vector<std::string> CrsPayloads();

// One test of libmodsecurity 3.0.9's own regression suite
// (<oracles>/modsecurity-3.0.9-regression) that has rules.
struct RegressionTest {
  std::string file_stem;  // the JSON file's name without ".json"
  int index = 0;          // 1-based position in that file (tests without rules counted too)
  bool enabled = true;    // false when the test says "enabled": 0
  std::string rules;      // its "rules" lines, each ending in "\n"
  nlohmann::json test;    // the whole test (request, response, expectations)
};

// Every regression test with a "rules" array, files in name order. Unparsable files are skipped.
std::vector<RegressionTest> LoadRegressionTests();

}  // namespace ward::seclang::test
