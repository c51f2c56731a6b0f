// IPS events come from agents: the tuning view's extraction (manager/store/ips_matches.h) reads
// each stored IPS document at ingestion. It must never crash on any JSON, and the request path
// it keeps (RequestTargetPath) must be covered by every path prefix exactly when the whole
// target is, as the agent's matcher decides. Input: an event document (JSON); when it is not
// JSON, the bytes are taken as a request target.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "agent/modules/ips/path_prefix.h"
#include "manager/store/ips_matches.h"

using namespace ward::manager;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  nlohmann::json doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  std::string target = in;
  if (!doc.is_discarded()) {
    for (const IpsMatch& m : TunableIpsMatches(doc)) {
      if (m.id.empty() || IsIpsEvaluationRule(m.id)) __builtin_trap();
    }
    IpsEventFacts f = IpsFactsOf("ips", "detected", 2, doc);
    if (!f.tuned || !f.would_block || f.blocked) __builtin_trap();
    target = IpsString(doc.is_object() && doc.contains("url") && doc["url"].is_object()
                           ? doc["url"].value("original", nlohmann::json())
                           : nlohmann::json());
  }
  std::string cut = RequestTargetPath(target);
  if (cut.size() > target.size() || target.compare(0, cut.size(), cut) != 0) __builtin_trap();
  for (const char* prefix : {"/", "/api", "/api/", "/admin", "/a/b"}) {
    if (ward::agent::ips::PathPrefixMatches(cut, prefix) !=
        ward::agent::ips::PathPrefixMatches(target, prefix)) {
      __builtin_trap();
    }
  }
  return 0;
}
