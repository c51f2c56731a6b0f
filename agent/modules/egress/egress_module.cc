#include "agent/modules/egress/egress_module.h"

#include <fmt/format.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "agent/core/health.h"
#include "agent/modules/egress/attribution.h"
#include "agent/modules/egress/config.h"
#include "agent/modules/egress/egress_engine.h"
#include "agent/modules/egress/kernel_rules.h"
#include "agent/modules/firewall/nflog.h"
#include "agent/modules/firewall/nft.h"
#include "agent/net/chain_manager.h"
#include "agent/net/nfqueue.h"
#include "agent/updates/layout.h"
#include "common/log.h"

namespace ward::agent::egress {
namespace {

using net::NfQueue;

// Settings that need the queue reopened and the iptables rules replaced; anything else (lists,
// mode of the CIDR table, security level) is applied to the running queue.
bool SameCapture(const EgressConfig& a, const EgressConfig& b) {
  return a.queue == b.queue && a.fail_open == b.fail_open && a.http_ports == b.http_ports &&
         a.tls_ports == b.tls_ports && a.dns == b.dns && a.log_group == b.log_group &&
         a.ebpf_attribution == b.ebpf_attribution;
}

// Events are limited to this many a second (a host hammering a blocked name must not flood the
// manager); the rest are counted, reported in the module's health.
constexpr int kEventsPerSecond = 50;

class EgressModule final : public Module, public HealthReporter {
 public:
  explicit EgressModule(const ModuleContext& ctx) : ctx_(ctx) {}

  std::string_view Name() const override { return "egress"; }

  ModuleHealth Health() const override {
    std::lock_guard lock(health_mu_);
    ModuleHealth h;
    h.counters = {{"mode", mode_},
                  {"names", names_},
                  {"packets", stats_.packets},
                  {"dns_answers", stats_.dns_answers},
                  {"flows_named", stats_.flows_named},
                  {"flows_unnamed", stats_.flows_unnamed},
                  {"blocked", stats_.blocked},
                  {"detected", stats_.detected},
                  {"malformed", stats_.malformed},
                  {"events_suppressed", suppressed_},
                  {"attribution", attribution_}};
    // The eBPF program and map ids while attached (`bpftool prog show id N`).
    if (!ebpf_programs_.empty()) {
      h.counters["ebpf_programs"] = ebpf_programs_;
      h.counters["ebpf_map"] = ebpf_map_;
    }
    if (!error_.empty()) h.Fail("egress failed: " + error_);
    if (suppressed_ > 0) h.Degrade("event rate limit reached: some matches were only counted");
    return h;
  }

  Status Configure(const PolicySection& section, const ConfigNode& /*document*/) override {
    WARD_ASSIGN_OR_RETURN(EgressConfig c, ParseEgressConfig(section));
    WARD_ASSIGN_OR_RETURN(auto rules,
                          LoadRules(c, ctx_.fs, updates::ManagedDir(ctx_.state_dir, "feeds")));
    for (const std::string& note : rules->feed_notes) spdlog::info("egress: list {}", note);
    spdlog::info("egress: {} names loaded ({} mode, security level {}, {} MB)",
                 rules->reputation.names(), ModeName(c.mode), static_cast<int>(c.security_level),
                 rules->reputation.MemoryBytes() >> 20);
    std::lock_guard lock(mu_);
    next_ = std::move(rules);
    cv_.notify_all();
    return Status::Ok();
  }

  void Run(std::stop_token stop) override {
    std::shared_ptr<const EgressRules> rules;
    {
      std::lock_guard lock(mu_);
      rules = std::move(next_);
    }
    while (rules && !stop.stop_requested()) {
      Status s = RunQueue(rules, stop);
      {
        std::lock_guard hl(health_mu_);
        error_ = s.ok() ? "" : s.ToString();
      }
      if (!s.ok()) {
        spdlog::error("egress: {}", s.ToString());
        Event e = Event::Make(ctx_.clock, "egress", "error", "capture_failed", Severity::kHigh);
        e.Set("error.message", s.ToString());
        ctx_.events.Emit(std::move(e));
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, std::chrono::seconds(5), [&] { return next_ != nullptr; });
      }
      std::lock_guard lock(mu_);
      if (next_) rules = std::move(next_);
    }
  }

