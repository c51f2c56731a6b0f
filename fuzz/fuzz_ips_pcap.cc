// `ward-agent ips replay` reads capture files from anywhere: libpcap's reader, our link-layer and
// IP/TCP decoding, reassembly and HTTP parsing must survive any file. Input: a pcap file.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/modules/ips/ips_engine.h"
#include "agent/net/pcap_source.h"
#include "common/clock.h"

using namespace ward::agent::ips;
using namespace ward::net;

namespace {

std::shared_ptr<const WafRules> Rules() {
  static std::shared_ptr<const WafRules> rules = [] {
    IpsConfig c;
    c.crs.enabled = false;
    c.custom_rules = {"/dev/null"};
    c.ports = {80, 8080};
    c.limits.max_flows = 8;
    c.limits.total_buffer = 1 << 20;
    auto r = WafRules::Load(c);
    if (!r.has_value()) __builtin_trap();
    return *r;
  }();
  return rules;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto src = PcapSource::OpenMemory(bytes);
  if (!src.has_value()) return 0;
  IpsEngine engine(Rules(), ward::SystemClock(), [](ward::Event) {});
  for (int i = 0; i < 10000; ++i) {
    std::string_view pkt;
    int64_t ts = 0;
    auto next = (*src)->Read(&pkt, &ts);
    if (!next.has_value() || *next != PcapSource::Next::kPacket) break;
    engine.OnPacket(pkt, ts);
    engine.Expire(ts);
  }
  return 0;
}
