#include "agent/modules/firewall/firewall_module.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>

#include "agent/core/health.h"
#include "agent/modules/firewall/config.h"
#include "agent/modules/firewall/lockout.h"
#include "agent/modules/firewall/nflog.h"
#include "agent/modules/firewall/nft.h"
#include "agent/modules/firewall/ruleset.h"
#include "agent/net/socket_owner.h"

namespace ward::agent::firewall {
namespace {

using namespace std::chrono_literals;
using SteadyTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;

std::string Host(const Cidr& c) {
  std::string s = c.ToString();
  return s.substr(0, s.find('/'));
}

// A TCP connect to the endpoint, within `timeout` (real time).
bool Reachable(const Endpoint& e, std::chrono::milliseconds timeout) {
  int fd =
      ::socket(e.remote.v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (e.remote.v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(e.remote_port);
    std::memcpy(&a->sin6_addr, e.remote.addr, 16);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(e.remote_port);
    std::memcpy(&a->sin_addr, e.remote.addr, 4);
    len = sizeof *a;
  }
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
    ok = true;
  } else if (errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) == 1) {
      int err = 0;
      socklen_t l = sizeof err;
      ok = ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) == 0 && err == 0;
    }
  }
  ::close(fd);
  return ok;
}

bool JsonMatches(const nlohmann::json& v, const std::string& want) {
  if (v.is_array()) {
    for (const auto& i : v) {
      if (JsonMatches(i, want)) return true;
    }
    return false;
  }
  if (v.is_string()) return v.get<std::string>() == want;
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>()) == want;
  return false;
}

