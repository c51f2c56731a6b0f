// What the firewall's log statements send to user space (nftables `log group N` → NFLOG):
// ParseLoggedPacket turns one logged packet (the prefix Ward wrote and the packet's first bytes)
// into the rule and the 5-tuple — untrusted bytes, fuzzed (fuzz/fuzz_firewall_nflog.cc) — and
// NflogReader reads a group with libnetfilter_log.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>

#include "agent/modules/firewall/ruleset.h"
#include "common/status.h"

struct nflog_handle;
struct nflog_g_handle;
struct nflog_data;
struct nfgenmsg;

namespace ward::agent::firewall {

struct LoggedPacket {
  LogKind kind = LogKind::kDenied;
  std::string rule_id;
  std::string protocol;  // "tcp", "udp", "icmp", "ipv6-icmp" or the number
  std::string src_ip, dst_ip;
  uint16_t src_port = 0, dst_port = 0;  // 0 for protocols without ports
  bool v6 = false;
  // From the NFLOG attributes (not parsed from the bytes): 0 / "" when absent.
  std::string in_interface, out_interface;
  std::optional<uint32_t> uid;
};

// `prefix`: "ward:<d|w|l>:<rule id>"; `packet`: the network-layer packet (IPv4 or IPv6).
// InvalidArgument for anything else (a prefix not Ward's, a truncated header).
Result<LoggedPacket> ParseLoggedPacket(std::string_view prefix, std::span<const uint8_t> packet);

// Reads one NFLOG group. Open() binds it (AlreadyExists-like Unavailable when another reader
// has it); Run() calls `on_packet` for every logged packet and `tick` after each, and after
// each 100 ms without one (`tick(true)`: a receive timeout), until stop. Not thread-safe: one
// thread runs it.
class NflogReader {
 public:
  using OnPacket = std::function<void(const LoggedPacket&)>;
  static Result<std::unique_ptr<NflogReader>> Open(uint16_t group, OnPacket on_packet);
  ~NflogReader();
  NflogReader(const NflogReader&) = delete;
  NflogReader& operator=(const NflogReader&) = delete;

  void Run(std::stop_token stop, const std::function<void(bool timed_out)>& tick);
  uint64_t unparsed() const { return unparsed_; }

 private:
  NflogReader(nflog_handle* h, nflog_g_handle* g, OnPacket on_packet)
      : h_(h), g_(g), on_packet_(std::move(on_packet)) {}
  static int Callback(nflog_g_handle* g, ::nfgenmsg* msg, ::nflog_data* data, void* self);
  nflog_handle* h_;
  nflog_g_handle* g_;
  OnPacket on_packet_;
  uint64_t unparsed_ = 0;
};

}  // namespace ward::agent::firewall
