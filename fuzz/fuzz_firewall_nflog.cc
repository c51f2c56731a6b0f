// NFLOG messages as the firewall reads them (agent/modules/firewall/nflog.h): the log prefix and
// the logged packet's first bytes. Input: one byte n, then n bytes of prefix, then the packet.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "agent/modules/firewall/nflog.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t n = data[0];
  if (n > size - 1) n = size - 1;
  std::string_view prefix(reinterpret_cast<const char*>(data + 1), n);
  auto packet = std::span(data + 1 + n, size - 1 - n);
  auto p = ward::agent::firewall::ParseLoggedPacket(prefix, packet);
  if (p) (void)(p->src_ip.size() + p->dst_ip.size() + p->rule_id.size());
  return 0;
}