int64_t JsonInt(const nlohmann::json& v) {
  if (v.is_number()) return v.get<int64_t>();
  if (v.is_string()) {
    try {
      return std::stoll(v.get<std::string>());
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

struct Block {
  Cidr address;
  std::string trigger;
  WallTime blocked_at;
  WallTime expires;
};

class FirewallModule final : public Module, public HealthReporter, public FirewallControl {
 public:
  FirewallModule(const ModuleContext& ctx, std::unique_ptr<Nftables> nft, Status open_error)
      : ctx_(ctx), nft_(std::move(nft)), open_error_(std::move(open_error)) {
    if (ctx_.bus) bus_id_ = ctx_.bus->Subscribe([this](const Event& e) { OnEvent(e); });
  }
  ~FirewallModule() override {
    if (ctx_.bus && bus_id_ >= 0) ctx_.bus->Unsubscribe(bus_id_);
    RemoveTable();
  }

  // Module
  std::string_view Name() const override { return "firewall"; }
  Status Configure(const PolicySection& section, const ConfigNode& /*document*/) override;
  void Run(std::stop_token stop) override;

  // HealthReporter
  ModuleHealth Health() const override;

  // FirewallControl
  nlohmann::json BlockedAddresses() const override;
  Status Unblock(const std::string& address) override;
  std::vector<std::string> UnblockAll() override;
  Result<nlohmann::json> RuleCounters() override;

 private:
  std::vector<Endpoint> Protected() const;
  std::vector<BlockedEntry> BlockedEntriesLocked() const;
  Status ApplyLocked(const FirewallConfig& config);
  void RemoveTable();
  // Periodic work (commit confirmed, expiry, suppressed-event reports). `timed_out`: no packet
  // came for 100 ms; between packets of a flood it runs when ctx.clock says 100 ms passed.
  void Tick(bool timed_out);
  void CheckConfirm();
  void ExpireBlocks();
  void ReportSuppressed();
  void OnPacket(const LoggedPacket& p);
  void OnEvent(const Event& e);
  void BlockLocked(const Cidr& host, const Trigger& trigger, const Event& cause);
  void Emit(Event e) { ctx_.events.Emit(std::move(e)); }

  ModuleContext ctx_;
  std::unique_ptr<Nftables> nft_;
  Status open_error_;
  int bus_id_ = -1;

  mutable std::mutex mu_;
  std::optional<FirewallConfig> config_;  // what is installed
  bool installed_ = false;
  std::vector<std::string> installed_sets_;  // the address sets of the installed rule set
  // Commit confirmed: the rule set before the last change, until the manager is reached.
  struct Pending {
    std::optional<FirewallConfig> previous;
    SteadyTime deadline;
  };
  std::optional<Pending> pending_;
  std::optional<SteadyTime> last_probe_;
  std::map<std::string, Block> blocked_;                // by address
  std::map<std::string, std::deque<SteadyTime>> hits_;  // "<trigger>|<address>"
  struct RateState {
    SteadyTime window;
    int64_t sent = 0;
    uint64_t suppressed = 0;
  };
  std::map<std::string, RateState> rate_;
  SteadyTime last_tick_{};
  SteadyTime last_suppressed_report_{};
  uint64_t events_sent_ = 0, events_suppressed_ = 0, rollbacks_ = 0, blocks_ = 0,
           blocks_refused_ = 0, cap_reached_ = 0, nft_errors_ = 0;
  std::string degraded_;  // NFLOG unavailable
};

std::vector<Endpoint> FirewallModule::Protected() const {
  std::vector<Endpoint> e = ManagerEndpoints(ctx_.manager_url);
  for (auto& s : InboundSessions("/proc/net", 22)) e.push_back(std::move(s));
  return e;
}

std::vector<BlockedEntry> FirewallModule::BlockedEntriesLocked() const {
  std::vector<BlockedEntry> out;
  WallTime now = ctx_.clock.Now();
  for (const auto& [addr, b] : blocked_) {
    auto left = std::chrono::duration_cast<std::chrono::seconds>(b.expires - now);
    out.push_back({b.address, std::max(left, std::chrono::seconds(1))});
  }
  return out;
}

Status FirewallModule::ApplyLocked(const FirewallConfig& config) {
  std::vector<std::string> sets;
  Status s = nft_->Run(RenderRuleset(config, BlockedEntriesLocked(), installed_sets_, &sets));
  if (!s.ok()) {
    ++nft_errors_;
    return s;
  }
  installed_ = true;
  installed_sets_ = std::move(sets);
  return Status::Ok();
}

void FirewallModule::RemoveTable() {
  std::lock_guard lock(mu_);
  if (!nft_ || !installed_) return;
  Status s = nft_->Run(RenderRemoval());
  if (!s.ok()) spdlog::error("firewall: removing table inet {}: {}", kTable, s.ToString());
  installed_ = false;
  installed_sets_.clear();
}

Status FirewallModule::Configure(const PolicySection& section, const ConfigNode& /*document*/) {
  if (!nft_) return open_error_;
  WARD_ASSIGN_OR_RETURN(FirewallConfig config, ParseFirewallConfig(section));
  std::vector<Endpoint> manager = ManagerEndpoints(ctx_.manager_url);
  WARD_RETURN_IF_ERROR(CheckLockout(config, Protected()));
  std::lock_guard lock(mu_);
  WARD_RETURN_IF_ERROR(ApplyLocked(config));
  std::optional<FirewallConfig> previous = std::move(config_);
  config_ = config;
  if (config.confirm_timeout.count() > 0 && !manager.empty()) {
    // A chain of changes rolls back to the last confirmed rule set.
    if (!pending_) pending_ = Pending{std::move(previous), {}};
    pending_->deadline = ctx_.clock.SteadyNow() + config.confirm_timeout;
    last_probe_.reset();
  }
  Event e = Event::Make(ctx_.clock, "firewall", "change", "rules_applied", Severity::kInfo);
  e.Set("firewall.mode", ModeName(config.mode));
  e.Set("firewall.rules", config.rules.size());
  e.Set("firewall.default.inbound", ActionName(config.default_inbound));
  e.Set("firewall.default.outbound", ActionName(config.default_outbound));
  Emit(std::move(e));
  spdlog::info("firewall: {} rule(s) installed in table inet {} ({})", config.rules.size(), kTable,
               ModeName(config.mode));
  return Status::Ok();
}

void FirewallModule::Run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    int group = 0;
    {
      std::lock_guard lock(mu_);
      group = config_ ? config_->log_group : FirewallConfig{}.log_group;
    }
    auto reader = NflogReader::Open(static_cast<uint16_t>(group),
                                    [this](const LoggedPacket& p) { OnPacket(p); });
    std::stop_source local;
    std::stop_callback forward(stop, [&] { local.request_stop(); });
    auto tick = [&](bool timed_out) {
      Tick(timed_out);
      std::lock_guard lock(mu_);
      if (config_ && config_->log_group != group) local.request_stop();  // reopen
    };
    if (reader) {
      {
        std::lock_guard lock(mu_);
        degraded_.clear();
      }
      (*reader)->Run(local.get_token(), tick);
    } else {
      {
        std::lock_guard lock(mu_);
        if (degraded_.empty()) {
          degraded_ = reader.error().ToString();
          Event e =
              Event::Make(ctx_.clock, "firewall", "error", "log_unavailable", Severity::kMedium);
          e.Set("error.message", degraded_);
          Emit(std::move(e));
          spdlog::warn("firewall: no connection events: {}", degraded_);
        }
      }
      std::mutex m;
      std::condition_variable_any cv;
      std::unique_lock lock(m);
      while (!local.stop_requested()) {
        cv.wait_for(lock, local.get_token(), 100ms, [] { return false; });
        tick(true);
      }
    }
  }
  RemoveTable();
}

void FirewallModule::Tick(bool timed_out) {
  SteadyTime now = ctx_.clock.SteadyNow();
  {
    std::lock_guard lock(mu_);
    if (!timed_out && now - last_tick_ < 100ms && now >= last_tick_) return;
    last_tick_ = now;
  }
  CheckConfirm();
  ExpireBlocks();
  ReportSuppressed();
}

void FirewallModule::CheckConfirm() {
  std::vector<Endpoint> manager;
  {
    std::lock_guard lock(mu_);
    if (!pending_) return;
    SteadyTime now = ctx_.clock.SteadyNow();
    if (last_probe_ && now - *last_probe_ < 1s) return;
    last_probe_ = now;
  }
  manager = ManagerEndpoints(ctx_.manager_url);
  bool reached = false;
  for (const auto& e : manager) {
    if (Reachable(e, 300ms)) {
      reached = true;
      break;
    }
  }
  std::lock_guard lock(mu_);
  if (!pending_) return;
  if (reached) {
    spdlog::info("firewall: the manager is reachable through the new rules");
    pending_.reset();
    Event e = Event::Make(ctx_.clock, "firewall", "change", "rules_confirmed", Severity::kInfo);
    e.Set("url.original", ctx_.manager_url);
    Emit(std::move(e));
    return;
  }
  if (ctx_.clock.SteadyNow() < pending_->deadline) return;
  std::optional<FirewallConfig> previous = std::move(pending_->previous);
  pending_.reset();
  Status s = previous ? ApplyLocked(*previous) : nft_->Run(RenderRemoval());
  if (!previous && s.ok()) installed_ = false, installed_sets_.clear();
  ++rollbacks_;
  Event e = Event::Make(ctx_.clock, "firewall", "change", "rules_rolled_back", Severity::kHigh);
  e.Set("message",
        previous ? "the manager was unreachable after the policy change: the previous rules "
                   "are restored"
                 : "the manager was unreachable after the policy change: Ward's rules are removed");
  e.Set("url.original", ctx_.manager_url);
  if (!s.ok()) e.Set("error.message", s.ToString());
  Emit(std::move(e));
  spdlog::error("firewall: the manager is unreachable through the new rules: rolled back{}",
                s.ok() ? "" : " (failed: " + s.ToString() + ")");
  if (s.ok()) config_ = std::move(previous);
}

void FirewallModule::ExpireBlocks() {
  std::lock_guard lock(mu_);
  WallTime now = ctx_.clock.Now();
  for (auto it = blocked_.begin(); it != blocked_.end();) {
    if (it->second.expires > now) {
      ++it;
      continue;
    }
    const Block& b = it->second;
    std::string set = b.address.v6 ? "blocked6" : "blocked4";
    // The kernel's own timeout may have removed it already: add first, then delete.
    (void)nft_->Run(
        fmt::format("add element inet {0} {1} {{ {2} timeout 1s }}\n"
                    "delete element inet {0} {1} {{ {2} }}\n",
                    kTable, set, Host(b.address)));
    Event e = Event::Make(ctx_.clock, "firewall", "change", "address_unblocked", Severity::kInfo);
    e.Set("source.ip", Host(b.address));
    e.Set("rule.id", b.trigger);
    e.Set("firewall.reason", "expired");
    Emit(std::move(e));
    it = blocked_.erase(it);
  }
}

void FirewallModule::ReportSuppressed() {
  std::lock_guard lock(mu_);
  SteadyTime now = ctx_.clock.SteadyNow();
  if (now - last_suppressed_report_ < 60s) return;
  last_suppressed_report_ = now;
  nlohmann::json per_rule = nlohmann::json::object();
  uint64_t total = 0;
  for (auto& [id, r] : rate_) {
    if (r.suppressed == 0) continue;
    per_rule[id] = r.suppressed;
    total += r.suppressed;
    r.suppressed = 0;
  }
  if (total == 0) return;
  Event e = Event::Make(ctx_.clock, "firewall", "info", "events_suppressed", Severity::kLow);
  e.Set("firewall.suppressed", total);
  e.Set("firewall.suppressed_by_rule", per_rule);
  Emit(std::move(e));
}

void FirewallModule::OnPacket(const LoggedPacket& p) {
  Mode mode;
  {
    std::lock_guard lock(mu_);
    if (!config_) return;
    mode = config_->mode;
    SteadyTime now = ctx_.clock.SteadyNow();
    RateState& r = rate_[p.rule_id];
    if (now - r.window >= 1s || now < r.window) {
      r.window = now;
      r.sent = 0;
    }
    if (r.sent >= config_->events_per_second) {
      ++r.suppressed;
      ++events_suppressed_;
      return;
    }
    ++r.sent;
    ++events_sent_;
  }
  bool outbound = p.in_interface.empty();
  std::string_view action = p.kind == LogKind::kDenied      ? "connection_denied"
                            : p.kind == LogKind::kWouldDeny ? "connection_would_be_denied"
                                                            : "connection_logged";
  Event e =
      Event::Make(ctx_.clock, "firewall", p.kind == LogKind::kDenied ? "denied" : "connection",
                  action, p.kind == LogKind::kLogged ? Severity::kLow : Severity::kMedium);
  e.Set("rule.id", p.rule_id);
  e.Set("network.transport", p.protocol);
  e.Set("network.type", p.v6 ? "ipv6" : "ipv4");
  e.Set("network.direction", outbound ? "outbound" : "inbound");
  e.Set("source.ip", p.src_ip);
  e.Set("destination.ip", p.dst_ip);
  if (p.src_port) e.Set("source.port", p.src_port);
  if (p.dst_port) e.Set("destination.port", p.dst_port);
  if (!p.in_interface.empty()) e.Set("observer.ingress.interface.name", p.in_interface);
  if (!p.out_interface.empty()) e.Set("observer.egress.interface.name", p.out_interface);
  e.Set("firewall.mode", ModeName(mode));
  if (outbound) {
    if (p.uid) e.Set("user.id", std::to_string(*p.uid));
    if (auto owner = net::SocketOwner(p.protocol, p.src_port)) {
      e.Set("process.pid", owner->pid);
      if (!owner->executable.empty()) e.SetBytes("process.executable", owner->executable);
    }
  }
  Emit(std::move(e));
}

void FirewallModule::OnEvent(const Event& e) {
  std::string module = e.Module();
  if (module != "loginspect" && module != "ips") return;
  std::string src = e.GetString("source.ip");
  if (src.empty()) return;
  auto host = ParseCidr(src);
  if (!host) return;
  std::lock_guard lock(mu_);
  if (!config_ || !config_->active_response.enabled) return;
  for (const Trigger& t : config_->active_response.triggers) {
    if (t.module != module) continue;
    if (!t.rule_ids.empty() && std::none_of(t.rule_ids.begin(), t.rule_ids.end(), [&](auto& id) {
          return JsonMatches(e.Get("rule.id"), id);
        })) {
      continue;
    }
    if (!t.event_action.empty() && e.GetString("event.action") != t.event_action) continue;
    if (t.min_level > 0 && JsonInt(e.Get("rule.level")) < t.min_level) continue;
    if (t.min_anomaly_score > 0 && JsonInt(e.Get("ips.anomaly_score")) < t.min_anomaly_score) {
      continue;
    }
    auto& hits = hits_[t.id + "|" + src];
    SteadyTime now = ctx_.clock.SteadyNow();
    hits.push_back(now);
    while (!hits.empty() && t.within.count() > 0 && now - hits.front() > t.within) {
      hits.pop_front();
    }
    if (static_cast<int64_t>(hits.size()) < t.count) continue;
    hits_.erase(t.id + "|" + src);
    BlockLocked(*host, t, e);
    return;
  }
}

void FirewallModule::BlockLocked(const Cidr& host, const Trigger& trigger, const Event& cause) {
  const ActiveResponse& ar = config_->active_response;
  std::string addr = Host(host);
  auto refuse = [&](std::string_view why) {
    ++blocks_refused_;
    Event e = Event::Make(ctx_.clock, "firewall", "info", "address_not_blocked", Severity::kLow);
    e.Set("source.ip", addr);
    e.Set("rule.id", trigger.id);
    e.Set("firewall.reason", why);
    e.Set("event.reference", cause.Id());
    Emit(std::move(e));
  };
  if (std::any_of(ar.never_block.begin(), ar.never_block.end(),
                  [&](const Cidr& c) { return c.Contains(host); })) {
    return refuse("never_block");
  }
  for (const Endpoint& p : Protected()) {
    if (p.remote == host) return refuse("protected: " + p.what);
  }
  bool again = blocked_.count(addr) > 0;
  if (!again && static_cast<int64_t>(blocked_.size()) >= ar.max_blocked) {
    ++cap_reached_;
    return refuse("max_blocked");
  }
  std::string set = host.v6 ? "blocked6" : "blocked4";
  auto seconds = std::max<int64_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(trigger.duration).count());
  // add + delete + add: an element already there gets the new timeout.
  Status s = nft_->Run(fmt::format(
      "add element inet {0} {1} {{ {2} timeout {3}s }}\ndelete element inet {0} {1} {{ {2} }}\n"
      "add element inet {0} {1} {{ {2} timeout {3}s }}\n",
      kTable, set, addr, seconds));
  if (!s.ok()) {
    ++nft_errors_;
    spdlog::error("firewall: blocking {}: {}", addr, s.ToString());
    return refuse("nftables: " + s.ToString());
  }
  WallTime now = ctx_.clock.Now();
  Block& b = blocked_[addr];
  b.address = host;
  b.trigger = trigger.id;
  if (!again) b.blocked_at = now;
  b.expires = now + trigger.duration;
  ++blocks_;
  Event e = Event::Make(ctx_.clock, "firewall", "denied", "address_blocked", Severity::kHigh);
  e.Set("source.ip", addr);
  e.Set("rule.id", trigger.id);
  e.Set("firewall.duration_s", seconds);
  e.Set("firewall.mode", ModeName(config_->mode));
  e.Set("firewall.extended", again);
  e.Set("event.reference", cause.Id());
  e.Set("firewall.cause.module", cause.Module());
  Emit(std::move(e));
}

