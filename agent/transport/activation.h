// Activation: trades a tenant activation token for an agent identity (POST /agent/v1/activate),
// pins the manager's certificate (the given fingerprint, or trust on first use) and stores the
// identity (and the policy the token carries) in the state dir.
#pragma once

#include <filesystem>
#include <string>

#include "agent/transport/identity.h"
#include "common/status.h"

namespace ward::agent::transport {

struct ActivationOptions {
  std::string manager_url;
  std::string token;        // may be "" when clone_of is set (re-activation of a cloned host)
  std::string proxy;        // "" = $https_proxy / $HTTPS_PROXY, if any
  std::string fingerprint;  // "" = trust on first use
  std::string clone_of;     // the old credential when a cloned host re-activates
  std::filesystem::path state_dir;
};

struct Activation {
  Identity identity;
  bool trusted_on_first_use = false;
  bool has_policy = false;
};

// Activates and saves identity.json (and policy.json when the token carries a policy).
// Errors: Unauthenticated (token refused), PermissionDenied (certificate does not match the
// fingerprint), Unavailable (network, proxy), InvalidArgument (options, malformed reply).
Result<Activation> Activate(const ActivationOptions& options);

// "Debian GNU/Linux 12 (bookworm)" from /etc/os-release, or "Linux".
std::string OsName();
std::string LocalHostName();

}  // namespace ward::agent::transport
