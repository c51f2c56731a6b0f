#include "agent/transport/activation.h"

#include <fmt/format.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "agent/transport/https_client.h"
#include "agent/version.h"
#include "common/log.h"

namespace ward::agent::transport {

std::string OsName() {
  std::ifstream in("/etc/os-release");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("PRETTY_NAME=")) {
      std::string v = line.substr(12);
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
  }
  return "Linux";
}

std::string LocalHostName() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

Result<Activation> Activate(const ActivationOptions& options) {
  if (options.token.empty() && options.clone_of.empty()) {
    return InvalidArgument("activation: a token is required (--token or agent.manager.token)");
  }
  ClientOptions co;
  co.manager_url = options.manager_url;
  co.proxy_url = options.proxy.empty() ? ProxyFromEnvironment() : options.proxy;
  co.fingerprint = options.fingerprint;
  WARD_ASSIGN_OR_RETURN(auto client, HttpsClient::Create(co));
  Identity id;
  id.machine_id = MachineId();
  nlohmann::json req = {{"hostname", LocalHostName()},
                        {"machine_id", id.machine_id},
                        {"agent_version", std::string(kVersion)},
                        {"os", OsName()}};
  if (!options.token.empty()) req["token"] = options.token;
  if (!options.clone_of.empty()) req["clone_of"] = options.clone_of;
  WARD_ASSIGN_OR_RETURN(
      auto reply, client->Post("/agent/v1/activate", req.dump(), "application/json", false, ""));
  if (reply.status == 401) {
    return Unauthenticated(
        fmt::format("activation refused: {}", ErrorText(reply.status, reply.body)));
  }
  if (reply.status != 201 && reply.status != 200) {
    return Unavailable(fmt::format("activation failed: {}", ErrorText(reply.status, reply.body)));
  }
  WARD_ASSIGN_OR_RETURN(auto parsed, ParseActivateReply(reply.body));
  Activation a;
  a.trusted_on_first_use = options.fingerprint.empty();
  id.agent_id = parsed.agent_id;
  id.credential = parsed.credential;
  id.tenant_id = parsed.tenant_id;
  id.manager_url = options.manager_url;
  id.fingerprint = client->observed_fingerprint();
  id.proxy = options.proxy;
  id.heartbeat_interval_s = parsed.heartbeat_interval_s;
  WARD_CHECK(!id.fingerprint.empty());
  WARD_RETURN_IF_ERROR(SaveIdentity(options.state_dir, id));
  if (parsed.policy) {
    WARD_RETURN_IF_ERROR(SaveCachedPolicy(options.state_dir, *parsed.policy));
    a.has_policy = true;
  }
  a.identity = std::move(id);
  spdlog::info("activated as agent {} (manager {}, certificate SHA-256 {}{})", a.identity.agent_id,
               a.identity.manager_url, a.identity.fingerprint,
               a.trusted_on_first_use ? ", trusted on first use" : "");
  return a;
}

}  // namespace ward::agent::transport