nlohmann::json FirewallModule::BlockedAddresses() const {
  std::lock_guard lock(mu_);
  nlohmann::json out = nlohmann::json::array();
  auto secs = [](WallTime t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  };
  for (const auto& [addr, b] : blocked_) {
    out.push_back({{"address", addr},
                   {"trigger", b.trigger},
                   {"blocked_at", secs(b.blocked_at)},
                   {"expires", secs(b.expires)}});
  }
  return out;
}

Status FirewallModule::Unblock(const std::string& address) {
  auto host = ParseCidr(address);
  if (!host) return host.error();
  std::string addr = Host(*host);
  std::lock_guard lock(mu_);
  auto it = blocked_.find(addr);
  if (it == blocked_.end()) return NotFound(fmt::format("{} is not blocked", addr));
  std::string set = host->v6 ? "blocked6" : "blocked4";
  WARD_RETURN_IF_ERROR(
      nft_->Run(fmt::format("add element inet {0} {1} {{ {2} timeout 1s }}\n"
                            "delete element inet {0} {1} {{ {2} }}\n",
                            kTable, set, addr)));
  Event e = Event::Make(ctx_.clock, "firewall", "change", "address_unblocked", Severity::kInfo);
  e.Set("source.ip", addr);
  e.Set("rule.id", it->second.trigger);
  e.Set("firewall.reason", "removed");
  Emit(std::move(e));
  blocked_.erase(it);
  return Status::Ok();
}

