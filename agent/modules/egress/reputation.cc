#include "agent/modules/egress/reputation.h"

#include <fmt/format.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "agent/updates/layout.h"

namespace ward::agent::egress {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Calls f(line) for each line of `text`, with its 1-based number.
template <typename F>
void ForEachLine(std::string_view text, F f) {
  size_t number = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    f(++number, line);
  }
}

// Names a hosts file maps to itself that are no destination.
bool IsLocalHostName(std::string_view n) {
  return n == "localhost" || n == "localhost.localdomain" || n == "local" || n == "broadcasthost" ||
         n == "ip6-localhost" || n == "ip6-loopback" || n == "ip6-localnet" ||
         n == "ip6-mcastprefix" || n == "ip6-allnodes" || n == "ip6-allrouters" ||
         n == "ip6-allhosts" || n == "0.0.0.0";
}

// The fields of one CSV line (RFC 4180 quotes; a line break inside quotes is not supported).
std::vector<std::string> CsvFields(std::string_view line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        out.back().push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        out.back().push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else {
      out.back().push_back(c);
    }
  }
  return out;
}

}  // namespace

std::string_view RiskName(Risk r) {
  switch (r) {
    case Risk::kDangerous:
      return "dangerous";
    case Risk::kHighlySuspicious:
      return "highly_suspicious";
    case Risk::kSuspicious:
      return "suspicious";
  }
  return "dangerous";
}

bool Enforced(Risk risk, SecurityLevel level) {
  switch (level) {
    case SecurityLevel::kLow:
      return risk == Risk::kDangerous;
    case SecurityLevel::kMedium:
      return risk != Risk::kSuspicious;
    case SecurityLevel::kHigh:
      return true;
  }
  return true;
}

std::optional<FeedFormat> FeedFormatFromName(std::string_view n) {
  if (n == "hosts") return FeedFormat::kHosts;
  if (n == "domains") return FeedFormat::kDomains;
  if (n == "urlhaus_csv") return FeedFormat::kUrlhausCsv;
  if (n == "spamhaus_drop") return FeedFormat::kSpamhausDrop;
  if (n == "custom") return FeedFormat::kCustom;
  return std::nullopt;
}

std::optional<Url> NormalizeUrl(std::string_view u) {
  u = Trim(u);
  size_t colon = u.find("://");
  if (colon == std::string_view::npos) return std::nullopt;
  std::string scheme = Lower(u.substr(0, colon));
  if (scheme != "http" && scheme != "https") return std::nullopt;
  std::string_view rest = u.substr(colon + 3);
  size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "/" : rest.substr(slash);
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  std::string host;
  std::string port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = Lower(authority.substr(1, close - 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':') {
      port = authority.substr(close + 2);
    }
  } else {
    size_t c = authority.find(':');
    host = Lower(authority.substr(0, c));
    if (c != std::string_view::npos) port = authority.substr(c + 1);
  }
  while (!host.empty() && host.back() == '.') host.pop_back();
  if (host.empty()) return std::nullopt;
  if ((scheme == "http" && port == "80") || (scheme == "https" && port == "443")) port.clear();
  Url out;
  out.scheme = scheme;
  out.host = host;
  bool brackets = host.find(':') != std::string::npos;
  out.text = fmt::format("{}://{}{}{}{}{}", scheme, brackets ? "[" : "", host, brackets ? "]" : "",
                         port.empty() ? "" : ":", port);
  if (path.front() != '/') out.text.push_back('/');
  out.text.append(path);
  return out;
}

Status CheckFeed(FeedFormat format, std::string_view text, size_t* entries) {
  static constexpr std::string_view kNames[] = {"hosts", "domains", "urlhaus_csv", "spamhaus_drop",
                                                "custom"};
  if (text.find('\0') != std::string_view::npos) {
    return InvalidArgument("a feed is text: this one has a NUL byte");
  }
  Reputation r;
  uint16_t id = r.AddList({"check", "check", Risk::kDangerous, false});
  LoadStats st = r.Load(id, format, text);
  if (entries != nullptr) *entries = st.names + st.url_prefixes + st.cidrs;
  if (st.skipped == 0) return Status::Ok();
  std::string_view bad;
  ForEachLine(text, [&](size_t number, std::string_view line) {
    if (number == st.first_bad) bad = Trim(line);
  });
  std::string shown(bad.substr(0, 80));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return InvalidArgument(fmt::format("line {}: \"{}{}\" is not a {} entry ({} unreadable line{})",
                                     st.first_bad, shown, bad.size() > 80 ? "..." : "",
                                     kNames[static_cast<int>(format)], st.skipped,
                                     st.skipped == 1 ? "" : "s"));
}

Status CheckFeedFile(const std::filesystem::path& file) {
  const std::string name = file.filename().string();
  auto [feed, format_name] = updates::FeedOfFile(name);
  auto format = FeedFormatFromName(format_name);
  if (feed.empty() || !format) {
    return InvalidArgument(fmt::format("file {}: not a feed file name", name));
  }
  std::ifstream in(file, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) return Unavailable(fmt::format("file {}: cannot be read", name));
  if (Status s = CheckFeed(*format, text); !s.ok()) {
    return InvalidArgument(fmt::format("file {}: {}", name, s.message()));
  }
  return Status::Ok();
}

