// The IPS's iptables rules (its slot, WARD_IPS_IN / WARD_IPS_OUT, in agent/net's ChainManager):
// per port, pure ACKs RETURN, then one NFQUEUE target per engine thread picked by the client's
// port (docs/ips.md, "Inline (NFQUEUE) and passive (pcap)"). With `fail: open` the targets carry
// --queue-bypass (packets pass when no agent listens); `fail: closed` has none.
#pragma once

#include <vector>

#include "agent/modules/ips/config.h"
#include "agent/net/chain_manager.h"

namespace ward::agent::ips {

// The rules for iptables (v6 = false) or ip6tables, in order: Hook::kInput rules match the
// destination port (packets to the server), Hook::kOutput rules the source port.
std::vector<net::Rule> QueueRules(const IpsConfig& config, bool v6);

}  // namespace ward::agent::ips
