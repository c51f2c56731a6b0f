// Test support: the vectors of secrules-language-tests (testdata/oracles), read as
// libmodsecurity's unit-test runner reads them (its json2bin turns "\xHH" and "\uHHHH" escapes
// in inputs and outputs into bytes).
#pragma once

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

}  // namespace ward::seclang::test
