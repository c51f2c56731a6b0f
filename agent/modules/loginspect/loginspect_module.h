// The `loginspect` module (docs/loginspect.md): tails the policy's log files and the journal,
// runs each record through the OSSEC/Wazuh-compatible engine (ruleset.h) and emits one event per
// alert. Configure() loads the ruleset (Ward's default set and the policy's directories) and
// refuses a policy whose XML does not load, naming file:line:column — the previous rules stay in
// force and an event says so. Run() reads the sources on one thread: inotify on the files'
// directories wakes it, a stat poll on ctx.clock (poll_interval) is the fallback; bookmarks
// (state_dir/loginspect.db) are written after each batch's events were handed to the sink.
#pragma once

#include <filesystem>
#include <memory>

#include "agent/core/module.h"
#include "agent/modules/loginspect/schema.h"
#include "common/event.h"

namespace ward::agent::loginspect {

std::unique_ptr<Module> Create(const ModuleContext& ctx);

// Where Ward's own decoders and rules are installed: <dir of the running binary>/../share/ward/
// loginspect (the build tree mirrors it), else the install prefix's share/ward/loginspect.
std::filesystem::path DefaultRulesetDir();

// event.severity for an OSSEC/Wazuh rule level: 0–3 info, 4–6 low, 7–9 medium, 10–12 high,
// 13–15 critical.
Severity SeverityOfLevel(int level);

}  // namespace ward::agent::loginspect
