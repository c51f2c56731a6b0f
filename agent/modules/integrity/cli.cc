#include "agent/modules/integrity/cli.h"

#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "agent/core/event_queue.h"
#include "agent/core/output.h"
#include "agent/modules/integrity/config.h"
#include "agent/modules/integrity/engine.h"
#include "common/clock.h"
#include "common/file_system.h"

namespace ward::agent {
namespace {

struct IntegrityCommand {
  std::unique_ptr<integrity::IntegrityEngine> engine;
  std::unique_ptr<DirectSink> sink;
};

Result<IntegrityCommand> OpenIntegrity(const CommonOptions& opt) {
  WARD_ASSIGN_OR_RETURN(Policy policy, LoadPolicy(opt.config));
  const ConfigNode* section = policy.Section("integrity");
  if (section == nullptr)
    return InvalidArgument(fmt::format("{}: no `integrity` section", opt.config));
  WARD_ASSIGN_OR_RETURN(auto config, integrity::ParseIntegrityConfig(*section));
  if (config.paths.empty()) {
    return InvalidArgument(fmt::format("{}: integrity.paths is empty", opt.config));
  }
  WARD_RETURN_IF_ERROR(PrepareStateDir(opt.state_dir));
  IntegrityCommand cmd;
  WARD_ASSIGN_OR_RETURN(cmd.engine,
                        integrity::IntegrityEngine::Open(std::move(config), RealFileSystem(),
                                                         SystemClock(), opt.state_dir));
  cmd.sink = std::make_unique<DirectSink>(HostName(policy));
  cmd.sink->AddOutput(std::make_unique<JsonLinesOutput>());
  return cmd;
}

}  // namespace

void AddIntegrityCommands(CLI::App& app, CommonOptions& opt, int& rc) {
  auto* integ = app.add_subcommand("integrity", "integrity monitoring commands");
  integ->require_subcommand(1);

  auto* baseline = integ->add_subcommand("baseline", "record the baseline of every watched path");
  AddCommon(baseline, opt, true);
  baseline->callback([&opt, &rc] {
    auto cmd = OpenIntegrity(opt);
    if (!cmd) {
      rc = Fail(cmd.error());
      return;
    }
    auto stats = cmd->engine->RecordBaseline(*cmd->sink);
    if (!stats) {
      rc = Fail(stats.error());
      return;
    }
    std::fprintf(stderr, "baseline recorded: %zu entries, %.1f MB hashed, %zu warning(s)\n",
                 stats->records, static_cast<double>(stats->bytes_hashed) / 1e6, stats->warnings);
    rc = kExitOk;
  });

  auto* check = integ->add_subcommand("check",
                                      "compare now with the baseline (exit 0 no change, "
                                      "1 changes, 2 error)");
  AddCommon(check, opt, true);
  check->callback([&opt, &rc] {
    auto cmd = OpenIntegrity(opt);
    if (!cmd) {
      rc = Fail(cmd.error());
      return;
    }
    auto stats = cmd->engine->FullCheck(*cmd->sink, "check", /*update=*/false);
    if (!stats) {
      rc = Fail(stats.error());
      return;
    }
    std::fprintf(stderr, "checked %zu entries: %zu change(s)\n", stats->records, stats->changes);
    rc = stats->changes > 0 ? kExitChanges : kExitOk;
  });

  auto accept_paths = std::make_shared<std::vector<std::string>>();
  auto* accept = integ->add_subcommand(
      "accept", "take the current state of PATHs (all watched paths if none) into the baseline");
  AddCommon(accept, opt, true);
  accept->add_option("paths", *accept_paths, "paths under watched roots");
  accept->callback([&opt, &rc, accept_paths] {
    auto cmd = OpenIntegrity(opt);
    if (!cmd) {
      rc = Fail(cmd.error());
      return;
    }
    auto stats = cmd->engine->Accept(*accept_paths, *cmd->sink);
    if (!stats) {
      rc = Fail(stats.error());
      return;
    }
    rc = kExitOk;
  });
}

}  // namespace ward::agent
