// ward-agent subcommands of the autoheal module:
//   autoheal status --config FILE [--json]   each root: commit, lock state, files restored
#pragma once

#include <CLI/CLI.hpp>

#include "agent/cli/common.h"

namespace ward::agent {

void AddAutohealCommands(CLI::App& app, CommonOptions& opt, int& rc);

}  // namespace ward::agent