 private:
  Status RunQueue(std::shared_ptr<const EgressRules> rules, std::stop_token stop) {
    const EgressConfig c = rules->config;
    {
      std::lock_guard hl(health_mu_);
      mode_ = std::string(ModeName(c.mode));
      names_ = rules->reputation.names();
    }
    WARD_ASSIGN_OR_RETURN(auto nft, firewall::Nftables::Open());
    WARD_RETURN_IF_ERROR(nft->Run(CidrTableText(*rules)).WithContext("egress: nftables"));
    // The process behind each flow: eBPF cgroup/connect4/6 (attached here, detached when this
    // run ends), else the socket-inode lookup.
    auto attributor = ProcessAttributor::Open(c.ebpf_attribution);
    {
      std::lock_guard hl(health_mu_);
      attribution_ = attributor->ebpf() ? "ebpf" : "socket";
      if (const ConnectTracker* t = attributor->tracker()) {
        ebpf_programs_ = t->ProgramIds();
        ebpf_map_ = t->MapId();
      }
    }
    EgressEngine engine(rules, ctx_.clock,
                        [&attributor](const FlowKey& flow) -> std::optional<ProcessInfo> {
                          ProcessInfo p = attributor->Attribute(flow);
                          if (p.attribution == Attribution::kNone) return std::nullopt;
                          return p;
                        });
    net::RawSender sender;
    auto handler = [&](const NfQueue::PacketInfo& p) {
      Decision d = engine.OnPacket(p.packet, p.outbound, p.uid);
      // The report first: its process lookup needs the client's socket, which the resets close.
      if (d.event) Report(std::move(*d.event), d);
      for (const std::string& pkt : d.send) sender.Send(pkt, d.send_v6);
      NfQueue::Verdict v;
      switch (d.verdict) {
        case Decision::Verdict::kDrop:
          v.kind = NfQueue::Verdict::Kind::kDrop;
          break;
        case Decision::Verdict::kMarkDecided:
          v.kind = NfQueue::Verdict::Kind::kRepeat;
          v.mark = p.mark | kDecidedMark;
          break;
        case Decision::Verdict::kAccept:
          v.replace = std::move(d.replace);
          break;
      }
      return v;
    };
    auto queue = NfQueue::Open(c.queue, c.fail_open, std::move(handler));
    if (!queue) {
      (void)nft->Run(RemoveTableText());
      return queue.error().WithContext("egress");
    }
    std::unique_ptr<net::ChainManager> own_chains;
    net::ChainManager* chains = ctx_.chains;
    if (chains == nullptr) {
      auto opened = net::ChainManager::Open();
      if (!opened) {
        (void)nft->Run(RemoveTableText());
        return opened.error().WithContext("egress");
      }
      own_chains = std::move(*opened);
      chains = own_chains.get();
    }
    auto cleanup = [&] {
      chains->RemoveSlot(net::Slot::kEgress);
      if (Status s = nft->Run(RemoveTableText()); !s.ok()) {
        spdlog::warn("egress: removing table inet {}: {}", kTableName, s.ToString());
      }
    };
    const auto queue_rules = QueueRules(c);
    if (Status s = chains->Install(net::Family::kIpv4, net::Slot::kEgress, queue_rules); !s.ok()) {
      cleanup();
      return s.WithContext("egress");
    }
    if (Status s = chains->Install(net::Family::kIpv6, net::Slot::kEgress, queue_rules); !s.ok()) {
      spdlog::warn("egress: IPv6 traffic is not inspected: {}", s.ToString());
    }
    spdlog::info("egress: inline on NFQUEUE {} ({} mode, fail {})", c.queue, ModeName(c.mode),
                 c.fail_open ? "open" : "closed");
    // The kernel's CIDR drops, logged to NFLOG: their events (the firewall's reader and parser).
    {
      std::lock_guard lock(live_mu_);
      live_ = rules;
      attributor_ = attributor.get();
    }
    std::jthread drops;
    auto reader =
        firewall::NflogReader::Open(static_cast<uint16_t>(c.log_group),
                                    [this](const firewall::LoggedPacket& p) { OnCidrDrop(p); });
    if (reader) {
      drops =
          std::jthread([r = std::move(*reader)](std::stop_token st) { r->Run(st, [](bool) {}); });
    } else {
      spdlog::warn("egress: no events of the kernel's CIDR drops: {}", reader.error().ToString());
    }
    RulesApplied(*rules);
    Status result = (*queue)->Run(stop, ctx_.clock, [&] {
      {
        std::lock_guard hl(health_mu_);
        stats_ = engine.stats();
      }
      for (Event& e : engine.TakeProposals()) ctx_.events.Emit(std::move(e));
      std::lock_guard lock(mu_);
      if (!next_) return false;
      if (!SameCapture(next_->config, c)) return true;  // RunQueue again with next_
      // Lists, mode, security level: applied in place (a new CIDR table in one transaction).
      if (Status s = nft->Run(CidrTableText(*next_)); !s.ok()) {
        spdlog::error("egress: new lists not applied: {}", s.ToString());
        next_.reset();
        return false;
      }
      engine.SetRules(next_);
      {
        std::lock_guard live(live_mu_);
        live_ = next_;
      }
      RulesApplied(*next_);
      std::lock_guard hl(health_mu_);
      mode_ = std::string(ModeName(next_->config.mode));
      names_ = next_->reputation.names();
      next_.reset();
      return false;
    });
    {
      std::lock_guard hl(health_mu_);
      stats_ = engine.stats();
      attribution_.clear();
      ebpf_programs_.clear();
      ebpf_map_ = 0;
    }
    // The NFLOG thread ends before `attributor` goes (it reports through it).
    if (drops.joinable()) {
      drops.request_stop();
      drops.join();
    }
    {
      std::lock_guard lock(live_mu_);
      attributor_ = nullptr;
    }
    cleanup();
    return result;
  }