uint16_t Reputation::AddList(ListInfo info) {
  lists_.push_back(std::move(info));
  return static_cast<uint16_t>(lists_.size() - 1);
}

bool Reputation::AddName(uint16_t id, std::string_view text) {
  auto n = NormalizeName(text);
  if (!n) return false;
  (lists_[id].allow ? allow_names_ : block_names_).Insert(*n, id);
  return true;
}

bool Reputation::AddUrl(uint16_t id, std::string_view text) {
  auto u = NormalizeUrl(text);
  if (!u) return false;
  urls_[u->host].emplace_back(u->text, id);
  return true;
}

Status Reputation::AddEntry(uint16_t id, std::string_view entry) {
  entry = Trim(entry);
  if (entry.find("://") != std::string_view::npos) {
    if (AddUrl(id, entry)) return Status::Ok();
    return InvalidArgument(fmt::format("\"{}\" is not an http or https URL prefix", entry));
  }
  if (auto c = firewall::ParseCidr(entry)) {
    cidrs_.emplace_back(*c, id);
    return Status::Ok();
  }
  if (AddName(id, entry)) return Status::Ok();
  return InvalidArgument(
      fmt::format("\"{}\" is neither a domain name, a URL prefix nor a CIDR", entry));
}

LoadStats Reputation::Load(uint16_t id, FeedFormat format, std::string_view text) {
  LoadStats st;
  if (format == FeedFormat::kDomains || format == FeedFormat::kHosts) {
    // About 20 bytes a name: reserve once, so a million names do not rehash ten times.
    size_t estimate = text.size() / 20 + 16;
    NameIndex& index = lists_[id].allow ? allow_names_ : block_names_;
    index.Reserve(index.size() + estimate, text.size());
  }
  auto skip = [&](size_t number) {
    ++st.skipped;
    if (st.first_bad == 0) st.first_bad = number;
  };
  ForEachLine(text, [&](size_t number, std::string_view line) {
    switch (format) {
      case FeedFormat::kHosts: {
        if (size_t hash = line.find('#'); hash != std::string_view::npos) {
          line = line.substr(0, hash);
        }
        line = Trim(line);
        if (line.empty()) return;
        // "0.0.0.0 name [name...]": the address is the sinkhole, the names are listed.
        size_t ws = line.find_first_of(" \t");
        if (ws == std::string_view::npos) return skip(number);
        std::string_view names = line.substr(ws);
        bool any = false;
        while (true) {
          names = Trim(names);
          if (names.empty()) break;
          size_t end = names.find_first_of(" \t");
          std::string_view n = names.substr(0, end);
          names.remove_prefix(end == std::string_view::npos ? names.size() : end);
          if (IsLocalHostName(n)) {
            any = true;
            continue;
          }
          if (AddName(id, n)) {
            ++st.names;
            any = true;
          }
        }
        if (!any) skip(number);
        return;
      }
      case FeedFormat::kDomains: {
        if (size_t hash = line.find('#'); hash != std::string_view::npos) {
          line = line.substr(0, hash);
        }
        line = Trim(line);
        if (line.empty()) return;
        if (AddName(id, line)) {
          ++st.names;
        } else {
          skip(number);
        }
        return;
      }
      case FeedFormat::kUrlhausCsv: {
        line = Trim(line);
        if (line.empty() || line.front() == '#') return;
        // id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter
        auto fields = CsvFields(line);
        if (fields.size() >= 3 && AddUrl(id, fields[2])) {
          ++st.url_prefixes;
        } else {
          skip(number);
        }
        return;
      }
      case FeedFormat::kSpamhausDrop: {
        line = Trim(line);
        if (line.empty() || line.front() == ';' || line.front() == '#') return;
        std::string cidr;
        if (line.front() == '{') {
          // The JSON-lines edition: {"cidr":"1.10.16.0/20","sblid":"SBL256894","rir":"apnic"};
          // its last line is metadata ({"type":"metadata",...}) and is not an entry.
          auto j = nlohmann::json::parse(line, nullptr, false);
          if (j.is_object() && j.contains("type") && !j.contains("cidr")) return;
          if (!j.is_object() || !j.contains("cidr") || !j["cidr"].is_string()) {
            return skip(number);
          }
          cidr = j["cidr"].get<std::string>();
        } else {
          cidr = std::string(Trim(line.substr(0, line.find(';'))));
        }
        if (auto c = firewall::ParseCidr(cidr)) {
          cidrs_.emplace_back(*c, id);
          ++st.cidrs;
        } else {
          skip(number);
        }
        return;
      }
      case FeedFormat::kCustom: {
        line = Trim(line);
        if (line.empty() || line.front() == '#') return;
        if (size_t c = line.find(" #"); c != std::string_view::npos) line = line.substr(0, c);
        line = Trim(line);
        if (line.empty()) return;
        bool url = line.find("://") != std::string_view::npos;
        bool cidr = !url && firewall::ParseCidr(line).has_value();
        if (!AddEntry(id, line).ok()) return skip(number);
        ++(url ? st.url_prefixes : cidr ? st.cidrs : st.names);
        return;
      }
    }
  });
  return st;
}

