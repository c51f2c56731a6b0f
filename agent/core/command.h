// Command handlers: the runtime side of the command tables (agent/core/module_schema.h). A
// module's schema declares the commands a manager may queue for it (name, summary, argument
// schema); its runtime provides one handler per command (<name>::Handlers(), gathered by
// agent/modules/builtin.cc BuiltinCommandHandlers), and the agent's dispatch
// (agent/transport/managed.cc) finds both by name, checks the arguments against the schema and
// runs the handler. agent/modules/builtin_test.cc checks that every declared command
// has a handler and every handler a declaration.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <string_view>

#include "common/clock.h"
#include "common/event_sink.h"
#include "common/file_system.h"
#include "common/status.h"

namespace ward::agent {

class Module;
class Policy;

// What a handler may use; valid for the duration of the call.
struct CommandContext {
  const Policy& policy;  // the policy in force
  Module* module;        // the running module the command belongs to, or nullptr
  EventSink& events;     // events go where the module's go (managed: the spool)
  FileSystem& fs;
  const Clock& clock;
  std::filesystem::path state_dir;
};

// Runs one command with arguments already checked against the command's schema; the result is
// the command's `output` (status ok), an error its `output.error` (status error). Runs on the
// agent's channel thread: the next heartbeat waits for it.
using CommandFn = Result<nlohmann::json> (*)(const CommandContext& ctx, const nlohmann::json& args);

struct CommandHandler {
  std::string_view name;  // as in the module's CommandSpec
  CommandFn run;
};

}  // namespace ward::agent