std::vector<std::string> FirewallModule::UnblockAll() {
  std::vector<std::string> all;
  {
    std::lock_guard lock(mu_);
    for (const auto& [addr, b] : blocked_) all.push_back(addr);
  }
  std::vector<std::string> removed;
  for (const auto& a : all) {
    if (Unblock(a).ok()) removed.push_back(a);
  }
  return removed;
}

Result<nlohmann::json> FirewallModule::RuleCounters() {
  if (!nft_) return open_error_;
  WARD_ASSIGN_OR_RETURN(nlohmann::json listing, nft_->ListTable(kTable));
  nlohmann::json out = nlohmann::json::object();
  if (!listing.contains("nftables") || !listing["nftables"].is_array()) return out;
  for (const auto& item : listing["nftables"]) {
    if (!item.contains("rule")) continue;
    const auto& rule = item["rule"];
    if (!rule.contains("comment") || !rule["comment"].is_string()) continue;
    std::string id = rule["comment"];
    if (!rule.contains("expr")) continue;
    for (const auto& ex : rule["expr"]) {
      if (!ex.contains("counter") || !ex["counter"].is_object()) continue;
      const auto& counter = ex["counter"];
      auto number = [&](const char* key) -> int64_t {
        auto it = counter.find(key);
        return it != counter.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
      };
      auto& c = out[id];
      if (!c.is_object()) c = {{"packets", 0}, {"bytes", 0}};
      c["packets"] = c["packets"].get<int64_t>() + number("packets");
      c["bytes"] = c["bytes"].get<int64_t>() + number("bytes");
    }
  }
  return out;
}