  // The policy is in force (queue rules and CIDR table installed): an info event with its size.
  void RulesApplied(const EgressRules& rules) {
    const EgressConfig& c = rules.config;
    Event e = Event::Make(ctx_.clock, "egress", "info", "rules_applied", Severity::kInfo);
    e.Set("egress.mode", ModeName(c.mode));
    e.Set("egress.fail", c.fail_open ? "open" : "closed");
    e.Set("egress.queue", c.queue);
    e.Set("egress.names", rules.reputation.names());
    std::vector<std::string> services;
    for (const auto& sr : rules.services) {
      services.push_back(fmt::format("{}:{}", sr.spec.id, ServiceModeName(sr.spec.mode)));
    }
    if (!services.empty()) e.Set("egress.services", services);
    e.Set("egress.blocked_cidrs", rules.reputation.BlockedCidrs(false, c.security_level).size() +
                                      rules.reputation.BlockedCidrs(true, c.security_level).size());
    std::vector<std::string> lists;
    for (const auto& note : rules.feed_notes) lists.push_back(note);
    if (!lists.empty()) e.Set("egress.lists", lists);
    ctx_.events.Emit(std::move(e));
  }

  // A packet to a block-listed CIDR the kernel dropped (prevent) or would have (detect).
  void OnCidrDrop(const firewall::LoggedPacket& p) {
    std::shared_ptr<const EgressRules> rules;
    {
      std::lock_guard lock(live_mu_);
      rules = live_;
    }
    if (!rules) return;
    const bool prevent = p.kind == firewall::LogKind::kDenied;
    Event e = Event::Make(ctx_.clock, "egress", "network", prevent ? "blocked" : "detected",
                          prevent ? Severity::kHigh : Severity::kMedium);
    e.Set("destination.ip", p.dst_ip);
    if (p.dst_port) e.Set("destination.port", p.dst_port);
    e.Set("source.ip", p.src_ip);
    if (p.src_port) e.Set("source.port", p.src_port);
    e.Set("network.transport", p.protocol);
    e.Set("egress.learned_by", "ip");
    if (auto m = rules->reputation.MatchAddress(p.dst_ip)) {
      e.Set("egress.list", m->list->name);
      e.Set("egress.category", m->list->category);
      e.Set("egress.risk", RiskName(m->list->risk));
      e.Set("egress.entry", m->entry);
      e.Set("rule.id", "egress:" + m->list->name);
    }
    e.Set("egress.verdict", prevent ? "blocked" : "detected");
    e.Set("egress.mode", prevent ? "prevent" : "detect");
    e.Set("egress.enforced_in", "kernel");
    if (p.uid) e.Set("user.id", std::to_string(*p.uid));
    Decision d;
    auto src = net::ParseIp(p.src_ip);
    auto dst = net::ParseIp(p.dst_ip);
    if ((p.protocol == "tcp" || p.protocol == "udp") && src && dst) {
      d.flow = FlowKey{p.protocol, *src, *dst, p.src_port, p.dst_port};
    }
    Report(std::move(e), d);
  }

