#include "agent/modules/loginspect/cli.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "agent/modules/loginspect/loginspect_module.h"
#include "agent/modules/loginspect/ruleset.h"

namespace ward::agent {
namespace {

struct LogtestOptions {
  std::vector<std::string> rules;
  std::vector<std::string> decoders;
  std::string lists;
  std::string geoip_db;
  std::string unit;
  std::string compat = "wazuh";
  bool quiet = false;
};

int Logtest(const LogtestOptions& o) {
  loginspect::RulesetConfig config;
  std::vector<std::string> trees = o.rules;
  // Nothing named: Ward's default ruleset, as the module loads it.
  if (trees.empty() && o.decoders.empty())
    trees.push_back(loginspect::DefaultRulesetDir().string());
  for (const auto& d : trees) {
    std::filesystem::path p(d);
    std::error_code ec;
    if (std::filesystem::is_directory(p / "rules", ec)) {
      config.decoder_dirs.push_back(p / "decoders");
      config.rule_dirs.push_back(p / "rules");
      if (config.lists_dir.empty()) config.lists_dir = p / "lists";
    } else {
      config.rule_dirs.push_back(p);
    }
  }
  for (const auto& d : o.decoders) config.decoder_dirs.push_back(d);
  if (!o.lists.empty()) config.lists_dir = o.lists;
  config.geoip_db = o.geoip_db;
  auto loaded = loginspect::Ruleset::Load(config);
  if (!loaded) return Fail(loaded.error());
  std::string want_rule;
  std::string want_level;
  std::string want_decoder;
  if (!o.unit.empty()) {
    size_t a = o.unit.find(':');
    size_t b = a == std::string::npos ? a : o.unit.find(':', a + 1);
    if (b == std::string::npos) return Fail(InvalidArgument("-U takes RULE:LEVEL:DECODER"));
    want_rule = o.unit.substr(0, a);
    want_level = o.unit.substr(a + 1, b - a - 1);
    want_decoder = o.unit.substr(b + 1);
  }
  loginspect::Compat compat = loginspect::Compat::kWazuh;
  if (!loginspect::ParseCompat(o.compat, &compat))
    return Fail(InvalidArgument("--compat takes wazuh or ossec"));
  loginspect::Session session(*loaded, compat);
  loginspect::Verdict last;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    last = session.Process(line, "stdin", now);
    if (!o.quiet) std::printf("%s\n", loginspect::FormatLogtest(last).c_str());
  }
  if (o.unit.empty()) return 0;
  std::string r = last.rule ? std::to_string(last.rule->id) : "";
  std::string lv = last.rule ? std::to_string(last.rule->level) : "";
  std::string d = last.event && last.event->decoder ? last.event->decoder->display_name : "";
  if (r != want_rule || lv != want_level || d != want_decoder) return 1;
  // Like wazuh-logtest (and what runtests.py relies on): equal, the exit code counts the
  // empty fields.
  return (want_rule.empty() ? 1 : 0) + (want_level.empty() ? 1 : 0) +
         (want_decoder.empty() ? 1 : 0);
}

}  // namespace

void AddLoginspectCommands(CLI::App& app, CommonOptions& /*opt*/, int& rc) {
  auto o = std::make_shared<LogtestOptions>();
  auto* cmd = app.add_subcommand("logtest", "Run log lines from stdin through OSSEC/Wazuh rules");
  cmd->add_option("--rules", o->rules,
                  "Rules directory (or a ruleset tree with rules/, decoders/); default: Ward's "
                  "default ruleset");
  cmd->add_option("--decoders", o->decoders, "Decoders directory");
  cmd->add_option("--lists", o->lists, "CDB lists directory (etc/lists/...)");
  cmd->add_option("--geoip-db", o->geoip_db,
                  "MaxMind City database (.mmdb) for srcgeoip/dstgeoip (Wazuh's <geoipdb>)");
  cmd->add_option("-U", o->unit, "RULE:LEVEL:DECODER expected for the last line");
  cmd->add_flag("-q", o->quiet, "Print nothing");
  cmd->add_option("--compat", o->compat,
                  "Correlation semantics: wazuh (default) or ossec (OSSEC 4.x's frequency rules)");
  cmd->callback([o, &rc] { rc = Logtest(*o); });
}

}  // namespace ward::agent
