// PcapSource: IP packets from a capture file (`ips replay`) or a live interface (capture: pcap),
// through libpcap. Frames of other link types or protocols are skipped.
// Thread-safety: one reader thread.
#pragma once

#include <pcap/pcap.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ward::net {

class PcapSource {
 public:
  static Result<std::unique_ptr<PcapSource>> OpenFile(const std::string& path);
  // A capture held in memory (fuzzing, tests). `bytes` must outlive the source.
  static Result<std::unique_ptr<PcapSource>> OpenMemory(std::string_view bytes);
  // Live capture of TCP to or from `ports` ("any" when iface is empty), immediate mode.
  static Result<std::unique_ptr<PcapSource>> OpenLive(const std::string& iface,
                                                      const std::vector<uint16_t>& ports);
  ~PcapSource();

  enum class Next { kPacket, kTimeout, kEnd };
  // The next IP packet (valid until the next call) and its capture time in ms. kTimeout when a
  // live capture saw nothing for ~100 ms; kEnd at the end of a file. A read error is an error.
  Result<Next> Read(std::string_view* ip_packet, int64_t* ts_ms);
  uint64_t skipped() const { return skipped_; }

 private:
  PcapSource() = default;
  pcap_t* pcap_ = nullptr;
  int linktype_ = 0;
  int fd_ = -1;  // live captures: polled for readability
  uint64_t skipped_ = 0;
};

}  // namespace ward::net
