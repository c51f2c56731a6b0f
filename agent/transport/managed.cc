#include "agent/transport/managed.h"

#include <fmt/format.h>

#include "agent/modules/integrity/config.h"
#include "agent/modules/integrity/engine.h"
#include "agent/transport/activation.h"
#include "common/file_system.h"
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
                                                         const Clock& clock) {
  std::unique_ptr<ManagedAgent> m(new ManagedAgent());
  m->state_dir_ = state_dir;
  m->specs_.assign(specs.begin(), specs.end());
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
  if (cached) {
    auto p = ToPolicy(*cached, specs);
    if (p) {
      m->policy_ = std::move(*p);
      m->policy_version_ = cached->version;
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
  ChannelOptions co;
  co.state_dir = state_dir_;
  co.token = token_;
  channel_ = std::make_unique<Channel>(identity_, co, *spool_, events, *clock_, std::move(hooks));
  channel_->set_policy_version(policy_version_);
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
      modules.push_back({{"name", name}, {"state", "running"}});
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
          m["health"] = "degraded";
          m["reason"] = incident;
        }
      }
      s["integrity_baseline"] = std::move(b);
    }
  }
  return s;
}

nlohmann::json ManagedAgent::RunCommand(const Command& cmd) {
  spdlog::info("command {} ({}) from the manager", cmd.name, cmd.id);
  auto error = [](std::string_view msg) {
    return nlohmann::json{{"status", "error"}, {"output", {{"error", msg}}}};
  };
  if (cmd.name == "policy.reload") {
    ward::Status s = Reload();
    return s.ok()
               ? nlohmann::json{{"status", "ok"}, {"output", {{"policy_version", policy_version_}}}}
               : error(s.ToString());
  }
  if (cmd.name == "integrity.check") {
    Policy policy;
    {
      std::lock_guard lock(host_mu_);
      policy = policy_;
    }
    const ConfigNode* section = policy.Section("integrity");
    if (section == nullptr) return error("the policy has no integrity section");
    auto config = integrity::ParseIntegrityConfig(*section);
    if (!config) return error(config.error().ToString());
    auto engine =
        integrity::IntegrityEngine::Open(std::move(*config), RealFileSystem(), *clock_, state_dir_);
    if (!engine) return error(engine.error().ToString());
    auto stats = (*engine)->FullCheck(*events_, "command", /*update=*/false);
    if (!stats) return error(stats.error().ToString());
    return {{"status", "ok"},
            {"output",
             {{"records", stats->records},
              {"changes", stats->changes},
              {"warnings", stats->warnings}}}};
  }
  return {
      {"status", "unsupported"},
      {"output", {{"error", fmt::format("command {} is not supported by this agent", cmd.name)}}}};
}

}  // namespace ward::agent::transport
