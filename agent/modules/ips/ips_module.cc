#include "agent/modules/ips/ips_module.h"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "agent/core/health.h"
#include "agent/modules/ips/config.h"
#include "agent/modules/ips/ips_engine.h"
#include "agent/modules/ips/queue_rules.h"
#include "agent/modules/ips/waf.h"
#include "agent/modules/ips/waf_state_file.h"
#include "agent/net/chain_manager.h"
#include "agent/net/nfqueue.h"
#include "agent/net/pcap_source.h"
#include "common/log.h"

namespace ward::agent::ips {
namespace {

using net::NfQueue;
using net::PcapSource;
using net::RawSender;

// Whether two policies need a new capture (ports, queue, interface...) rather than new rules.
bool SameCapture(const IpsConfig& a, const IpsConfig& b) {
  return a.engine == b.engine && a.capture == b.capture && a.ports == b.ports &&
         a.interface == b.interface && a.fail == b.fail && a.queue == b.queue && a.mode == b.mode &&
         a.EngineThreads() == b.EngineThreads();
}

class IpsModule final : public Module, public HealthReporter {
 public:
  explicit IpsModule(const ModuleContext& ctx) : ctx_(ctx) {}

  std::string_view Name() const override { return "ips"; }

  // Capture, mode, engine threads, and the engines' counters as of their last second.
  ModuleHealth Health() const override {
    std::lock_guard lock(health_mu_);
    ModuleHealth h;
    EngineStats sum;
    for (const auto& [engine, st] : health_.engines) {
      sum.packets += st.packets;
      sum.flows += st.flows;
      sum.flows_evicted += st.flows_evicted;
      sum.segments_refused += st.segments_refused;
      sum.transactions += st.transactions;
      sum.events += st.events;
      sum.blocked += st.blocked;
    }
    h.counters = {{"capture", health_.capture},
                  {"mode", health_.mode},
                  {"threads", health_.threads},
                  {"packets", sum.packets},
                  {"flows", sum.flows},
                  {"transactions", sum.transactions},
                  {"events", sum.events},
                  {"blocked", sum.blocked},
                  {"flows_evicted", sum.flows_evicted},
                  {"segments_refused", sum.segments_refused}};
    if (!health_.error.empty()) h.Fail("capture failed: " + health_.error);
    if (sum.flows_evicted > 0 || sum.segments_refused > 0) {
      h.Degrade("limits reached: some traffic went (partly) uninspected");
    }
    return h;
  }

  Status Configure(const PolicySection& section, const ConfigNode& /*document*/) override {
    WARD_ASSIGN_OR_RETURN(IpsConfig parsed, ParseIpsConfig(section));
    // managed:crs / managed:rules: the update bundles this agent holds (docs/updates.md).
    WARD_ASSIGN_OR_RETURN(IpsConfig c, ResolveManaged(std::move(parsed), ctx_.state_dir));
    std::shared_ptr<WafLog> log;
    if (!c.log_file.empty()) {
      std::lock_guard lock(mu_);
      if (log_ && log_path_ == c.log_file) log = log_;
    }
    if (!c.log_file.empty() && !log) {
      WARD_ASSIGN_OR_RETURN(auto opened, WafLog::Open(c.log_file));
      log = std::move(opened);
    }
    WARD_ASSIGN_OR_RETURN(auto rules, WafRules::Load(c, log));
    spdlog::info("ips: {} {} rules loaded ({} mode, {} on port(s) {})", rules->rule_count(),
                 WafEngineName(c.engine), ModeName(c.mode),
                 c.capture == Capture::kNfqueue ? "nfqueue" : "pcap", fmt::join(c.ports, ","));
    std::lock_guard lock(mu_);
    log_ = log;
    log_path_ = c.log_file;
    next_ = std::move(rules);
    cv_.notify_all();
    return Status::Ok();
  }

  void Run(std::stop_token stop) override {
    std::shared_ptr<const WafRules> rules;
    {
      std::lock_guard lock(mu_);
      rules = std::move(next_);
    }
    while (rules && !stop.stop_requested()) {
      const IpsConfig& c = rules->config();
      {
        std::lock_guard hl(health_mu_);
        health_.capture = c.capture == Capture::kNfqueue ? "nfqueue" : "pcap";
        health_.mode = std::string(ModeName(c.mode));
        health_.threads = c.capture == Capture::kNfqueue ? c.EngineThreads() : 1;
        health_.engines.clear();
        health_.error.clear();
      }
      Status s = c.capture == Capture::kNfqueue ? RunNfqueue(rules, stop) : RunPcap(rules, stop);
      if (!s.ok()) {
        {
          std::lock_guard hl(health_mu_);
          health_.error = s.ToString();
        }
        spdlog::error("ips: {}", s.ToString());
        Event e = Event::Make(ctx_.clock, "ips", "error", "capture_failed", Severity::kHigh);
        e.Set("error.message", s.ToString());
        ctx_.events.Emit(std::move(e));
        // Wait for a new policy (or stop) instead of spinning.
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, std::chrono::seconds(5), [&] { return next_ != nullptr; });
      }
      std::lock_guard lock(mu_);
      if (next_) {
        rules = std::move(next_);
      } else if (live_) {
        rules = live_;  // the latest rules published to the engines
      }
    }
  }

