#include "manager/store/ips_matches.h"

#include <string_view>

#include "common/json_path.h"

namespace ward::manager {

using json = nlohmann::json;

bool IsIpsEvaluationRule(const std::string& id) {
  return id == "949110" || id == "959100" || id == "980130" || id == "980140" || id == "980170";
}

std::string IpsString(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  return "";
}

std::vector<IpsMatch> TunableIpsMatches(const json& doc) {
  std::vector<IpsMatch> out;
  const json& matches = JsonAt(doc, {"ips", "matches"});
  if (matches.is_array()) {
    for (const auto& m : matches) {
      if (!m.is_object()) continue;
      IpsMatch x{IpsString(m.value("id", json())), IpsString(m.value("variable", json())),
                 IpsString(m.value("message", json())), IpsString(m.value("data", json()))};
      if (!x.id.empty() && !IsIpsEvaluationRule(x.id)) out.push_back(std::move(x));
    }
    return out;
  }
  const json& ids = JsonAt(doc, {"rule", "id"});
  for (const json& id : ids.is_array() ? ids : json::array({ids})) {
    std::string s = IpsString(id);
    if (!s.empty() && !IsIpsEvaluationRule(s)) out.push_back({s, "", "", ""});
  }
  return out;
}

std::string RequestTargetPath(const std::string& target) {
  size_t from = 0;
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() < scheme.size()) continue;
    bool same = true;
    for (size_t i = 0; i < scheme.size(); ++i) {
      char c = target[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != scheme[i]) same = false;
    }
    if (same) {
      from = target.find('/', scheme.size());
      if (from == std::string::npos) return target;  // no path: "/" whatever follows
      break;
    }
  }
  size_t q = target.find_first_of("?#", from);
  return q == std::string::npos ? target : target.substr(0, q);
}

IpsEventFacts IpsFactsOf(const std::string& module, const std::string& action, int severity,
                         const json& doc) {
  IpsEventFacts f;
  if (module != "ips" || (action != "detected" && action != "blocked")) return f;
  f.tuned = true;
  f.blocked = action == "blocked";
  f.would_block = action == "detected" && severity >= 2;
  f.client = IpsString(JsonAt(doc, {"source", "ip"}));
  f.path = IpsString(JsonAt(doc, {"url", "path"}));
  f.url = IpsString(JsonAt(doc, {"url", "original"}));
  if (f.url.empty()) f.url = f.path;
  f.url = RequestTargetPath(f.url);
  return f;
}

}  // namespace ward::manager
