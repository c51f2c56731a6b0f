#include "agent/modules/ips/cli.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>

#include "agent/core/policy.h"
#include "agent/modules/ips/config.h"
#include "agent/modules/ips/ips_engine.h"
#include "agent/modules/ips/tuning_report.h"
#include "agent/modules/ips/waf.h"
#include "agent/net/pcap_source.h"
#include "common/clock.h"
#include "common/config_node.h"
#include "common/log.h"

namespace ward::agent {
namespace {

struct ReplayOptions {
  std::string file;
  bool json = false;
  std::vector<int> ports;
};

Result<ips::IpsConfig> LoadIpsConfig(const std::string& config_file) {
  if (config_file.empty()) return ips::IpsConfig{};
  WARD_ASSIGN_OR_RETURN(ConfigNode root, ConfigNode::FromYamlFile(config_file));
  const ConfigNode* section = root.IsMap() ? root.Find("ips") : nullptr;
  if (section == nullptr) {
    return InvalidArgument(fmt::format("{}: no `ips` section", config_file));
  }
  return ips::ParseIpsConfig(*section);
}

int Replay(const CommonOptions& opt, const ReplayOptions& r) {
  InitLogging(opt.log_level);
  auto config = LoadIpsConfig(opt.config);
  if (!config) return Fail(config.error());
  if (!r.ports.empty()) {
    config->ports.clear();
    for (int p : r.ports) {
      if (p < 1 || p > 65535)
        return Fail(InvalidArgument(fmt::format("--port {}: out of range", p)));
      config->ports.push_back(static_cast<uint16_t>(p));
    }
  }
  std::shared_ptr<ips::WafLog> log;
  if (!config->log_file.empty()) {
    auto l = ips::WafLog::Open(config->log_file);
    if (!l) return Fail(l.error());
    log = std::move(*l);
  }
  auto resolved = ips::ResolveManaged(*config, opt.state_dir);
  if (!resolved) return Fail(resolved.error());
  auto rules = ips::WafRules::Load(*resolved, log);
  if (!rules) return Fail(rules.error());
  auto src = net::PcapSource::OpenFile(r.file);
  if (!src) return Fail(src.error());
  uint64_t events = 0;
  ips::IpsEngine engine(*rules, SystemClock(), [&](Event e) {
    ++events;
    if (r.json) {
      std::printf("%s\n", e.ToJson().c_str());
      return;
    }
    std::string ids;
    for (const auto& id : e.Get("rule.id")) ids += (ids.empty() ? "" : ",") + id.get<std::string>();
    std::printf("%s %s:%lld -> %s:%lld %s %s  score %lld  rules %s\n",
                e.GetString("event.action").c_str(), e.GetString("source.ip").c_str(),
                static_cast<long long>(e.Get("source.port").get<int64_t>()),
                e.GetString("destination.ip").c_str(),
                static_cast<long long>(e.Get("destination.port").get<int64_t>()),
                e.GetString("http.request.method").c_str(), e.GetString("url.original").c_str(),
                static_cast<long long>(e.Get("ips.anomaly_score").get<int64_t>()), ids.c_str());
  });
  for (;;) {
    std::string_view pkt;
    int64_t ts = 0;
    auto next = (*src)->Read(&pkt, &ts);
    if (!next) {
      engine.CloseAll();
      std::fflush(stdout);
      return Fail(next.error());
    }
    if (*next != net::PcapSource::Next::kPacket) break;
    engine.OnPacket(pkt, ts);
    engine.Expire(ts);
  }
  engine.CloseAll();
  std::fflush(stdout);
  const auto& st = engine.stats();
  std::fprintf(
      stderr,
      "ward-agent: ips replay: %llu packet(s), %llu flow(s), %llu transaction(s), "
      "%llu event(s)\n",
      static_cast<unsigned long long>(st.packets), static_cast<unsigned long long>(st.flows),
      static_cast<unsigned long long>(st.transactions), static_cast<unsigned long long>(events));
  return events > 0 ? kExitChanges : kExitOk;
}

struct TuningOptions {
  std::string since = "7d";
  std::string events;
  bool json = false;
};

int Tuning(const CommonOptions& opt, const TuningOptions& t) {
  auto since = ParseDuration(t.since);
  if (!since) return Fail(InvalidArgument(fmt::format("--since: {}", since.error().message())));
  std::string file = t.events.empty() ? opt.state_dir + "/events.jsonl" : t.events;
  std::ifstream in(file);
  if (!in) return Fail(NotFound(fmt::format("{}: cannot read", file)));
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  int64_t since_ms = since->count() > 0 ? now - since->count() : 0;
  ips::TuningReport report = ips::BuildTuningReport(in, since_ms);
  if (t.json) {
    std::printf("%s\n", ips::TuningReportJson(report).dump(2).c_str());
  } else {
    std::printf("%s", ips::FormatTuningReport(report).c_str());
  }
  return kExitOk;
}

}  // namespace

void AddIpsCommands(CLI::App& app, CommonOptions& opt, int& rc) {
  auto* ips = app.add_subcommand("ips", "intrusion prevention (WAF) commands");
  ips->require_subcommand(1);

  auto replay_opts = std::make_shared<ReplayOptions>();
  auto* replay = ips->add_subcommand(
      "replay", "run the ips engine over a capture file (pcap) and print its events");
  replay->add_option("file", replay_opts->file, "capture file (pcap or pcapng)")->required();
  AddCommon(replay, opt, false);
  replay->add_flag("--json", replay_opts->json, "events as JSON lines");
  replay->add_option("--port", replay_opts->ports, "HTTP server port(s) (default: the policy's)");
  replay->callback([&opt, &rc, replay_opts] { rc = Replay(opt, *replay_opts); });

  auto tuning_opts = std::make_shared<TuningOptions>();
  auto* tuning = ips->add_subcommand(
      "tuning-report", "per rule: hits, paths, parameters, proposed exclusions, verdict");
  AddCommon(tuning, opt, false);
  tuning->add_option("--since", tuning_opts->since, "only events this recent (7d, 12h, 0 = all)")
      ->capture_default_str();
  tuning->add_option("--events", tuning_opts->events,
                     "events file (default: <state-dir>/events.jsonl)");
  tuning->add_flag("--json", tuning_opts->json, "the report as JSON");
  tuning->callback([&opt, &rc, tuning_opts] { rc = Tuning(opt, *tuning_opts); });
}

}  // namespace ward::agent
