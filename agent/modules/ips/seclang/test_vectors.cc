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

std::vector<RegressionTest> LoadRegressionTests() {
  std::vector<std::filesystem::path> files;
  for (const auto& e :
       std::filesystem::directory_iterator(OraclesDir() + "/modsecurity-3.0.9-regression")) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<RegressionTest> tests;
  for (const auto& path : files) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    auto doc = nlohmann::json::parse(ss.str(), nullptr, false);
    if (doc.is_object()) doc = nlohmann::json::array({doc});
    if (!doc.is_array()) continue;
    int index = 0;
    for (const auto& t : doc) {
      ++index;
      if (!t.is_object() || !t.contains("rules") || !t["rules"].is_array()) continue;
      RegressionTest r;
      r.file_stem = path.stem().string();
      r.index = index;
      r.enabled =
          !(t.contains("enabled") && t["enabled"].is_number() && t["enabled"].get<int>() == 0);
      for (const auto& line : t["rules"]) {
        if (line.is_string()) r.rules += line.get<std::string>() + "\n";
      }
      r.test = t;
      tests.push_back(std::move(r));
    }
  }
  return tests;
}

std::vector<std::string> CrsFiles() {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const char* s :
       {"/etc/modsecurity/crs/crs-setup.conf", "/usr/share/modsecurity-crs/crs-setup.conf"}) {
    if (fs::exists(s)) {
      files.emplace_back(s);
      break;
    }
  }
  if (fs::exists("/etc/modsecurity/crs/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf")) {
    files.emplace_back("/etc/modsecurity/crs/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf");
  }
  std::vector<std::string> rules;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/share/modsecurity-crs/rules", ec)) {
    if (e.path().extension() == ".conf") rules.push_back(e.path().string());
  }
  std::sort(rules.begin(), rules.end());
  files.insert(files.end(), rules.begin(), rules.end());
  if (fs::exists("/etc/modsecurity/crs/RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf")) {
    files.emplace_back("/etc/modsecurity/crs/RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf");
  }
  return files;
}

std::vector<std::string> CrsPayloads() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e :
       std::filesystem::recursive_directory_iterator(OraclesDir() + "/crs-3.3-tests", ec)) {
    if (e.path().extension() != ".yaml") continue;
    std::ifstream in(e.path());
    for (std::string line; std::getline(in, line);) {
      // std::regex recurses per character: long payload lines would overflow the stack.
      const size_t start = line.find_first_not_of(" \t");
      if (start == std::string::npos) continue;
      std::string_view rest = std::string_view(line).substr(start);
      size_t skip = 0;
      if (rest.rfind("uri:", 0) == 0) {
        skip = 4;
      } else if (rest.rfind("data:", 0) == 0) {
        skip = 5;
      } else {
        continue;
      }
      rest.remove_prefix(skip);
      while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
      std::string v(rest);
      if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
        v = v.substr(1, v.size() - 2);
      }
      if (!v.empty()) out.push_back(std::move(v));
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<Vector> LoadVectors(const std::string& dir, const std::string& only) {
  std::vector<Vector> out;
  const std::filesystem::path base = OraclesDir() + "/secrules-language-tests/" + dir;
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(base, ec)) {
    if (e.path().extension() == ".json" && (only.empty() || e.path().filename() == only)) {
      files.push_back(e.path());
    }
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
