// ward-agent: the agent daemon and its local command line. A thin front-end: all logic lives in
// the libraries under agent/.
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agent/cli/common.h"
#include "agent/core/change_ledger.h"
#include "agent/core/event_queue.h"
#include "agent/core/module_host.h"
#include "agent/core/policy.h"
#include "agent/modules/antimalware/cli.h"
#include "agent/modules/autoheal/cli.h"
#include "agent/modules/builtin.h"
#include "agent/modules/egress/egress_module.h"
#include "agent/modules/firewall/firewall_module.h"
#include "agent/modules/integrity/cli.h"
#include "agent/modules/ips/cli.h"
#include "agent/modules/loginspect/cli.h"
#include "agent/net/chain_manager.h"
#include "agent/transport/cli.h"
#include "agent/transport/debug_emit.h"
#include "agent/transport/managed.h"
#include "agent/version.h"
#include "common/log.h"
#include "common/service_notify.h"
#include "common/steps.h"

namespace ward::agent {
namespace {

// Test tool (agent/transport/debug_emit.h): synthetic events for the transport's benchmarks.
struct DebugEmit {
  uint64_t count = 0;
  double rate = 0;
};

sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// Waits for SIGINT/SIGTERM and returns it; every SIGHUP in between calls on_hup. With a tick
// interval (the watchdog's), on_tick runs at least that often: the main loop's health check.
int WaitForStopSignal(const sigset_t& set, const std::function<void()>& on_hup,
                      std::optional<std::chrono::milliseconds> tick = std::nullopt,
                      const std::function<void()>& on_tick = {}) {
  auto next_tick = std::chrono::steady_clock::now();
  for (;;) {
    int sig = 0;
    if (tick) {
      auto now = std::chrono::steady_clock::now();
      if (now >= next_tick) {
        on_tick();
        next_tick = now + *tick;
      }
      auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(next_tick - now);
      timespec ts{.tv_sec = static_cast<time_t>(left.count() / 1000000000),
                  .tv_nsec = static_cast<long>(left.count() % 1000000000)};
      sig = sigtimedwait(&set, nullptr, &ts);
      if (sig < 0) continue;  // EAGAIN: time to tick; EINTR: again
    } else if (sigwait(&set, &sig) != 0) {
      continue;
    }
    if (sig == SIGHUP) {
      on_hup();
      continue;
    }
    return sig;
  }
}

// `run` and `integrity watch`: modules in the foreground until SIGINT/SIGTERM.
// Managed (docs/transport.md) without --config, or when the config has `agent.manager`: the
// policy comes from the manager and events go through the spool to it.
int RunAgent(const CommonOptions& opt, std::vector<std::string_view> only_modules, bool file_output,
             DebugEmit debug_emit = {}) {
  sigset_t signals = BlockStopSignals();
  Policy policy;
  std::unique_ptr<EventQueue> queue;
  std::unique_ptr<net::ChainManager> chains;  // outlives the modules using it
  std::unique_ptr<ModuleHost> host;
  std::unique_ptr<transport::ManagedAgent> managed;
  std::vector<ModuleSpec> specs;
  ChangeLedger ledger;
  Status s = RunSteps({
      {"prepare state dir", [&] { return PrepareStateDir(opt.state_dir); }},
      {"load policy",
       [&] {
         if (!opt.config.empty()) {
           WARD_ASSIGN_OR_RETURN(policy, LoadPolicy(opt.config));
           if (!policy.agent().manager.present) return Status::Ok();
         }
         const ManagerSettings* bootstrap = opt.config.empty() ? nullptr : &policy.agent().manager;
         WARD_ASSIGN_OR_RETURN(
             managed, transport::ManagedAgent::Open(opt.state_dir, bootstrap, BuiltinModules(),
                                                    BuiltinCommandHandlers(), SystemClock()));
         policy = managed->policy();
         return Status::Ok();
       }},
      {"start outputs",
       [&] {
         queue = std::make_unique<EventQueue>(policy.agent().queue_capacity, HostName(policy),
                                              SystemClock());
         if (policy.agent().stdout_output) queue->AddOutput(std::make_unique<JsonLinesOutput>());
         if (policy.agent().file_output && file_output) {
           WARD_ASSIGN_OR_RETURN(
               auto f,
               RotatingFileOutput::Open(std::filesystem::path(opt.state_dir) / "events.jsonl",
                                        policy.agent().file_max_size, policy.agent().file_keep));
           queue->AddOutput(std::move(f));
         }
         if (managed) queue->AddOutput(managed->MakeSpoolOutput());
         queue->Start();
         return Status::Ok();
       }},
      {"start modules",
       [&] {
         for (const auto& spec : BuiltinModules()) {
           if (only_modules.empty() || std::find(only_modules.begin(), only_modules.end(),
                                                 spec.name) != only_modules.end()) {
             specs.push_back(spec);
           }
         }
         // Ward's iptables chains (docs/net.md). `integrity watch` touches no packet.
         if (only_modules.empty()) {
           auto opened = net::ChainManager::Open({.clean_up_at_open = false});
           if (opened) {
             chains = std::move(*opened);
           } else {
             spdlog::warn("net: Ward's iptables chains are not managed: {}",
                          opened.error().ToString());
           }
         }
         ModuleContext ctx{*queue,        RealFileSystem(), SystemClock(),
                           opt.state_dir, queue.get(),      &ledger};
         ctx.chains = chains.get();
         if (managed) {
           const auto& id = managed->identity();
           ctx.manager_url = id.proxy.empty() ? id.manager_url : id.proxy;
         }
         host = std::make_unique<ModuleHost>(ctx, specs);
         Status started = host->Start(policy);
         // What an agent that died left goes now (crash cleanup), also when no module will
         // install rules again. A module that does replaces them in its own install's
         // transaction (the IPS: as soon as its queues are open), whichever comes first.
         if (chains) {
           Status cleaned = chains->RemoveLeftovers();
           if (!cleaned.ok()) spdlog::error("net: {}", cleaned.ToString());
         }
         // The firewall's nftables table (docs/firewall.md), when no firewall runs to replace it.
         if (only_modules.empty()) {
           auto running = host->Running();
           if (std::find(running.begin(), running.end(), "firewall") == running.end()) {
             Status cleaned = firewall::RemoveLeftoverTable();
             if (!cleaned.ok()) spdlog::warn("firewall: {}", cleaned.ToString());
           }
           // Egress's table (docs/egress.md), likewise.
           if (std::find(running.begin(), running.end(), "egress") == running.end()) {
             Status cleaned = egress::RemoveLeftoverTable();
             if (!cleaned.ok()) spdlog::warn("egress: {}", cleaned.ToString());
           }
         }
         WARD_RETURN_IF_ERROR(started);
         if (host->Running().empty() && !managed) {
           return FailedPrecondition("the policy enables no module");
         }
         return Status::Ok();
       }},
      {"connect to the manager",
       [&] {
         if (managed) managed->Start(*host, *queue);
         return Status::Ok();
       }},
  });
  if (!s.ok()) {
    if (host) host->Stop();
    if (queue) queue->Stop();
    return Fail(s);
  }
  std::jthread emitter;
  if (debug_emit.count > 0) {
    emitter =
        transport::StartDebugEmitter(*queue, SystemClock(), debug_emit.count, debug_emit.rate);
  }
  // SIGHUP: read the policy file again and apply it without a restart; a policy that cannot be
  // applied leaves the one in force running (reported as agent.policy_rejected).
  auto reload = [&] {
    if (managed) {
      (void)managed->Reload();  // reported as ward.policy_applied / policy_rejected
      return;
    }
    auto next = LoadPolicy(opt.config);
    Status applied = next ? host->Apply(*next) : next.error();
    Event e = Event::Make(SystemClock(), "ward", "change",
                          applied.ok() ? "policy_applied" : "policy_rejected",
                          applied.ok() ? Severity::kInfo : Severity::kHigh);
    e.Set("file.path", opt.config);
    if (!applied.ok()) {
      e.Set("error.message", applied.ToString());
      spdlog::error("SIGHUP: policy not applied: {}", applied.ToString());
    } else {
      spdlog::info("SIGHUP: policy {} applied", opt.config);
    }
    queue->Emit(std::move(e));
  };
  // systemd (Type=notify, WatchdogSec=): ready now; the watchdog is pinged from this loop only
  // while the event queue's dispatch thread is not stuck (docs/packaging.md).
  NotifyReady(
      fmt::format("{} module(s) running{}", host->Running().size(), managed ? ", managed" : ""));
  StallDetector dispatch;
  WatchdogGate watchdog({{"event queue dispatch",
                          [&] { return dispatch.Healthy(queue->pending(), queue->delivered()); }}});
  int sig = WaitForStopSignal(signals, reload, WatchdogPingInterval(), [&] { watchdog.Tick(); });
  NotifyStopping();
  spdlog::info("signal {}: stopping", sig);
  emitter = {};
  if (managed) managed->Stop();  // first: no policy is applied to modules being stopped
  host->Stop();
  queue->Stop();  // the last events are in the spool, sent at the next start
  if (managed) managed->CloseSpoolOutput();  // what a full disk refused: written or counted
  if (queue->dropped() > 0) spdlog::warn("{} event(s) were dropped", queue->dropped());
  return kExitOk;
}

int Main(int argc, char** argv) {
  CLI::App app{"ward-agent: host-based security agent (integrity monitoring, ...)"};
  app.set_version_flag("--version", std::string(kVersion));
  app.require_subcommand(1);

  CommonOptions opt;
  int rc = kExitOk;

  auto* run = app.add_subcommand(
      "run", "run every module the policy enables, in the foreground (managed without --config)");
  AddCommon(run, opt, false);
  DebugEmit debug_emit;
  run->add_option("--debug-emit", debug_emit.count)->group("");
  run->add_option("--debug-emit-rate", debug_emit.rate)->group("");
  run->callback([&] { rc = RunAgent(opt, {}, true, debug_emit); });

  AddIntegrityCommands(app, opt, rc);
  // `integrity watch` is `run` with the integrity module alone: the daemon loop lives here.
  auto* watch = app.get_subcommand("integrity")
                    ->add_subcommand("watch", "report changes in real time until SIGINT/SIGTERM");
  AddCommon(watch, opt, true);
  watch->callback([&] { rc = RunAgent(opt, {"integrity"}, false); });

  AddAutohealCommands(app, opt, rc);
  AddAntimalwareCommands(app, opt, rc);
  AddIpsCommands(app, opt, rc);
  AddLoginspectCommands(app, opt, rc);
  AddTransportCommands(app, opt, rc);

  app.parse_complete_callback([&] {
    InitLogging(opt.log_level);
    // Paths in events and status files are absolute, whatever the working directory was.
    std::error_code ec;
    auto abs = std::filesystem::absolute(opt.state_dir, ec);
    if (!ec) opt.state_dir = abs.lexically_normal().string();
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExitError;
  }
  return rc;
}

}  // namespace
}  // namespace ward::agent

int main(int argc, char** argv) {
  try {
    return ward::agent::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ward-agent: fatal: %s\n", e.what());
    return 2;
  }
}
