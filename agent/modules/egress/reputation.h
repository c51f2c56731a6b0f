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

// "HTTP://Example.COM:80/a" → "http://example.com/a": scheme and host lower case, the default
// port dropped, a missing path becomes "/". nullopt when it is not an http(s) URL with a host.
struct Url {
  std::string scheme;
  std::string host;
  std::string text;  // the whole normalised URL
};
std::optional<Url> NormalizeUrl(std::string_view url);

}  // namespace ward::agent::egress
