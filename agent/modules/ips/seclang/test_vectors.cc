#include "agent/modules/ips/seclang/test_vectors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

namespace ward::seclang::test {
namespace {

// Replaces every occurrence of `search`, rescanning from the same place, as the runner does.
void ReplaceAll(std::string& s, const std::string& search, char replace) {
  for (size_t pos = 0;;) {
    pos = s.find(search, pos);
    if (pos == std::string::npos) break;
    s.erase(pos, search.size());
    s.insert(pos, 1, replace);
  }
}

void Json2Bin(std::string& s) {
  static const std::regex kX(R"(\\x([a-z0-9A-Z]{2}))");
  static const std::regex kU(R"(\\u([a-z0-9A-Z]{4}))");
  std::smatch m;
  while (std::regex_search(s, m, kX)) {
    unsigned p = 0;
    std::sscanf(m.str(1).c_str(), "%3x", &p);
    ReplaceAll(s, m.str(0), static_cast<char>(p));
  }
  while (std::regex_search(s, m, kU)) {
    unsigned p = 0;
    std::sscanf(m.str(1).c_str(), "%4x", &p);
    ReplaceAll(s, m.str(0), static_cast<char>(p));
  }
}

}  // namespace

std::string OraclesDir() { return WARD_SECLANG_ORACLES; }

std::vector<Vector> LoadVectors(const std::string& dir) {
  std::vector<Vector> out;
  const std::filesystem::path base = OraclesDir() + "/secrules-language-tests/" + dir;
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(base, ec)) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  EXPECT_FALSE(ec) << base << ": " << ec.message();
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f);
    std::stringstream ss;
    ss << in.rdbuf();
    const auto doc = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
    EXPECT_TRUE(doc.is_array()) << f;
    if (!doc.is_array()) continue;
    int index = 0;
    for (const auto& v : doc) {
      Vector t;
      t.file = dir + "/" + f.filename().string();
      t.index = index++;
      t.type = v.value("type", "");
      t.name = v.value("name", "");
      t.param = v.value("param", "");
      t.input = v.value("input", "");
      Json2Bin(t.input);
      t.output = v.value("output", "");
      Json2Bin(t.output);
      t.ret = v.value("ret", 0);
      t.resource = v.value("resource", "");
      out.push_back(std::move(t));
    }
  }
  return out;
}

}  // namespace ward::seclang::test
