// EgressEngine: the decision on each packet egress's queue rules send to user space, without the
// kernel (unit-tested with crafted packets, fuzzed with any bytes):
//   - a DNS answer (UDP from port 53, inbound): its names are checked; a blocked name in prevent
//     mode gets the answer rewritten to NXDOMAIN; the names of allowed answers are remembered
//     per address (so a later flow to the address is named in events: "learned by dns");
//   - the first payload of an outbound TCP flow to an HTTP or TLS port: the Host/URL or the SNI is
//     checked; a blocked flow in prevent mode is dropped and reset (HTTP: a 403 page first), any
//     other is marked decided so its later packets bypass the queue.
// A destination address is never blocked because a blocked name once resolved to it (CDNs share
// addresses): addresses are blocked only by CIDR lists, in the kernel.
// Thread-safety: one engine per queue thread; SetRules() from the same thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/modules/egress/attribution.h"
#include "agent/modules/egress/config.h"
#include "agent/modules/egress/dns_message.h"
#include "agent/modules/egress/reputation.h"
#include "agent/net/packet.h"
#include "common/clock.h"
#include "common/event.h"
#include "common/file_system.h"

namespace ward::agent::egress {

// The conntrack mark bit of flows egress has decided (their packets skip the queue).
inline constexpr uint32_t kDecidedMark = 0x00400000;

// A service's allow-list, loaded.
// A service's allow-list, loaded: one Reputation per port range its entries name (an entry
// without ports is in the group of every port).
struct ServiceRules {
  ServiceSpec spec;
  std::vector<std::pair<PortRange, Reputation>> allow;
  // Whether the allow-list covers `url` (may be ""), `name` (may be "") or `address`, on `port`.
  bool Allows(const std::string& url, const std::string& name, const std::string& address,
              uint16_t port) const;
};

// A policy made ready: the config and its lists loaded.
struct EgressRules {
  EgressConfig config;
  Reputation reputation;
  std::vector<ServiceRules> services;
  std::vector<std::string> feed_notes;  // "urlhaus: 1234 URL prefixes, 2 lines skipped"
};

// Reads the policy's feed files (through `fs`) and its allow/block entries into one Reputation.
// A feed that cannot be read fails the load, naming the file (the previous policy stays).
// `feeds_dir`: the directory of the feeds bundle in force (<state>/updates/feeds/current), where
// "managed:feeds/<name>" is the file <name>.<extension of its format>; empty: no managed feeds
// (such a list fails the load).
Result<std::shared_ptr<const EgressRules>> LoadRules(const EgressConfig& config, FileSystem& fs,
                                                     const std::filesystem::path& feeds_dir = {});

struct Decision {
  enum class Verdict { kAccept, kDrop, kMarkDecided };
  Verdict verdict = Verdict::kAccept;
  std::string replace;            // kAccept: the packet to send on instead (rewritten DNS answer)
  std::vector<std::string> send;  // crafted packets to send (RSTs, the 403 page), in order
  bool send_v6 = false;
  std::optional<Event> event;        // what to report (the module adds the process)
  std::optional<FlowKey> flow;       // the flow reported: for the process lookup
  std::optional<ProcessInfo> owner;  // when the engine looked it up already
};

// Finds the process behind a flow (ProcessAttributor in the agent, a fake in unit tests); nullopt
// when none is found.
using OwnerLookup = std::function<std::optional<ProcessInfo>(const FlowKey& flow)>;

struct EngineStats {
  uint64_t packets = 0;
  uint64_t dns_answers = 0;
  uint64_t flows_named = 0;    // flows decided by SNI/Host
  uint64_t flows_unnamed = 0;  // flows decided without a name in the payload
  uint64_t blocked = 0;
  uint64_t detected = 0;
  uint64_t malformed = 0;
};

class EgressEngine {
 public:
  // `owner_lookup` is used only when the policy has services (once per new flow then).
  EgressEngine(std::shared_ptr<const EgressRules> rules, const Clock& clock,
               OwnerLookup owner_lookup = nullptr);
  void SetRules(std::shared_ptr<const EgressRules> rules) { rules_ = std::move(rules); }
  // `packet`: an IP packet from the queue; `outbound`: from the OUTPUT hook; `uid`: its socket's
  // owner if known.
  Decision OnPacket(std::string_view packet, bool outbound, std::optional<uint32_t> uid);
  const EngineStats& stats() const { return stats_; }
  // Learn mode: the `allowlist_proposed` events of services whose learning period ended since
  // the last call (each service once while this engine runs). Call it now and then (the module:
  // every 100 ms).
  std::vector<Event> TakeProposals();
  // The name a DNS answer gave `address` (text), if one did and it has not expired.
  std::optional<std::string> NameOf(const std::string& address) const;

 private:
  Decision OnDns(std::string_view packet, size_t l4, bool v6, std::optional<uint32_t> uid);
  // A segment of a DNS-over-TCP answer (inbound, from port 53; the TCP header at `l4`).
  Decision OnDnsTcp(std::string_view packet, size_t l4);
  // A DNS answer (UDP or TCP) from `server`: the event of a blocked name (counted), or nullopt
  // after its addresses were remembered.
  std::optional<Event> CheckDnsAnswer(const DnsMessage& msg, std::string_view transport,
                                      const std::string& server);
  Decision OnTcp(std::string_view packet, std::optional<uint32_t> uid);
  void Remember(const std::string& address, const std::string& name, uint32_t ttl);
  // Per-service allow-lists for a flow the block lists let through: learns, reports or resets.
  void CheckService(const net::TcpSegment& seg, const std::string& name, const std::string& url,
                    const std::string& learned_by, Decision& d);
  void Block(const net::TcpSegment& seg, bool page, Event& e, Decision& d);
  std::shared_ptr<const EgressRules> rules_;
  const Clock& clock_;
  EngineStats stats_;
  struct Learned {
    std::string name;
    std::chrono::steady_clock::time_point expires;
  };
  std::unordered_map<std::string, Learned> names_;  // address → name, at most kMaxLearned
  std::deque<std::string> learned_order_;
  OwnerLookup owner_lookup_;
  // First payloads not complete yet, by flow ("src|sport|dst|dport"), in arrival order.
  struct Pending {
    std::string data;
    uint32_t next_seq = 0;
  };
  std::unordered_map<std::string, Pending> pending_;
  std::deque<std::string> pending_order_;
  // DNS-over-TCP answers being read, by flow ("server|client|client port"), in arrival order.
  std::unordered_map<std::string, DnsTcpStream> dns_streams_;
  std::deque<std::string> dns_stream_order_;
  struct Learning {
    std::chrono::steady_clock::time_point started;
    std::set<std::string> destinations;
    bool proposed = false;
  };
  std::map<std::string, Learning> learning_;  // by service id
};

}  // namespace ward::agent::egress