  void Report(Event e, const Decision& d) {
    {
      std::lock_guard lock(rate_mu_);
      auto now = ctx_.clock.SteadyNow();
      if (now - window_start_ >= std::chrono::seconds(1)) {
        window_start_ = now;
        window_events_ = 0;
      }
      if (++window_events_ > kEventsPerSecond) {
        std::lock_guard hl(health_mu_);
        ++suppressed_;
        return;
      }
    }
    // The process behind the flow, and how it was found (process.attribution: ebpf, socket or
    // none).
    if (d.flow) {
      ProcessInfo owner;
      if (d.owner) {
        owner = *d.owner;
      } else {
        // The attributor outlives every caller of Report (RunQueue joins the NFLOG thread before
        // it goes), so the lookup — which may read /proc — runs without the lock.
        const ProcessAttributor* attributor = nullptr;
        {
          std::lock_guard lock(live_mu_);
          attributor = attributor_;
        }
        if (attributor != nullptr) owner = attributor->Attribute(*d.flow);
      }
      if (owner.attribution != Attribution::kNone) {
        e.Set("process.pid", owner.pid);
        if (owner.tid != 0) e.Set("process.thread.id", owner.tid);
        if (!owner.comm.empty()) e.SetBytes("process.name", owner.comm);
        if (!owner.executable.empty()) e.SetBytes("process.executable", owner.executable);
        if (!owner.systemd_unit.empty()) e.Set("systemd.unit", owner.systemd_unit);
        if (!owner.cgroup.empty()) e.SetBytes("systemd.cgroup", owner.cgroup);
        if (owner.uid && !e.Has("user.id")) e.Set("user.id", std::to_string(*owner.uid));
      }
      e.Set("process.attribution", AttributionName(owner.attribution));
    }
    ctx_.events.Emit(std::move(e));
  }

  ModuleContext ctx_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<const EgressRules> next_;
  std::mutex live_mu_;
  std::shared_ptr<const EgressRules> live_;        // the rules in force, for the NFLOG thread
  const ProcessAttributor* attributor_ = nullptr;  // RunQueue's, while it runs
  std::mutex rate_mu_;
  std::chrono::steady_clock::time_point window_start_{};
  int window_events_ = 0;
  mutable std::mutex health_mu_;
  EngineStats stats_;
  std::string mode_;
  size_t names_ = 0;
  uint64_t suppressed_ = 0;
  std::string attribution_;  // "ebpf" or "socket" while a queue runs
  std::vector<uint32_t> ebpf_programs_;
  uint32_t ebpf_map_ = 0;
  std::string error_;
};

}  // namespace

std::unique_ptr<Module> Create(const ModuleContext& ctx) {
  return std::make_unique<EgressModule>(ctx);
}

Status RemoveLeftoverTable() {
  WARD_ASSIGN_OR_RETURN(auto nft, firewall::Nftables::Open());
  return nft->Run(RemoveTableText());
}

}  // namespace ward::agent::egress
