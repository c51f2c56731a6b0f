// ward-agent subcommands of the loginspect module:
//   logtest [--rules DIR]... [--decoders DIR]... [--lists DIR] [-U RULE:LEVEL:DECODER] [-q]
//     reads lines on stdin like wazuh-logtest and prints the three phases for each; with -U,
//     exits 0 when the last line matched the given rule id, level and decoder, 1 otherwise.
//     A --rules DIR holding rules/ and decoders/ (a Wazuh ruleset tree) loads both.
#pragma once

#include <CLI/CLI.hpp>

#include "agent/cli/common.h"

namespace ward::agent {

void AddLoginspectCommands(CLI::App& app, CommonOptions& opt, int& rc);

}  // namespace ward::agent
