#include "agent/modules/loginspect/ini_suite.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>

namespace ward::agent::loginspect {
namespace {

std::string Strip(std::string_view s) {
  size_t a = 0;
  size_t b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return std::string(s.substr(a, b - a));
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Result<std::vector<IniCase>> ReadIniCases(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return NotFound(fmt::format("{}: cannot open", file.string()));
  // section -> ordered (key, values)
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::pair<std::string, std::vector<std::string>>>> sections;
  std::string cur;
  std::string opt;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (Strip(line).empty() || line[0] == '#' || line[0] == ';') continue;
    if (Lower(line.substr(0, 3)) == "rem" &&
        (line.size() == 3 || std::isspace(static_cast<unsigned char>(line[3]))))
      continue;
    if (std::isspace(static_cast<unsigned char>(line[0])) && !cur.empty() && !opt.empty()) {
      std::string v = Strip(line);
      if (!v.empty()) {
        for (auto& [k, vals] : sections[cur]) {
          if (k == opt) vals.push_back(v);
        }
      }
      continue;
    }
    if (line[0] == '[') {
      size_t close = line.find(']');
      if (close != std::string::npos && close > 1) {
        cur = line.substr(1, close - 1);
        if (!sections.count(cur)) order.push_back(cur);
        sections[cur];
        opt.clear();
        continue;
      }
    }
    if (cur.empty()) continue;
    size_t sep = line.find_first_of(":=");
    if (sep == std::string::npos || sep == 0 || std::isspace(static_cast<unsigned char>(line[0])))
      continue;
    std::string key = Lower(Strip(line.substr(0, sep)));
    std::string value = line.substr(sep + 1);
    size_t semi = value.find(';');
    if (semi != std::string::npos && semi > 0 &&
        std::isspace(static_cast<unsigned char>(value[semi - 1])))
      value.resize(semi);
    value = Strip(value);
    if (value == "\"\"") value.clear();
    opt = key;
    auto& kv = sections[cur];
    bool found = false;
    for (auto& [k, vals] : kv) {
      if (k == key) {
        vals.push_back(value);
        found = true;
      }
    }
    if (!found) kv.emplace_back(key, std::vector<std::string>{value});
  }
  std::vector<IniCase> out;
  for (const auto& s : order) {
    const auto& kv = sections[s];
    auto get = [&](const std::string& key) {
      for (const auto& [k, vals] : kv) {
        if (k == key) {
          std::string j;
          for (size_t i = 0; i < vals.size(); ++i) j += (i ? "\n" : "") + vals[i];
          return j;
        }
      }
      return std::string();
    };
    for (const auto& [k, vals] : kv) {
      if (k.rfind("log ", 0) != 0) continue;
      IniCase c;
      c.file = file.filename().string();
      c.section = s;
      c.name = k;
      std::string joined;
      for (size_t i = 0; i < vals.size(); ++i) joined += (i ? "\n" : "") + vals[i];
      std::istringstream ls(joined);
      std::string l;
      while (std::getline(ls, l)) c.lines.push_back(l);
      c.rule = get("rule");
      c.level = get("alert");
      c.decoder = get("decoder");
      c.expect_match = !(k.size() >= 4 && k.substr(k.size() - 4) == "fail");
      out.push_back(std::move(c));
    }
  }
  return out;
}

bool RunUnitCheck(const std::shared_ptr<const Ruleset>& ruleset,
                  const std::vector<std::string>& lines, const std::string& rule,
                  const std::string& level, const std::string& decoder, std::string* got,
                  Compat compat) {
  Session session(ruleset, compat);
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  Verdict last;
  for (const auto& l : lines) last = session.Process(l, "stdin", now);
  std::string r = last.rule ? std::to_string(last.rule->id) : "";
  std::string lv = last.rule ? std::to_string(last.rule->level) : "";
  std::string d = last.event && last.event->decoder ? last.event->decoder->display_name : "";
  if (got != nullptr) *got = fmt::format("{}:{}:{}", r, lv, d);
  // wazuh-logtest exits with the number of empty expected fields when they all equal (0 only
  // when rule, level and decoder were all given and matched), 1 otherwise.
  return r == rule && lv == level && d == decoder && !rule.empty() && !level.empty() &&
         !decoder.empty();
}

Result<IniSuiteResult> RunIniSuite(const std::shared_ptr<const Ruleset>& ruleset,
                                   const std::filesystem::path& dir,
                                   const std::function<void(const IniCase&)>& before_each,
                                   Compat compat) {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".ini") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  IniSuiteResult r;
  for (const auto& f : files) {
    WARD_ASSIGN_OR_RETURN(std::vector<IniCase> cases, ReadIniCases(f));
    for (const auto& k : cases) {
      ++r.total;
      if (before_each) before_each(k);
      std::string got;
      bool matched = RunUnitCheck(ruleset, k.lines, k.rule, k.level, k.decoder, &got, compat);
      if (matched == k.expect_match) {
        ++r.passed;
      } else {
        r.failures +=
            fmt::format("{} [{}] {}: expected {}{}:{}:{} got {}\n", k.file, k.section, k.name,
                        k.expect_match ? "" : "not ", k.rule, k.level, k.decoder, got);
      }
    }
  }
  return r;
}

}  // namespace ward::agent::loginspect
