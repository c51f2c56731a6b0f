// The `ips` module: host IPS/WAF. Inline through NFQUEUE (detect or prevent) or passive through
// libpcap (detect), HTTP/1.1 reassembled and parsed on the host, libmodsecurity + OWASP CRS rules.
// See docs/ips.md.
#pragma once

#include <memory>

#include "agent/core/module.h"
#include "agent/modules/ips/schema.h"

namespace ward::agent::ips {

std::unique_ptr<Module> Create(const ModuleContext& ctx);

}  // namespace ward::agent::ips
