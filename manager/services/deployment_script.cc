#include "manager/services/deployment_script.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/text.h"

namespace ward::manager {
namespace {

bool HasControl(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

bool IsHex64(std::string_view s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

bool IsHostPort(std::string_view s) {
  if (s.empty() || s.size() > 260) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == ':' || c == '[' || c == ']';
  });
}

Status Invalid(std::string_view field, std::string_view what) {
  return InvalidArgument(fmt::format("{}: {}", field, what));
}

// The part of the script after the values: the same for every tenant.
constexpr std::string_view kBody = R"SH(
say() { printf 'ward-deploy: %s\n' "$*"; }
fail() { printf 'ward-deploy: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run this script as root"
command -v dpkg >/dev/null 2>&1 || fail "dpkg not found: ward-agent is a Debian package (Debian 12 or alike)"
command -v curl >/dev/null 2>&1 || fail "curl not found (apt-get install curl)"

arch=$(dpkg --print-architecture)
package=
sha256=
case $arch in
@PACKAGES@
  *) fail "the manager has no ward-agent package for $arch" ;;
esac

# The proxy, if any, for curl and for the agent (which keeps it for every later request).
set --
if [ -n "$PROXY" ]; then set -- --proxy "$PROXY"; fi

# 1. The package: kept when this version or a newer one is installed.
current=$(dpkg-query -W -f='${db:Status-Abbrev}${Version}' ward-agent 2>/dev/null || true)
case $current in
  "ii "*) current=${current#ii } ;;
  *) current= ;;
esac
if [ -n "$current" ] && dpkg --compare-versions "$current" ge "$AGENT_VERSION"; then
  say "ward-agent $current is installed: kept"
else
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  chmod 755 "$tmp"
  say "downloading $package from $MANAGER_URL"
  # --insecure skips the CA and host name checks only: --pinnedpubkey still refuses any server
  # whose key is not the manager's, and the package's SHA-256 is checked below.
  curl --fail --silent --show-error --insecure --pinnedpubkey "$MANAGER_PUBKEY_PIN" \
    --retry 5 --retry-delay 2 --retry-connrefused --connect-timeout 30 "$@" \
    --output "$tmp/$package" "$MANAGER_URL/agent/v1/packages/$package" ||
    fail "downloading $package failed (curl exit $?; 90 = not the manager's key)"
  printf '%s  %s\n' "$sha256" "$tmp/$package" | sha256sum -c --status - ||
    fail "$package: its SHA-256 is not the one the manager announced"
  chmod 644 "$tmp/$package"
  say "installing $package"
  if command -v apt-get >/dev/null 2>&1; then
    # apt-get resolves the libraries it depends on (through the proxy, if any).
    if [ -n "$PROXY" ]; then
      http_proxy=$PROXY https_proxy=$PROXY DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q "$tmp/$package" ||
        { http_proxy=$PROXY https_proxy=$PROXY apt-get update -q &&
          http_proxy=$PROXY https_proxy=$PROXY DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q "$tmp/$package"; } || fail "apt-get install failed"
    else
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$tmp/$package" ||
        { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$tmp/$package"; } ||
        fail "apt-get install failed"
    fi
  else
    dpkg -i "$tmp/$package" || fail "dpkg -i failed (missing libraries? install them and run this again)"
  fi
fi

# 2. Activation: kept when this host already has an identity.
if [ -s "$STATE_DIR/transport/identity.json" ]; then
  say "already activated ($STATE_DIR/transport/identity.json): kept"
else
  say "activating with $MANAGER_URL"
  ward-agent activate --manager "$MANAGER_URL" --token "$ACTIVATION_TOKEN" \
    --manager-fingerprint "$MANAGER_FINGERPRINT" --state-dir "$STATE_DIR" "$@" ||
    fail "activation failed (see the message above)"
fi

# 3. The service.
if [ -d /run/systemd/system ]; then
  systemctl enable ward-agent >/dev/null 2>&1 || true
  systemctl start ward-agent || fail "systemctl start ward-agent failed (journalctl -u ward-agent)"
  say "ward-agent is running"
else
  say "no systemd on this host: start the agent with: ward-agent run --state-dir $STATE_DIR"
fi
)SH";

}  // namespace

