#include "agent/transport/managed.h"

#include <fmt/format.h>

#include "agent/core/health.h"
#include "agent/modules/antimalware/engine.h"
#include "agent/modules/egress/reputation.h"
#include "agent/modules/integrity/engine.h"
#include "agent/modules/schemas.h"
#include "agent/transport/activation.h"
#include "agent/version.h"
#include "common/file_system.h"
#include "common/json_schema.h"
#include "common/log.h"

namespace ward::agent::transport {
namespace {

Result<Policy> ToPolicy(const ManagedPolicy& p, std::span<const ModuleSpec> specs) {
  WARD_ASSIGN_OR_RETURN(auto root,
                        ConfigNode::FromJson(p.document, fmt::format("policy v{}", p.version)));
  return Policy::FromNode(std::move(root), specs);
}

}  // namespace

Result<std::unique_ptr<ManagedAgent>> ManagedAgent::Open(const std::filesystem::path& state_dir,
                                                         const ManagerSettings* bootstrap,
                                                         std::span<const ModuleSpec> specs,
                                                         std::span<const CommandHandler> handlers,
                                                         const Clock& clock) {
  std::unique_ptr<ManagedAgent> m(new ManagedAgent());
  m->state_dir_ = state_dir;
  m->specs_.assign(specs.begin(), specs.end());
  m->commands_ = CommandTable(specs, handlers);
  m->clock_ = &clock;
  if (bootstrap != nullptr) m->token_ = bootstrap->token;
  WARD_RETURN_IF_ERROR(PrepareTransportDir(state_dir));

  auto id = LoadIdentity(state_dir);
  if (!id && id.error().code() == StatusCode::kNotFound && bootstrap != nullptr) {
    spdlog::info("not activated yet: activating with {} (agent.manager)", bootstrap->url);
    ActivationOptions ao{
        bootstrap->url, bootstrap->token, bootstrap->proxy, bootstrap->fingerprint, "", state_dir};
    WARD_ASSIGN_OR_RETURN(auto a, Activate(ao));
    id = a.identity;
  }
  if (!id) return id.error();
  m->identity_ = *id;
  if (std::string now = MachineId(); now != m->identity_.machine_id) {
    spdlog::warn(
        "machine id changed ({} -> {}): this state dir was copied from another host; "
        "re-activating as a new agent",
        m->identity_.machine_id, now);
    ActivationOptions ao{m->identity_.manager_url, m->token_,
                         m->identity_.proxy,       m->identity_.fingerprint,
                         m->identity_.credential,  state_dir};
    auto a = Activate(ao);
    if (a) {
      m->identity_ = a->identity;
    } else {
      spdlog::error("re-activation failed (retried on the manager's 409): {}",
                    a.error().ToString());
    }
  }

  auto cached = LoadCachedPolicy(state_dir);
  // A policy that uses update bundles this agent does not hold yet (managed:<kind>, just
  // activated) waits: no module starts from it, and the first heartbeat, reporting no policy,
  // gets it again with the bundles offered; they are installed before it is applied.
  std::string missing;
  if (cached) {
    updates::Installer installer(state_dir);
    for (const auto& kind : updates::WantedKinds(cached->document)) {
      if (installer.Current(kind) == 0) missing += (missing.empty() ? "" : ", ") + kind;
    }
  }
  if (cached && !missing.empty()) {
    spdlog::warn("policy v{} waits for the update bundles it uses ({}) from the manager",
                 cached->version, missing);
  } else if (cached) {
    auto p = ToPolicy(*cached, specs);
    if (p) {
      m->policy_ = std::move(*p);
      m->policy_version_ = cached->version;
      m->policy_id_ = cached->id;
      m->policy_doc_ = cached->document;
    } else {
      spdlog::error("cached policy v{} is not valid here; starting without one: {}",
                    cached->version, p.error().ToString());
    }
  } else if (cached.error().code() != StatusCode::kNotFound) {
    spdlog::error("cached policy: {}", cached.error().ToString());
  } else {
    spdlog::warn("no policy from the manager yet: no module runs until one arrives");
  }
  WARD_ASSIGN_OR_RETURN(m->spool_, Spool::Open((TransportDir(state_dir) / "spool.db").string(),
                                               m->policy_.agent().spool_max_size, clock));
  return m;
}

ManagedAgent::~ManagedAgent() { Stop(); }

std::unique_ptr<Output> ManagedAgent::MakeSpoolOutput() {
  auto out = std::make_unique<SpoolOutput>(
      *spool_,
      [this] {
        if (Channel* c = wake_.load()) c->Wake();
      },
      [this] {
        // Events lost or held back by a refusing disk: tell the manager now, not in a minute.
        if (Channel* c = wake_.load()) c->HeartbeatSoon();
      });
  spool_output_ = out.get();
  return out;
}

void ManagedAgent::CloseSpoolOutput() {
  if (spool_output_ != nullptr) spool_output_->Close();
  spool_output_ = nullptr;
}

void ManagedAgent::Start(ModuleHost& host, EventSink& events) {
  {
    std::lock_guard lock(host_mu_);
    host_ = &host;
    events_ = &events;
  }
  ChannelHooks hooks;
  hooks.status = [this] { return StatusDoc(); };
  hooks.apply_policy = [this](const ManagedPolicy& p) { return ApplyPolicy(p, false); };
  hooks.run_command = [this](const Command& c) { return RunCommand(c); };
  updates_ = std::make_unique<updates::UpdateSync>(
      state_dir_, events, *clock_,
      [](std::string_view kind, const std::filesystem::path& file) {
        // libclamav's own verification of CVD/CLD files, libyara's compiler for rules.
        // Egress feeds: read strictly (a line the format cannot read refuses the bundle).
        if (kind == "feeds") return agent::egress::CheckFeedFile(file);
        return kind == "clamav" || kind == "yara" ? antimalware::VerifyDatabaseFile(file)
                                                  : Status::Ok();
      },
      [this](std::string_view kind) { return ReloadKind(kind); });
  updates::UpgradeOptions uo;
  uo.state_dir = state_dir_;
  uo.running_version = std::string(kVersion);
  upgrade_ = std::make_unique<updates::AgentUpgrade>(std::move(uo), events, *clock_);
  hooks.apply_updates = [this](const nlohmann::json& offer, const nlohmann::json& incoming,
                               const updates::PostFn& post) {
    ApplyUpdates(offer, incoming, post);
  };
  ChannelOptions co;
  co.state_dir = state_dir_;
  co.token = token_;
  channel_ = std::make_unique<Channel>(identity_, co, *spool_, events, *clock_, std::move(hooks));
  channel_->set_policy_version(policy_version_);
  channel_->set_policy_id(policy_id_);
  channel_->Start();
  wake_ = channel_.get();
}

void ManagedAgent::Stop() {
  wake_ = nullptr;
  if (channel_) channel_->Stop();
}

Status ManagedAgent::ApplyPolicy(const ManagedPolicy& p, bool from_cache) {
  auto next = ToPolicy(p, specs_);
  ward::Status applied = next.status();
  std::lock_guard lock(host_mu_);
  if (applied.ok() && host_ != nullptr) applied = host_->Apply(*next);
  if (applied.ok()) {
    policy_ = std::move(*next);
    policy_version_ = p.version;
    policy_id_ = p.id;
    policy_doc_ = p.document;
    spool_->set_max_bytes(policy_.agent().spool_max_size);
  }
  Event e =
      Event::Make(*clock_, "ward", "change", applied.ok() ? "policy_applied" : "policy_rejected",
                  applied.ok() ? Severity::kInfo : Severity::kHigh);
  e.Set("ward.policy.version", p.version);
  e.Set("ward.policy.id", p.id);
  e.Set("ward.policy.source", from_cache ? "cache" : "manager");
  if (!applied.ok()) {
    e.Set("error.message", applied.ToString());
    spdlog::error("policy v{} not applied (v{} stays in force): {}", p.version, policy_version_,
                  applied.ToString());
  } else {
    spdlog::info("policy v{} applied", p.version);
  }
  if (events_ != nullptr) events_->Emit(std::move(e));
  return applied;
}

void ManagedAgent::ApplyUpdates(const nlohmann::json& offer, const nlohmann::json& incoming,
                                const updates::PostFn& post) {
  auto parsed = updates::ParseOffer(offer);
  if (!parsed) {
    spdlog::warn("heartbeat reply: {}", parsed.error().ToString());
    return;
  }
  if (auto p = offer.find("agent_package"); p != offer.end() && upgrade_ != nullptr) {
    auto upgrade = updates::ParseUpgradeOffer(*p);
    if (upgrade) {
      upgrade_->Apply(*upgrade, parsed->key, post);
    } else {
      spdlog::warn("heartbeat reply: {}", upgrade.error().ToString());
    }
  }
  std::set<std::string> wanted = updates::WantedKinds(incoming);
  {
    std::lock_guard lock(host_mu_);
    for (const auto& k : updates::WantedKinds(policy_doc_)) wanted.insert(k);
  }
  if (wanted.empty() || updates_ == nullptr) return;
  updates_->Apply(*parsed, wanted, post);
}

Status ManagedAgent::ReloadKind(std::string_view kind) {
  std::lock_guard lock(host_mu_);
  if (host_ == nullptr) return Status::Ok();
  std::vector<std::string> errors;
  for (const auto& name : host_->Running()) {
    if (!policy_doc_.is_object() || !policy_doc_.contains(name)) continue;
    if (!updates::WantedKinds(policy_doc_[name]).contains(std::string(kind))) continue;
    Module* m = host_->Find(name);
    const PolicySection* section = policy_.Section(name);
    if (m == nullptr || section == nullptr) continue;
    // A module that cannot load the new files keeps what it runs (Module::Configure's contract).
    if (Status s = m->Configure(*section, policy_.root()); !s.ok()) {
      errors.push_back(s.WithContext(name).ToString());
    }
  }
  if (errors.empty()) return Status::Ok();
  std::string all;
  for (const auto& e : errors) all += (all.empty() ? "" : "; ") + e;
  return FailedPrecondition(all);
}

Status ManagedAgent::Reload() {
  auto cached = LoadCachedPolicy(state_dir_);
  if (!cached) return cached.error();
  return ApplyPolicy(*cached, true);
}

nlohmann::json ManagedAgent::StatusDoc() const {
  nlohmann::json modules = nlohmann::json::array();
  std::lock_guard lock(host_mu_);
  if (host_ != nullptr) {
    for (const auto& name : host_->Running()) {
      nlohmann::json m = {{"name", name}, {"state", "running"}};
      // The module's own report (agent/core/health.h), when it gives one.
      if (const auto* r = dynamic_cast<const HealthReporter*>(host_->Find(name))) {
        m["health"] = r->Health().ToJson();
      }
      modules.push_back(std::move(m));
    }
  }
  for (const auto& spec : specs_) {
    bool running = false;
    for (const auto& m : modules) running |= m["name"] == spec.name;
    if (!running && policy_.Section(spec.name) != nullptr) {
      modules.push_back({{"name", std::string(spec.name)},
                         {"state", policy_.Enabled(spec) ? "failed" : "disabled"}});
    }
  }
  nlohmann::json s = {{"modules", modules}};
  if (!policy_.agent().name.empty()) s["hostname"] = policy_.agent().name;
  // The integrity baseline's anchor (docs/integrity.md): its digest, MAC'd with the agent key,
  // is kept with the manager (issue #13), and an open incident (a baseline lost or unreadable)
  // shows the integrity module degraded.
  if (auto anchor = RealFileSystem().ReadFile(
          integrity::IntegrityEngine::AnchorPath(state_dir_).string(), 64 << 10)) {
    nlohmann::json doc = nlohmann::json::parse(*anchor, nullptr, false);
    if (doc.is_object() && doc.contains("anchor") && doc["anchor"].is_object()) {
      nlohmann::json b = doc["anchor"];
      b["mac"] = doc.value("mac", std::string());
      std::string incident = b.value("incident", std::string());
      for (auto& m : s["modules"]) {
        if (m["name"] == "integrity" && !incident.empty()) {
          // The module's own report says so while it runs; this also covers a module that is
          // not running (e.g. still retrying its start-up).
          if (!m.contains("health") || !m["health"].is_object()) {
            m["health"] = {{"state", "degraded"},
                           {"reasons", nlohmann::json::array()},
                           {"counters", nlohmann::json::object()}};
          }
          auto& h = m["health"];
          if (h.value("state", std::string()) == "ok") h["state"] = "degraded";
          bool known = false;
          for (const auto& r : h["reasons"]) known |= r == incident;
          if (!known) h["reasons"].push_back(incident);
        }
      }
      s["integrity_baseline"] = std::move(b);
    }
  }
  if (updates_ != nullptr) s["updates"] = updates_->StatusJson();
  if (upgrade_ != nullptr) {
    if (auto u = upgrade_->StatusJson(); !u.empty()) s["upgrade"] = std::move(u);
  }
  return s;
}

std::vector<ManagedAgent::CommandRoute> ManagedAgent::CommandTable(
    std::span<const ModuleSpec> specs, std::span<const CommandHandler> handlers) {
  struct Own {
    std::string_view name;
    Result<nlohmann::json> (ManagedAgent::*run)(const nlohmann::json& args);
  };
  static constexpr Own kOwn[] = {{"policy.reload", &ManagedAgent::ReloadCommand}};
  std::vector<CommandRoute> table;
  for (const CommandSpec& c : AgentCommands()) {
    for (const Own& o : kOwn) {
      if (o.name == c.name) table.push_back({&c, "", nullptr, o.run});
    }
  }
  for (const ModuleSpec& m : specs) {
    for (const CommandSpec& c : m.commands) {
      for (const CommandHandler& h : handlers) {
        if (h.name == c.name) table.push_back({&c, m.name, h.run, nullptr});
      }
    }
  }
  return table;
}

Result<nlohmann::json> ManagedAgent::ReloadCommand(const nlohmann::json& /*args*/) {
  WARD_RETURN_IF_ERROR(Reload());
  std::lock_guard lock(host_mu_);
  return nlohmann::json{{"policy_version", policy_version_}};
}

Result<nlohmann::json> ManagedAgent::RunModuleCommand(const CommandRoute& route,
                                                      const nlohmann::json& args) {
  // Held while the handler runs: the module it may use is not stopped meanwhile.
  std::lock_guard lock(host_mu_);
  if (events_ == nullptr) return FailedPrecondition("the agent is not running");
  Module* module = host_ != nullptr ? host_->Find(route.module) : nullptr;
  CommandContext ctx{policy_, module, *events_, RealFileSystem(), *clock_, state_dir_};
  return route.run(ctx, args);
}

nlohmann::json ManagedAgent::RunCommand(const Command& cmd) {
  spdlog::info("command {} ({}) from the manager", cmd.name, cmd.id);
  auto answer = [](std::string_view status, std::string_view msg) {
    return nlohmann::json{{"status", status}, {"output", {{"error", msg}}}};
  };
  const CommandRoute* route = nullptr;
  for (const auto& r : commands_) {
    if (r.spec->name == cmd.name) route = &r;
  }
  if (route == nullptr) {
    return answer("unsupported",
                  fmt::format("command {} is not supported by this agent", cmd.name));
  }
  nlohmann::json args = cmd.args.is_object() ? cmd.args : nlohmann::json::object();
  auto schema = nlohmann::json::parse(route->spec->args_schema, nullptr, false);
  if (auto e = ValidateJson(schema, args, "args")) return answer("error", e->message);
  Result<nlohmann::json> out =
      route->own != nullptr ? (this->*(route->own))(args) : RunModuleCommand(*route, args);
  if (!out) {
    spdlog::warn("command {} ({}) failed: {}", cmd.name, cmd.id, out.error().ToString());
    return answer("error", out.error().ToString());
  }
  return {{"status", "ok"}, {"output", std::move(*out)}};
}

}  // namespace ward::agent::transport