 private:
  // What ReportDegraded() already reported, per engine.
  struct Degraded {
    EngineStats reported;
    int64_t last_ms = 0;
  };

  // A new policy with the same capture settings is published to every engine thread (live_,
  // rules_gen_). Returns true when the capture must restart for it (it is left in next_).
  bool PollNewRules(const IpsConfig& current) {
    std::lock_guard lock(mu_);
    if (!next_) return false;
    if (!SameCapture(next_->config(), current)) return true;
    live_ = std::move(next_);
    rules_gen_.fetch_add(1);
    return false;
  }

  // Gives `engine` the published rules when they changed since `*seen`.
  void TakeNewRules(IpsEngine& engine, uint64_t* seen) {
    if (rules_gen_.load(std::memory_order_relaxed) == *seen) return;
    std::lock_guard lock(mu_);
    *seen = rules_gen_.load();
    if (live_) engine.SetRules(live_);
  }

  void Emit(Event e) { ctx_.events.Emit(std::move(e)); }

  // Monotonic milliseconds (flow timeouts, the degraded-report throttle), from the context's clock.
  int64_t NowMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               ctx_.clock.SteadyNow().time_since_epoch())
        .count();
  }

  // Flows evicted for lack of room and segments refused (buffers full) mean traffic went (partly)
  // uninspected: logged, counted and reported as an event at most once a minute per engine.
  void ReportDegraded(const IpsEngine& engine, Degraded& d) {
    const EngineStats& st = engine.stats();
    {
      std::lock_guard hl(health_mu_);
      health_.engines[&engine] = st;
    }
    int64_t now = NowMs();
    if (now - d.last_ms < 60'000) return;
    uint64_t evicted = st.flows_evicted - d.reported.flows_evicted;
    uint64_t refused = st.segments_refused - d.reported.segments_refused;
    if (evicted == 0 && refused == 0) return;
    d.last_ms = now;
    d.reported = st;
    spdlog::warn("ips: {} flow(s) evicted and {} segment(s) refused: limits reached", evicted,
                 refused);
    Event e = Event::Make(ctx_.clock, "ips", "info", "degraded", Severity::kMedium);
    e.Set("ips.flows_evicted", evicted);
    e.Set("ips.segments_refused", refused);
    e.Set("ips.flows", engine.flow_count());
    e.Set("ips.buffered_bytes", engine.buffered_bytes());
    Emit(std::move(e));
  }

  // An engine thread's WAF state (waf_state_file.h): Ward's persistent collections kept across
  // agent restarts in <state dir>/ips, restored when the thread starts, saved when they changed
  // (at most once a minute) and when the thread stops. Engines whose state does not persist, or
  // no state directory: nothing is read or written.
  struct KeptWafState {
    std::unique_ptr<WafThreadState> state;
    int thread = 0;
    uint64_t saved_changes = 0;
    int64_t saved_ms = 0;
  };
  std::string WafStateDir() const {
    return ctx_.state_dir.empty() ? std::string() : (ctx_.state_dir / "ips").string();
  }
  int64_t WallSeconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(ctx_.clock.Now().time_since_epoch())
        .count();
  }
  KeptWafState StartWafState(const IpsConfig& c, int thread, int threads, bool needed) {
    KeptWafState k;
    k.thread = thread;
    const std::string dir = WafStateDir();
    const bool persist = c.engine == WafEngineKind::kWard && !dir.empty();
    if (!needed && !persist) return k;
    k.state = WafEngineFor(c.engine).NewThreadState();
    k.saved_ms = NowMs();
    if (!persist) return k;
    auto r = RestoreWafState(ctx_.fs, dir, thread, threads, *k.state, WallSeconds());
    if (!r.has_value()) {
      spdlog::error("ips: engine thread {}: {}; it starts with empty collections", thread,
                    r.error().ToString());
      return k;
    }
    for (const Status& bad : r->corrupt) {
      spdlog::error("ips: engine thread {}: {}; it starts without them", thread, bad.ToString());
      Event e = Event::Make(ctx_.clock, "ips", "error", "waf_state_corrupt", Severity::kMedium);
      e.Set("error.message", bad.ToString());
      Emit(std::move(e));
    }
    if (r->files > 0) {
      spdlog::info("ips: engine thread {}: {} persistent collection entries restored", thread,
                   r->entries);
    }
    k.saved_changes = k.state->changes();
    return k;
  }
  void SaveKeptWafState(KeptWafState& k, bool stopping) {
    if (k.state == nullptr || !k.state->persists() || WafStateDir().empty()) return;
    const int64_t now = NowMs();
    if (k.state->changes() == k.saved_changes) return;
    if (!stopping && now - k.saved_ms < 60'000) return;
    k.saved_ms = now;
    k.saved_changes = k.state->changes();
    if (Status s = SaveWafState(ctx_.fs, WafStateDir(), k.thread, *k.state, WallSeconds());
        !s.ok()) {
      spdlog::error("ips: engine thread {}: saving its persistent collections: {}", k.thread,
                    s.ToString());
    }
  }

  void Publish(std::shared_ptr<const WafRules> rules) {
    std::lock_guard lock(mu_);
    live_ = std::move(rules);
    rules_gen_.fetch_add(1);
  }

  Status RunPcap(std::shared_ptr<const WafRules> rules, std::stop_token stop) {
    const IpsConfig c = rules->config();
    Publish(rules);
    uint64_t seen = rules_gen_.load();
    WARD_ASSIGN_OR_RETURN(auto src, PcapSource::OpenLive(c.interface, c.ports));
    spdlog::info("ips: passive capture on {} (detect only)",
                 c.interface.empty() ? "any" : c.interface);
    KeptWafState waf_state = StartWafState(c, 0, 1, false);
    IpsEngine engine(rules, ctx_.clock, [this](Event e) { Emit(std::move(e)); });
    Degraded degraded;
    int64_t last_expire = NowMs();
    while (!stop.stop_requested()) {
      std::string_view pkt;
      int64_t ts = 0;
      WARD_ASSIGN_OR_RETURN(auto next, src->Read(&pkt, &ts));
      int64_t now = NowMs();
      if (next == PcapSource::Next::kPacket) engine.OnPacket(pkt, now);
      if (next == PcapSource::Next::kEnd) break;
      if (now - last_expire > 1000) {
        engine.Expire(now);
        ReportDegraded(engine, degraded);
        SaveKeptWafState(waf_state, false);
        last_expire = now;
      }
      if (PollNewRules(c)) break;
      TakeNewRules(engine, &seen);
    }
    engine.CloseAll();
    SaveKeptWafState(waf_state, true);
    return Status::Ok();
  }

  // One engine thread: its own queue, engine (flow table) and raw socket. The iptables rules send
  // both directions of a flow to the same queue, so a flow never leaves its thread; the rule set
  // is shared read-only, each transaction belongs to the thread of its flow.
  struct Worker {
    std::unique_ptr<IpsEngine> engine;
    std::unique_ptr<NfQueue> queue;
    RawSender sender;
    Degraded degraded;
    Status result;
    int queue_num = 0;
  };

  Status RunNfqueue(std::shared_ptr<const WafRules> rules, std::stop_token stop) {
    const IpsConfig c = rules->config();
    Publish(rules);
    const uint64_t gen = rules_gen_.load();
    const bool prevent = c.mode == Mode::kPrevent;
    const int n = c.EngineThreads();
    std::vector<std::unique_ptr<Worker>> workers;
    for (int i = 0; i < n; ++i) {
      auto w = std::make_unique<Worker>();
      w->engine = std::make_unique<IpsEngine>(rules, ctx_.clock, n,
                                              [this](Event e) { Emit(std::move(e)); });
      w->queue_num = c.queue + i;
      Worker* wp = w.get();
      auto handler = [this, wp, prevent](std::string_view pkt, bool verify_checksum) -> bool {
        PacketDecision d = wp->engine->OnPacket(pkt, NowMs(), verify_checksum);
        // Detect mode, and the server's packets in prevent mode, were already accepted (verdict
        // first): this is a copy and the answer is ignored.
        if (!prevent) return true;
        if (d.reset) SendResets(wp->sender, d);
        // A blocked request's answer and the server's reset, in that order (ips_engine.h).
        for (const std::string& p : d.send) wp->sender.Send(p, d.send_v6);
        return !d.drop;
      };
      WARD_ASSIGN_OR_RETURN(
          w->queue,
          NfQueue::Open(static_cast<uint16_t>(c.queue + i), c.fail == FailMode::kOpen,
                        prevent ? NfQueue::VerdictFirst::kOutbound : NfQueue::VerdictFirst::kAll,
                        std::move(handler)));
      workers.push_back(std::move(w));
    }
    // The IPS's slot in Ward's chains (agent/net): the agent's ChainManager, or one of its own
    // when the module runs without one (it then also removes leftovers first).
    std::unique_ptr<net::ChainManager> own_chains;
    net::ChainManager* chains = ctx_.chains;
    if (chains == nullptr) {
      WARD_ASSIGN_OR_RETURN(own_chains, net::ChainManager::Open());
      chains = own_chains.get();
    }
    if (Status s = chains->Install(net::Family::kIpv4, net::Slot::kIps, QueueRules(c, false));
        !s.ok()) {
      chains->RemoveSlot(net::Slot::kIps);
      return s.WithContext("ips");
    }
    if (Status s = chains->Install(net::Family::kIpv6, net::Slot::kIps, QueueRules(c, true));
        !s.ok()) {
      spdlog::warn("ips: IPv6 traffic is not inspected: {}", s.ToString());
    }
    spdlog::info("ips: inline on NFQUEUE {}..{} ({} engine thread(s), {} mode, fail {})", c.queue,
                 c.queue + n - 1, n, ModeName(c.mode),
                 c.fail == FailMode::kOpen ? "open" : "closed");
    std::stop_source halt;
    auto run = [&](Worker& w, int index, bool polls) {
      // Several threads: each its own WAF engine state (libmodsecurity: persistent collections);
      // Ward's is also kept across restarts.
      KeptWafState waf_state = StartWafState(c, index, n, n > 1);
      uint64_t seen = gen;
      int64_t last_expire = NowMs();
      w.result = w.queue->Run(stop, ctx_.clock, [&] {
        if (halt.stop_requested()) return true;
        // The first thread watches for new policies; every thread takes published rules.
        if (polls && PollNewRules(c)) {
          halt.request_stop();
          return true;
        }
        TakeNewRules(*w.engine, &seen);
        int64_t now = NowMs();
        if (now - last_expire > 1000) {
          w.engine->Expire(now);
          ReportDegraded(*w.engine, w.degraded);
          SaveKeptWafState(waf_state, false);
          last_expire = now;
        }
        return false;
      });
      // One engine failing ends the capture (all threads): it restarts as a whole.
      if (!w.result.ok()) halt.request_stop();
      // The flows' transactions end here, on their thread, while its WAF engine state lives.
      w.engine->CloseAll();
      SaveKeptWafState(waf_state, true);
      const EngineStats& st = w.engine->stats();
      spdlog::info("ips: engine thread on NFQUEUE {}: {} packets, {} flows, {} transactions",
                   w.queue_num, st.packets, st.flows, st.transactions);
    };
    {
      std::vector<std::jthread> threads;
      for (int i = 1; i < n; ++i) threads.emplace_back([&, i] { run(*workers[i], i, false); });
      run(*workers[0], 0, true);
      halt.request_stop();
    }
    chains->RemoveSlot(net::Slot::kIps);
    Status s = Status::Ok();
    for (auto& w : workers) {
      w->engine->CloseAll();
      if (s.ok() && !w->result.ok()) s = w->result;
    }
    return s;
  }

  static void SendResets(RawSender& sender, const PacketDecision& d) {
    const TcpSegment& s = d.segment;
    // s is the client's packet (src = client) that completed the blocked request.
    const bool v6 = s.src.v6;
    std::string to_server = net::BuildTcpPacket(s.src, s.sport, s.dst, s.dport, d.client_next, 0,
                                                tcp_flag::kRst, {}, 0);
    std::string to_client =
        net::BuildTcpPacket(s.dst, s.dport, s.src, s.sport, d.server_next, d.client_next,
                            tcp_flag::kRst | tcp_flag::kAck, {}, 0);
    sender.Send(to_server, v6);
    sender.Send(to_client, v6);
  }

  ModuleContext ctx_;
  struct HealthFacts {
    std::string capture;
    std::string mode;
    int threads = 0;
    std::map<const IpsEngine*, EngineStats> engines;  // as of each engine's last second
    std::string error;
  };
  mutable std::mutex health_mu_;
  HealthFacts health_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<const WafRules> next_;
  // The rules every engine thread uses (they take them between packets when rules_gen_ moves).
  std::shared_ptr<const WafRules> live_;
  std::atomic<uint64_t> rules_gen_{0};
  std::shared_ptr<WafLog> log_;
  std::string log_path_;
};

}  // namespace

std::unique_ptr<Module> Create(const ModuleContext& ctx) {
  return std::make_unique<IpsModule>(ctx);
}

}  // namespace ward::agent::ips
