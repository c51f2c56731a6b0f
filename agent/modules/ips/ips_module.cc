#include "agent/modules/ips/ips_module.h"

#include <fmt/format.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "agent/modules/ips/config.h"
#include "agent/modules/ips/ips_engine.h"
#include "agent/modules/ips/nfqueue.h"
#include "agent/modules/ips/pcap_source.h"
#include "agent/modules/ips/waf.h"
#include "common/log.h"

namespace ward::agent::ips {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Whether two policies need a new capture (ports, queue, interface...) rather than new rules.
bool SameCapture(const IpsConfig& a, const IpsConfig& b) {
  return a.capture == b.capture && a.ports == b.ports && a.interface == b.interface &&
         a.fail == b.fail && a.queue == b.queue && a.mode == b.mode;
}

class IpsModule final : public Module {
 public:
  explicit IpsModule(const ModuleContext& ctx) : ctx_(ctx) {}

  std::string_view Name() const override { return "ips"; }

  Status Configure(const PolicySection& section, const ConfigNode& /*document*/) override {
    WARD_ASSIGN_OR_RETURN(IpsConfig c, ParseIpsConfig(section));
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
    spdlog::info("ips: {} rules loaded ({} mode, {} on port(s) {})", rules->rule_count(),
                 ModeName(c.mode), c.capture == Capture::kNfqueue ? "nfqueue" : "pcap",
                 fmt::join(c.ports, ","));
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
      Status s = c.capture == Capture::kNfqueue ? RunNfqueue(rules, stop) : RunPcap(rules, stop);
      if (!s.ok()) {
        spdlog::error("ips: {}", s.ToString());
        Event e = Event::Make(ctx_.clock, "ips", "error", "capture_failed", Severity::kHigh);
        e.Set("error.message", s.ToString());
        ctx_.events.Emit(std::move(e));
        // Wait for a new policy (or stop) instead of spinning.
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, std::chrono::seconds(5), [&] { return next_ != nullptr; });
      }
      std::lock_guard lock(mu_);
      if (next_) rules = std::move(next_);
    }
  }

 private:
  // New rules with the same capture settings: swapped in place. Returns true when the capture
  // must be restarted with them (they are left in next_).
  bool PollNewRules(IpsEngine& engine, const IpsConfig& current) {
    std::lock_guard lock(mu_);
    if (!next_) return false;
    if (!SameCapture(next_->config(), current)) return true;
    engine.SetRules(std::move(next_));
    return false;
  }

  void Emit(Event e) { ctx_.events.Emit(std::move(e)); }

  // Flows evicted for lack of room and segments refused (buffers full) mean traffic went (partly)
  // uninspected: logged, counted and reported as an event at most once a minute.
  void ReportDegraded(const IpsEngine& engine) {
    const EngineStats& st = engine.stats();
    int64_t now = NowMs();
    if (now - last_degraded_ms_ < 60'000) return;
    uint64_t evicted = st.flows_evicted - reported_.flows_evicted;
    uint64_t refused = st.segments_refused - reported_.segments_refused;
    if (evicted == 0 && refused == 0) return;
    last_degraded_ms_ = now;
    reported_ = st;
    spdlog::warn("ips: {} flow(s) evicted and {} segment(s) refused: limits reached", evicted,
                 refused);
    Event e = Event::Make(ctx_.clock, "ips", "info", "degraded", Severity::kMedium);
    e.Set("ips.flows_evicted", evicted);
    e.Set("ips.segments_refused", refused);
    e.Set("ips.flows", engine.flow_count());
    e.Set("ips.buffered_bytes", engine.buffered_bytes());
    Emit(std::move(e));
  }

  Status RunPcap(std::shared_ptr<const WafRules> rules, std::stop_token stop) {
    const IpsConfig c = rules->config();
    WARD_ASSIGN_OR_RETURN(auto src, PcapSource::OpenLive(c.interface, c.ports));
    spdlog::info("ips: passive capture on {} (detect only)",
                 c.interface.empty() ? "any" : c.interface);
    IpsEngine engine(rules, ctx_.clock, [this](Event e) { Emit(std::move(e)); });
    reported_ = EngineStats{};
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
        ReportDegraded(engine);
        last_expire = now;
      }
      if (PollNewRules(engine, c)) break;
    }
    engine.CloseAll();
    return Status::Ok();
  }

  Status RunNfqueue(std::shared_ptr<const WafRules> rules, std::stop_token stop) {
    const IpsConfig c = rules->config();
    IpsEngine engine(rules, ctx_.clock, [this](Event e) { Emit(std::move(e)); });
    reported_ = EngineStats{};
    RawSender sender;
    const bool prevent = c.mode == Mode::kPrevent;
    auto handler = [&](std::string_view pkt) -> bool {
      if (!prevent) {
        // Detect mode: the packet was already accepted (verdict first); this is its copy.
        engine.OnPacket(pkt, NowMs());
        return true;
      }
      PacketDecision d = engine.OnPacket(pkt, NowMs());
      if (d.reset) SendResets(sender, d);
      return !d.drop;
    };
    WARD_ASSIGN_OR_RETURN(auto queue,
                          NfQueue::Open(c.queue, c.fail == FailMode::kOpen, !prevent, handler));
    WARD_RETURN_IF_ERROR(InstallIptablesRules(c));
    spdlog::info("ips: inline on NFQUEUE {} ({} mode, fail {})", c.queue, ModeName(c.mode),
                 c.fail == FailMode::kOpen ? "open" : "closed");
    int64_t last_expire = NowMs();
    Status s = queue->Run(stop, [&] {
      int64_t now = NowMs();
      if (now - last_expire > 1000) {
        engine.Expire(now);
        ReportDegraded(engine);
        last_expire = now;
      }
      return PollNewRules(engine, c);
    });
    RemoveIptablesRules();
    engine.CloseAll();
    return s;
  }

  static void SendResets(RawSender& sender, const PacketDecision& d) {
    const TcpSegment& s = d.segment;
    // s is the client's packet (src = client) that completed the blocked request.
    const bool v6 = s.src.v6;
    std::string to_server =
        BuildTcpPacket(s.src, s.sport, s.dst, s.dport, d.client_next, 0, tcp_flag::kRst, {}, 0);
    std::string to_client = BuildTcpPacket(s.dst, s.dport, s.src, s.sport, d.server_next,
                                           d.client_next, tcp_flag::kRst | tcp_flag::kAck, {}, 0);
    sender.Send(to_server, v6);
    sender.Send(to_client, v6);
  }

  ModuleContext ctx_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<const WafRules> next_;
  std::shared_ptr<WafLog> log_;
  std::string log_path_;
  EngineStats reported_;
  int64_t last_degraded_ms_ = 0;
};

}  // namespace

std::unique_ptr<Module> Create(const ModuleContext& ctx) {
  return std::make_unique<IpsModule>(ctx);
}

Status Validate(const PolicySection& section, const ConfigNode& /*document*/) {
  return ParseIpsConfig(section).status();
}

bool Enabled(const PolicySection& section) {
  if (const ConfigNode* e = section.Find("enabled")) {
    auto v = ReadBool(*e);
    return v.has_value() && *v;
  }
  return true;
}

}  // namespace ward::agent::ips
