// `ward-agent ips ...`: replay a capture through the engine, and the tuning report.
#pragma once

#include <CLI/CLI.hpp>

#include "agent/cli/common.h"

namespace ward::agent {

void AddIpsCommands(CLI::App& app, CommonOptions& opt, int& rc);

}  // namespace ward::agent