ModuleHealth FirewallModule::Health() const {
  ModuleHealth h;
  std::lock_guard lock(mu_);
  if (!nft_) h.Fail(open_error_.ToString());
  if (!degraded_.empty()) h.Degrade("no connection events: " + degraded_);
  h.counters = {{"events", events_sent_},
                {"events_suppressed", events_suppressed_},
                {"rollbacks", rollbacks_},
                {"blocks", blocks_},
                {"blocks_refused", blocks_refused_},
                {"blocked_now", blocked_.size()},
                {"block_cap_reached", cap_reached_},
                {"nftables_errors", nft_errors_}};
  return h;
}

FirewallControl* Control(const CommandContext& ctx) {
  return dynamic_cast<FirewallControl*>(ctx.module);
}

// Without a running firewall nothing is blocked: the list is empty, and so is "unblock all".
Result<nlohmann::json> BlockedList(const CommandContext& ctx, const nlohmann::json& /*args*/) {
  FirewallControl* fw = Control(ctx);
  return nlohmann::json{{"blocked", fw ? fw->BlockedAddresses() : nlohmann::json::array()},
                        {"running", fw != nullptr}};
}

Result<nlohmann::json> UnblockCommand(const CommandContext& ctx, const nlohmann::json& args) {
  FirewallControl* fw = Control(ctx);
  auto address = args.find("address");
  if (address == args.end() || !address->is_string()) {
    return nlohmann::json{{"unblocked", fw ? fw->UnblockAll() : std::vector<std::string>{}}};
  }
  std::string a = address->get<std::string>();
  if (!fw) return NotFound(fmt::format("{} is not blocked (the firewall is not running)", a));
  WARD_RETURN_IF_ERROR(fw->Unblock(a));
  return nlohmann::json{{"unblocked", {a}}};
}

}  // namespace

std::unique_ptr<Module> Create(const ModuleContext& ctx) {
  auto nft = Nftables::Open();
  if (!nft) return std::make_unique<FirewallModule>(ctx, nullptr, nft.error());
  return std::make_unique<FirewallModule>(ctx, std::move(*nft), Status::Ok());
}

Status RemoveLeftoverTable() {
  WARD_ASSIGN_OR_RETURN(auto nft, Nftables::Open());
  auto listed = nft->ListTable(kTable);
  if (!listed) {
    return listed.error().code() == StatusCode::kNotFound ? Status::Ok() : listed.error();
  }
  WARD_RETURN_IF_ERROR(nft->Run(RenderRemoval()));
  spdlog::info("firewall: removed the nftables table (inet {}) an earlier agent left", kTable);
  return Status::Ok();
}

std::span<const CommandHandler> Handlers() {
  static constexpr CommandHandler kHandlers[] = {
      {"firewall.blocked_list", &BlockedList},
      {"firewall.unblock", &UnblockCommand},
  };
  return kHandlers;
}

}  // namespace ward::agent::firewall
