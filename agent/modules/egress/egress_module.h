// The `egress` module (docs/egress.md): web reputation by name on outbound traffic, without a
// proxy — DNS answers, TLS SNI and HTTP Host/URL read from the first packets of each flow
// (NFQUEUE, Ward's egress slot in agent/net's chains), CIDR lists in the kernel (nftables interval
// sets in `table inet ward_egress`); detect or prevent (NXDOMAIN, reset, 403), fail-open or
// closed; events with the name, how it was learned, the list and category, the verdict, the uid
// (NFQUEUE) and the process (socket-inode lookup).
#pragma once

#include <memory>

#include "agent/core/module.h"
#include "agent/modules/egress/schema.h"

namespace ward::agent::egress {

std::unique_ptr<Module> Create(const ModuleContext& ctx);

// The crash cleanup of an agent whose policy no longer enables egress: removes the table a
// killed agent left (`table inet ward_egress`), if there is one (its iptables rules are removed by
// the agent's ChainManager). Unavailable when nftables cannot be used.
Status RemoveLeftoverTable();

}  // namespace ward::agent::egress
