// `ward-agent activate ...` (docs/transport.md).
#pragma once

#include <CLI/CLI.hpp>

#include "agent/cli/common.h"

namespace ward::agent {
void AddTransportCommands(CLI::App& app, CommonOptions& opt, int& rc);
}  // namespace ward::agent
