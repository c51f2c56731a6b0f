// Deployment scripts (docs/deployment.md): the POSIX sh script a host runs to become a protected
// agent of a tenant — download ward-agent from the manager with its TLS key pinned, check the
// package's SHA-256, install it, activate with the tenant's activation token (optionally through
// an HTTP proxy) and start the service — and the cloud-init user data that runs it at an
// instance's first boot (auto-scaling launch templates). Safe to run twice: a package of the
// same or a newer version and an existing activation are kept.
//
// Pure functions over their inputs: no I/O. Every value is single-quoted in the script, so no
// input can change what it runs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ward::manager {

struct ScriptPackage {
  std::string arch;    // dpkg --print-architecture ("amd64")
  std::string file;    // served as /agent/v1/packages/<file>
  std::string sha256;  // 64 hex
};

struct DeploymentScriptInput {
  std::string tenant_name;
  std::string manager_url;              // "https://HOST[:PORT]", no path
  std::string fingerprint;              // SHA-256 of the certificate's DER (64 hex), for ward-agent
  std::string pubkey_pin;               // "sha256//<base64>", for curl --pinnedpubkey
  std::string token;                    // the activation token ("wat_...")
  std::string proxy;                    // "http://[user:pass@]HOST:PORT"; "" = direct
  std::string agent_version;            // the packages' version
  std::vector<ScriptPackage> packages;  // at least one
  std::string generated_at;             // RFC 3339, for the header comment
  std::string manager_version;
};

// kInvalidArgument naming the field: manager_url not https://HOST[:PORT] (letters, digits,
// '.', '-', ':', '[', ']'), proxy not http://..., a control character in any value, a
// fingerprint or pin of the wrong shape, no package.
Result<std::string> DeploymentScript(const DeploymentScriptInput& in);

// "#cloud-config" user data: writes the script to /root/ward-deploy.sh (0700, base64 in the
// YAML so no character of it needs escaping) and runs it once, removing it after success.
std::string CloudInitUserData(std::string_view script, std::string_view tenant_name);

// 'text' for sh, with every ' written as '\''.
std::string ShellQuote(std::string_view text);

}  // namespace ward::manager
