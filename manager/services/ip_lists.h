// Tenant-wide IP lists in firewall policies (issue 17, docs/firewall.md "IP lists"): a policy's
// firewall section names lists (`rules[].remote_lists`, `active_response.never_block_lists`);
// those it does not define in `firewall.ip_lists` itself come from the tenant's lists, merged in
// when the manager validates the policy and when it sends it to an agent, so the agent sees one
// self-contained document.
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "manager/store/store.h"

namespace ward::manager {

// The list names `document`'s firewall section uses that it does not define itself.
std::set<std::string> ExternalIpListNames(const nlohmann::json& document);

// `document` with every tenant list it uses (ExternalIpListNames) added to firewall.ip_lists;
// names the tenant has no list for are left out (the agent's parser then refuses the document,
// naming the list). A document without a firewall section is returned as it is.
nlohmann::json WithTenantIpLists(const nlohmann::json& document, const std::vector<IpList>& lists);

// A list name as the firewall module accepts it: 1..64 of [A-Za-z0-9_.-], starting with a
// letter or digit.
bool ValidIpListName(const std::string& name);

}  // namespace ward::manager
