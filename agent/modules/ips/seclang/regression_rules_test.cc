// The rule sets of libmodsecurity 3.0.9's own regression tests (testdata/oracles/
// modsecurity-3.0.9-regression): Ward loads what the library loads, except where it refuses on
// purpose (docs/ips.md, "Deliberate differences"), and refuses everything the library refuses.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "agent/modules/ips/seclang/modsec_oracle.h"
#include "agent/modules/ips/seclang/parser.h"
#include "agent/modules/ips/seclang/test_vectors.h"
#include "testing/temp_dir.h"

namespace ward::seclang {
namespace {

// What Ward refuses on purpose where libmodsecurity loads.
constexpr std::string_view kDeliberate[] = {
    "operator @",                  // not implemented (@inspectFile, @rxGlobal, @verify*), or
                                   // unknown (libmodsecurity reads "@contais x" as a regex)
    "directive is not supported",  // SecRemoteRules
    "regular expression does not compile",
    "text right after a closing quote",  // a malformed line
};

TEST(SeclangRegressionRules, LoadWhereLibmodsecurityLoads) {
  const ward::test::TempDir dir;
  int both = 0, neither = 0, deliberate = 0, files = 0;
  for (const auto& reg : test::LoadRegressionTests()) {
    const std::string name = reg.file_stem + "_" + std::to_string(reg.index) + ".conf";
    const std::filesystem::path f = dir.path() / name;
    std::ofstream(f) << reg.rules;
    ++files;
    RuleParser parser;
    Status s = parser.LoadFile(f);
    if (s.ok()) {
      auto set = parser.Finish();
      if (!set.has_value()) s = set.error();
    }
    std::string error;
    const bool library = test::ModsecLoadRules({f.string()}, &error) >= 0;
    if (s.ok()) {
      EXPECT_TRUE(library) << name << ": Ward loads what libmodsecurity refuses: " << error;
      ++both;
    } else if (!library) {
      ++neither;
    } else {
      const bool known =
          std::any_of(std::begin(kDeliberate), std::end(kDeliberate),
                      [&](std::string_view d) { return s.message().find(d) != std::string::npos; });
      EXPECT_TRUE(known) << name << ": " << s.message();
      ++deliberate;
    }
  }
  EXPECT_GT(files, 500);
  std::cout << files << " regression rule sets: " << both << " load in both, " << neither
            << " refused by both, " << deliberate << " refused by Ward on purpose\n";
}

}  // namespace
}  // namespace ward::seclang
