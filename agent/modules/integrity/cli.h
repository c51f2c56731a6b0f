// ward-agent subcommands of the integrity module:
//   integrity baseline --config FILE   record the baseline of every watched path
//   integrity check --config FILE      compare now with the baseline (exit 0 / 1 changes / 2)
//   integrity accept --config FILE [PATH]...   take the current state into the baseline
// `integrity watch` (the module alone in the foreground) is added by agent/main.cc, which owns
// the daemon loop, to the `integrity` subcommand created here.
#pragma once

#include <CLI/CLI.hpp>

#include "agent/cli/common.h"

namespace ward::agent {

void AddIntegrityCommands(CLI::App& app, CommonOptions& opt, int& rc);

}  // namespace ward::agent