std::string ShellQuote(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

Result<std::string> DeploymentScript(const DeploymentScriptInput& in) {
  for (auto [field, value] :
       {std::pair<std::string_view, std::string_view>{"tenant_name", in.tenant_name},
        {"manager_url", in.manager_url},
        {"token", in.token},
        {"proxy", in.proxy},
        {"agent_version", in.agent_version}}) {
    if (HasControl(value)) return Invalid(field, "control characters are not allowed");
  }
  constexpr std::string_view kHttps = "https://";
  std::string_view url = in.manager_url;
  if (url.ends_with('/')) url.remove_suffix(1);
  if (!url.starts_with(kHttps) || !IsHostPort(url.substr(kHttps.size()))) {
    return Invalid("manager_url", "expected https://HOST[:PORT] without a path");
  }
  if (!in.proxy.empty() && (!in.proxy.starts_with("http://") || in.proxy.size() <= 7 ||
                            in.proxy.size() > 1024 || in.proxy.find(' ') != std::string::npos)) {
    return Invalid("proxy", "expected http://[USER:PASSWORD@]HOST:PORT");
  }
  if (!IsHex64(in.fingerprint)) return Invalid("fingerprint", "expected 64 hex digits");
  if (!in.pubkey_pin.starts_with("sha256//") || in.pubkey_pin.size() != 8 + 44) {
    return Invalid("pubkey_pin", "expected sha256//<base64 of 32 bytes>");
  }
  if (!in.token.starts_with("wat_")) return Invalid("token", "expected an activation token");
  if (in.packages.empty()) return Invalid("packages", "no ward-agent package to deploy");
  std::string cases;
  for (const auto& p : in.packages) {
    if (!IsHex64(p.sha256) || p.arch.empty() || p.file.empty() || HasControl(p.file) ||
        HasControl(p.arch)) {
      return Invalid("packages", fmt::format("{}: malformed", p.file));
    }
    cases += fmt::format("  {}) package={}; sha256={} ;;\n", ShellQuote(p.arch), ShellQuote(p.file),
                         ShellQuote(p.sha256));
  }
  if (!cases.empty()) cases.pop_back();
  std::string head = fmt::format(
      "#!/bin/sh\n"
      "# Ward agent deployment for tenant {}, made by ward-manager {} at {}.\n"
      "# Run as root on the host to protect: sh ward-deploy.sh\n"
      "# Downloads ward-agent from the manager (its TLS key pinned), checks the package's "
      "SHA-256,\n"
      "# installs it, activates the agent with the activation token below and starts it. Safe "
      "to\n"
      "# run again: an installed package of this version or newer and an existing activation are\n"
      "# kept. WARD_PROXY in the environment replaces the proxy below (empty: direct).\n"
      "# It holds an activation token: keep it as secret as the token.\n"
      "set -eu\n\n"
      "MANAGER_URL={}\n"
      "MANAGER_FINGERPRINT={}\n"
      "MANAGER_PUBKEY_PIN={}\n"
      "ACTIVATION_TOKEN={}\n"
      "PROXY=${{WARD_PROXY-{}}}\n"
      "AGENT_VERSION={}\n"
      "STATE_DIR=/var/lib/ward\n",
      // The comment line: the name quoted and with newlines refused above.
      ShellQuote(in.tenant_name), in.manager_version.empty() ? "?" : in.manager_version,
      in.generated_at.empty() ? "?" : in.generated_at, ShellQuote(url), ShellQuote(in.fingerprint),
      ShellQuote(in.pubkey_pin), ShellQuote(in.token), ShellQuote(in.proxy),
      ShellQuote(in.agent_version));
  std::string body(kBody);
  body.replace(body.find("@PACKAGES@"), 10, cases);
  return head + body;
}

std::string CloudInitUserData(std::string_view script, std::string_view tenant_name) {
  std::string name;
  for (char c : tenant_name) name += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
  return fmt::format(
      "#cloud-config\n"
      "# Ward agent deployment for tenant {}: user data for a launch template. Holds an\n"
      "# activation token: keep it as secret as the token.\n"
      "write_files:\n"
      "  - path: /root/ward-deploy.sh\n"
      "    owner: root:root\n"
      "    permissions: '0700'\n"
      "    encoding: b64\n"
      "    content: {}\n"
      "runcmd:\n"
      "  - [sh, -c, 'sh /root/ward-deploy.sh && rm -f /root/ward-deploy.sh']\n",
      name, Base64Encode(script));
}

}  // namespace ward::manager
