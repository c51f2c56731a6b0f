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

// Every vector of every *.json file in `<oracles>/secrules-language-tests/<dir>`, files in name
// order. Aborts the test (gtest failure) when a file cannot be read.
std::vector<Vector> LoadVectors(const std::string& dir);

// The directory holding the oracles (testdata/oracles).
std::string OraclesDir();

}  // namespace ward::seclang::test