std::optional<Match> Reputation::MatchName(std::string_view name) const {
  if (auto h = allow_names_.Match(name)) return Match{&lists_[h->value], std::string(h->entry)};
  if (auto h = block_names_.Match(name)) return Match{&lists_[h->value], std::string(h->entry)};
  return std::nullopt;
}

std::optional<Match> Reputation::MatchUrl(std::string_view url) const {
  auto u = NormalizeUrl(url);
  if (!u) return std::nullopt;
  std::optional<Match> best;
  if (auto it = urls_.find(u->host); it != urls_.end()) {
    for (const auto& [prefix, id] : it->second) {
      if (u->text.compare(0, prefix.size(), prefix) != 0) continue;
      bool better = !best || (lists_[id].allow && !best->list->allow) ||
                    (lists_[id].allow == best->list->allow && prefix.size() > best->entry.size());
      if (better) best = Match{&lists_[id], prefix};
    }
  }
  if (best && best->list->allow) return best;
  if (auto n = NormalizeName(u->host)) {
    if (auto m = MatchName(*n); m && (m->list->allow || !best)) return m;
  }
  return best;
}

std::optional<Match> Reputation::MatchAddress(std::string_view address) const {
  auto host = firewall::ParseCidr(address);
  if (!host) return std::nullopt;
  std::optional<Match> best;
  int best_prefix = -1;
  for (const auto& [cidr, id] : cidrs_) {
    if (cidr.v6 != host->v6 || !cidr.Contains(*host)) continue;
    bool allow = lists_[id].allow;
    bool better = !best || (allow && !best->list->allow) ||
                  (allow == best->list->allow && cidr.prefix > best_prefix);
    if (better) {
      best = Match{&lists_[id], cidr.ToString()};
      best_prefix = cidr.prefix;
    }
  }
  return best;
}

std::vector<Cidr> Reputation::BlockedCidrs(bool v6, SecurityLevel level) const {
  std::vector<Cidr> out;
  for (const auto& [cidr, id] : cidrs_) {
    if (cidr.v6 == v6 && !lists_[id].allow && Enforced(lists_[id].risk, level)) {
      out.push_back(cidr);
    }
  }
  return out;
}

std::vector<Cidr> Reputation::AllowedCidrs(bool v6) const {
  std::vector<Cidr> out;
  for (const auto& [cidr, id] : cidrs_) {
    if (cidr.v6 == v6 && lists_[id].allow) out.push_back(cidr);
  }
  return out;
}

size_t Reputation::MemoryBytes() const {
  size_t urls = 0;
  for (const auto& [host, v] : urls_) {
    urls += host.capacity() + 64;
    for (const auto& p : v) urls += p.first.capacity() + sizeof p;
  }
  return block_names_.MemoryBytes() + allow_names_.MemoryBytes() + urls +
         cidrs_.capacity() * sizeof(cidrs_[0]);
}

namespace {

std::optional<uint16_t> ReadPort(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  uint32_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v < 1 || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

}  // namespace

Result<EntryWithPorts> SplitPorts(std::string_view entry) {
  entry = Trim(entry);
  EntryWithPorts out;
  std::string_view ports;
  if (entry.find("://") != std::string_view::npos) {
    out.destination = std::string(entry);
    return out;
  }
  if (!entry.empty() && entry.front() == '[') {
    const size_t close = entry.find(']');
    if (close == std::string_view::npos) {
      return InvalidArgument(fmt::format("\"{}\": no ']' after the '['", entry));
    }
    out.destination = std::string(entry.substr(1, close - 1));
    std::string_view rest = entry.substr(close + 1);
    if (rest.empty()) return out;
    if (rest.front() != ':') {
      return InvalidArgument(fmt::format("\"{}\": expected ':' and ports after ']'", entry));
    }
    ports = rest.substr(1);
  } else {
    const size_t colon = entry.find(':');
    if (colon == std::string_view::npos || entry.find(':', colon + 1) != std::string_view::npos) {
      out.destination = std::string(entry);  // no port, or an IPv6 address without brackets
      return out;
    }
    out.destination = std::string(entry.substr(0, colon));
    ports = entry.substr(colon + 1);
  }
  const size_t dash = ports.find('-');
  auto first = ReadPort(ports.substr(0, dash));
  auto last = dash == std::string_view::npos ? first : ReadPort(ports.substr(dash + 1));
  if (!first || !last) {
    return InvalidArgument(fmt::format(
        "\"{}\": \"{}\" is not a port (1-65535) or a port range (first-last)", entry, ports));
  }
  if (*first > *last) {
    return InvalidArgument(fmt::format("\"{}\": the port range {} is empty", entry, ports));
  }
  out.ports = PortRange{*first, *last};
  return out;
}

}  // namespace ward::agent::egress
