// What egress puts into the kernel, as text computed from the policy (pure; unit-tested):
//   - its iptables rules in Ward's egress slot (agent/net/chain_manager.h, WARD_EGRESS_IN/_OUT):
//     only the first packets of an outbound flow to an HTTP/TLS port reach the queue — a flow
//     egress decided carries kDecidedMark in conntrack and skips it, and no flow is queued past
//     its first kQueuedPackets packets — and DNS answers (UDP from port 53, and the server's first
//     kQueuedDnsTcpPackets packets of a TCP flow from port 53);
//   - its nftables table (`table inet ward_egress`): the CIDR block lists as interval sets, dropped
//     in prevent mode, counted in both modes, the allow CIDRs before them.
#pragma once

#include <string>
#include <vector>

#include "agent/modules/egress/egress_engine.h"
#include "agent/net/chain_manager.h"

namespace ward::agent::egress {

inline constexpr int kQueuedPackets = 8;
// DNS over TCP: the server's first packets of a flow (its answers' first DnsTcpStream::kMaxBytes
// fit in them at any usual MSS; the handshake and ACKs count too).
inline constexpr int kQueuedDnsTcpPackets = 16;
inline constexpr std::string_view kTableName = "ward_egress";

std::vector<net::Rule> QueueRules(const EgressConfig& config);

// The libnftables input that replaces what is in Ward's egress table, in one transaction: the
// table, its sets and its chain are kept (created when missing) and their contents replaced, so
// no packet ever meets an empty chain.
std::string CidrTableText(const EgressRules& rules);
// The input that removes it.
std::string RemoveTableText();

}  // namespace ward::agent::egress
