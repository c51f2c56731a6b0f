// What every ward-agent subcommand shares: the common options, exit codes and error reporting.
// Each area adds its own subcommands through a function of the form
//   void AddXxxCommands(CLI::App& app, CommonOptions& opt, int& rc);
// declared in its own cli.h and called from agent/main.cc, so areas never edit each other's code.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "agent/core/policy.h"
#include "common/status.h"

namespace ward::agent {

constexpr int kExitOk = 0;
constexpr int kExitChanges = 1;  // changes found, infected files found, ...
constexpr int kExitError = 2;

struct CommonOptions {
  std::string config;
  std::string state_dir = "/var/lib/ward";
  std::string log_level = "info";
};

// --config, --state-dir and --log-level on a subcommand.
void AddCommon(CLI::App* app, CommonOptions& opt, bool config_required);

// Prints "ward-agent: <status>" on stderr and returns kExitError.
int Fail(const Status& s);

// Creates the state directory (0700) when missing.
Status PrepareStateDir(const std::string& dir);

// The policy file, validated against every module's schema (agent/modules/schemas.h).
Result<Policy> LoadPolicy(const std::string& file);

// host.name in events: the policy's agent.name, else gethostname().
std::string HostName(const Policy& policy);

}  // namespace ward::agent
