// Test helper: builds the packets of a TCP conversation (handshake, data both ways, FIN), for unit
// tests, fuzzers and captures written by integration tests. Header-only; not linked into the agent.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/net/packet.h"

namespace ward::net::test {

class Conversation {
 public:
  Conversation(IpAddress client, uint16_t cport, IpAddress server, uint16_t sport,
               uint32_t client_isn = 1000, uint32_t server_isn = 50000)
      : c_(client),
        s_(server),
        cport_(cport),
        sport_(sport),
        cseq_(client_isn),
        sseq_(server_isn) {}

  std::vector<std::string> Handshake() {
    std::vector<std::string> out;
    out.push_back(BuildTcpPacket(c_, cport_, s_, sport_, cseq_, 0, tcp_flag::kSyn, {}));
    out.push_back(BuildTcpPacket(s_, sport_, c_, cport_, sseq_, cseq_ + 1,
                                 tcp_flag::kSyn | tcp_flag::kAck, {}));
    ++cseq_;
    ++sseq_;
    out.push_back(BuildTcpPacket(c_, cport_, s_, sport_, cseq_, sseq_, tcp_flag::kAck, {}));
    return out;
  }
  // Client data at the current sequence number (advances it) in segments of at most `mss`.
  std::vector<std::string> ClientSend(std::string_view data, size_t mss = 1400) {
    return Send(true, data, mss);
  }
  std::vector<std::string> ServerSend(std::string_view data, size_t mss = 1400) {
    return Send(false, data, mss);
  }
  // A client segment at an explicit offset from the current sequence number (does not advance).
  std::string ClientAt(int64_t offset, std::string_view data) {
    return BuildTcpPacket(c_, cport_, s_, sport_, static_cast<uint32_t>(cseq_ + offset), sseq_,
                          tcp_flag::kAck | tcp_flag::kPsh, data);
  }
  void AdvanceClient(uint32_t n) { cseq_ += n; }
  std::vector<std::string> Close() {
    std::vector<std::string> out;
    out.push_back(
        BuildTcpPacket(c_, cport_, s_, sport_, cseq_, sseq_, tcp_flag::kFin | tcp_flag::kAck, {}));
    out.push_back(BuildTcpPacket(s_, sport_, c_, cport_, sseq_, cseq_ + 1,
                                 tcp_flag::kFin | tcp_flag::kAck, {}));
    return out;
  }

 private:
  std::vector<std::string> Send(bool client, std::string_view data, size_t mss) {
    std::vector<std::string> out;
    while (!data.empty()) {
      std::string_view part = data.substr(0, mss);
      data.remove_prefix(part.size());
      if (client) {
        out.push_back(BuildTcpPacket(c_, cport_, s_, sport_, cseq_, sseq_,
                                     tcp_flag::kAck | tcp_flag::kPsh, part));
        cseq_ += static_cast<uint32_t>(part.size());
      } else {
        out.push_back(BuildTcpPacket(s_, sport_, c_, cport_, sseq_, cseq_,
                                     tcp_flag::kAck | tcp_flag::kPsh, part));
        sseq_ += static_cast<uint32_t>(part.size());
      }
    }
    return out;
  }

  IpAddress c_, s_;
  uint16_t cport_, sport_;
  uint32_t cseq_, sseq_;
};

}  // namespace ward::net::test
