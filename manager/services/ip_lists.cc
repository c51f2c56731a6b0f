#include "manager/services/ip_lists.h"

#include <algorithm>
#include <cctype>

namespace ward::manager {

using json = nlohmann::json;

namespace {

void AddNames(const json& v, std::set<std::string>& out) {
  if (v.is_string()) {
    out.insert(v.get<std::string>());
  } else if (v.is_array()) {
    for (const auto& n : v) {
      if (n.is_string()) out.insert(n.get<std::string>());
    }
  }
}

}  // namespace

std::set<std::string> ExternalIpListNames(const json& document) {
  std::set<std::string> used;
  if (!document.is_object()) return used;
  auto fw = document.find("firewall");
  if (fw == document.end() || !fw->is_object()) return used;
  if (auto rules = fw->find("rules"); rules != fw->end() && rules->is_array()) {
    for (const auto& r : *rules) {
      if (!r.is_object()) continue;
      if (auto l = r.find("remote_lists"); l != r.end()) AddNames(*l, used);
    }
  }
  if (auto ar = fw->find("active_response"); ar != fw->end() && ar->is_object()) {
    if (auto l = ar->find("never_block_lists"); l != ar->end()) AddNames(*l, used);
  }
  if (auto own = fw->find("ip_lists"); own != fw->end() && own->is_object()) {
    for (auto it = own->begin(); it != own->end(); ++it) used.erase(it.key());
  }
  return used;
}

json WithTenantIpLists(const json& document, const std::vector<IpList>& lists) {
  std::set<std::string> used = ExternalIpListNames(document);
  if (used.empty()) return document;
  json out = document;
  json& own = out["firewall"]["ip_lists"];
  if (!own.is_object()) own = json::object();
  for (const IpList& l : lists) {
    if (used.count(l.name) == 0) continue;
    json entries = json::array();
    for (const auto& e : l.entries) entries.push_back(e);
    own[l.name] = std::move(entries);
  }
  return out;
}

bool ValidIpListName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  if (!std::isalnum(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

}  // namespace ward::manager
