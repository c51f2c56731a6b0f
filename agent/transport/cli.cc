#include "agent/transport/cli.h"

#include <cstdio>
#include <memory>

#include "agent/core/policy.h"
#include "agent/modules/schemas.h"
#include "agent/transport/activation.h"

namespace ward::agent {
namespace {

struct ActivateFlags {
  std::string manager;
  std::string token;
  std::string proxy;
  std::string fingerprint;
};

int RunActivate(const CommonOptions& opt, const ActivateFlags& f) {
  transport::ActivationOptions ao;
  if (!opt.config.empty()) {
    auto policy = Policy::LoadFile(opt.config, ModuleSchemas());
    if (!policy) return Fail(policy.error());
    const ManagerSettings& m = policy->agent().manager;
    if (!m.present) {
      return Fail(InvalidArgument(opt.config + ": no agent.manager section"));
    }
    ao.manager_url = m.url;
    ao.token = m.token;
    ao.proxy = m.proxy;
    ao.fingerprint = m.fingerprint;
  }
  // Flags win over the config file.
  if (!f.manager.empty()) ao.manager_url = f.manager;
  if (!f.token.empty()) ao.token = f.token;
  if (!f.proxy.empty()) ao.proxy = f.proxy;
  if (!f.fingerprint.empty()) ao.fingerprint = f.fingerprint;
  if (ao.manager_url.empty()) {
    return Fail(InvalidArgument("--manager URL is required (or agent.manager.url in --config)"));
  }
  if (Status s = PrepareStateDir(opt.state_dir); !s.ok()) return Fail(s);
  ao.state_dir = opt.state_dir;
  auto a = transport::Activate(ao);
  if (!a) return Fail(a.error());
  std::printf(
      "activated: agent %s\nmanager certificate SHA-256 %s%s\n", a->identity.agent_id.c_str(),
      a->identity.fingerprint.c_str(),
      a->trusted_on_first_use ? " (trusted on first use)" : " (matches the given fingerprint)");
  return kExitOk;
}

}  // namespace

void AddTransportCommands(CLI::App& app, CommonOptions& opt, int& rc) {
  auto flags = std::make_shared<ActivateFlags>();
  auto* act = app.add_subcommand(
      "activate", "activate this agent with a manager (then `ward-agent run` runs managed)");
  AddCommon(act, opt, false);
  act->add_option("--manager", flags->manager, "manager URL, https://HOST:4119");
  act->add_option("--token", flags->token, "tenant activation token (wat_...)");
  act->add_option("--proxy", flags->proxy,
                  "HTTP CONNECT proxy, http://[user:pass@]HOST:PORT (default: $https_proxy)");
  act->add_option("--manager-fingerprint", flags->fingerprint,
                  "SHA-256 of the manager certificate (default: trust on first use)");
  act->callback([&opt, &rc, flags] { rc = RunActivate(opt, *flags); });
}

}  // namespace ward::agent
