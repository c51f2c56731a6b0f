// Reputation: the lists egress decides with — feeds the manager distributes (hosts files, plain
// domain lists, URLhaus CSV, Spamhaus DROP/DROPv6) and the policy's own allow/block entries
// (domain suffixes, URL prefixes, CIDRs) — each list with a category and a risk, matched against
// a security level as Deep Security's Web Reputation does (docs/egress.md, "Lists").
// Feed text is untrusted: a line that cannot be read is skipped and counted, never fatal, so one
// bad line does not lose a feed (fuzz_egress_feeds).
// Thread-safety: const methods may run concurrently; loading needs exclusive access (the module
// builds a new Reputation and swaps it in).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/modules/egress/name_index.h"
#include "agent/modules/firewall/config.h"
#include "common/status.h"

namespace ward::agent::egress {

using firewall::Cidr;

// How bad a list says its entries are. A security level enforces: low → dangerous;
// medium → dangerous and highly suspicious; high → all three.
enum class Risk { kDangerous, kHighlySuspicious, kSuspicious };
enum class SecurityLevel { kLow, kMedium, kHigh };
std::string_view RiskName(Risk r);
bool Enforced(Risk risk, SecurityLevel level);

enum class FeedFormat { kHosts, kDomains, kUrlhausCsv, kSpamhausDrop, kCustom };
std::optional<FeedFormat> FeedFormatFromName(std::string_view name);

// The strict reading of a feed the manager distributes (docs/egress.md "Managed feeds"): where
// Reputation::Load skips a line it cannot read, a feed offered for distribution is refused —
// at upload on the manager, and again by the agent before it installs a bundle — with
// InvalidArgument naming the first such line ("line 9: \"not a url\" is not a urlhaus_csv
// entry (2 unreadable lines)"). `entries` (optional) receives the number of entries read.
Status CheckFeed(FeedFormat format, std::string_view text, size_t* entries = nullptr);
// The agent's check of a file of a "feeds" bundle before it is installed: the format its
// extension names (agent/updates/layout.h), read strictly; errors name the file and the line.
Status CheckFeedFile(const std::filesystem::path& file);

struct ListInfo {
  std::string name;      // "urlhaus", "policy.block", ...
  std::string category;  // "malware", "phishing", "custom", ...
  Risk risk = Risk::kDangerous;
  bool allow = false;  // an allow list: a match means "never block"
};

struct LoadStats {
  size_t names = 0;
  size_t url_prefixes = 0;
  size_t cidrs = 0;
  size_t skipped = 0;    // lines that could not be read
  size_t first_bad = 0;  // 1-based line number of the first skipped line (0: none)
};

struct Match {
  const ListInfo* list = nullptr;
  std::string entry;  // the domain, URL prefix or CIDR that matched
};

class Reputation {
 public:
  // REQUIRES: fewer than 65,535 lists.
  uint16_t AddList(ListInfo info);
  const ListInfo& list(uint16_t id) const { return lists_[id]; }
  size_t list_count() const { return lists_.size(); }

  // Reads `text` in `format` into list `id`.
  LoadStats Load(uint16_t id, FeedFormat format, std::string_view text);
  // One custom entry: a domain ("example.com", "*.example.com"), a URL prefix ("http://x/y/") or
  // a CIDR / address. InvalidArgument naming the entry otherwise.
  Status AddEntry(uint16_t id, std::string_view entry);

  // An allow-list match if there is one (allow wins), else the most specific block-list match.
  std::optional<Match> MatchName(std::string_view normalized_name) const;
  // URL prefixes (case-insensitive scheme and host; the path as written), then the URL's host.
  std::optional<Match> MatchUrl(std::string_view url) const;
  // The CIDR lists; `address` is text ("192.0.2.1").
  std::optional<Match> MatchAddress(std::string_view address) const;

  // The block lists' CIDRs whose risk `level` enforces, per family (for the kernel's sets).
  std::vector<Cidr> BlockedCidrs(bool v6, SecurityLevel level) const;
  // The allow lists' CIDRs, per family.
  std::vector<Cidr> AllowedCidrs(bool v6) const;
  size_t names() const { return block_names_.size() + allow_names_.size(); }
  size_t MemoryBytes() const;

 private:
  bool AddName(uint16_t id, std::string_view name);
  bool AddUrl(uint16_t id, std::string_view url);
  std::vector<ListInfo> lists_;
  NameIndex block_names_;
  NameIndex allow_names_;
  // Host → (prefix, list) of the URL lists; the prefix normalised as NormalizeUrl does.
  std::map<std::string, std::vector<std::pair<std::string, uint16_t>>, std::less<>> urls_;
  std::vector<std::pair<Cidr, uint16_t>> cidrs_;
};

// The ports of a service allow-list entry (docs/egress.md, "Per-service allow-lists").
struct PortRange {
  uint16_t first = 1;
  uint16_t last = 65535;
  bool Contains(uint16_t port) const { return port >= first && port <= last; }
  bool any() const { return first == 1 && last == 65535; }
  bool operator==(const PortRange&) const = default;
  auto operator<=>(const PortRange&) const = default;
};

// An entry split into its destination and ports: "api.example.com:443",
// "10.0.0.0/8:5432", "10.0.0.0/8:5000-5999", "[2001:db8::/32]:443" (an IPv6 destination with a
// port is bracketed); without a port ("api.example.com", "2001:db8::/32", a URL prefix, whose
// port is in the URL) the ports are nullopt (any). InvalidArgument naming the entry for a port
// that is not 1-65535, an empty range, or an empty port. The destination is not checked.
struct EntryWithPorts {
  std::string destination;
  std::optional<PortRange> ports;
};
Result<EntryWithPorts> SplitPorts(std::string_view entry);

// "HTTP://Example.COM:80/a" → "http://example.com/a": scheme and host lower case, the default
// port dropped, a missing path becomes "/". nullopt when it is not an http(s) URL with a host.
struct Url {
  std::string scheme;
  std::string host;
  std::string text;  // the whole normalised URL
};
std::optional<Url> NormalizeUrl(std::string_view url);

}  // namespace ward::agent::egress
