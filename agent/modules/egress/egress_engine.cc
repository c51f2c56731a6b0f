#include "agent/modules/egress/egress_engine.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "agent/modules/egress/dns_message.h"
#include "agent/modules/egress/first_payload.h"
#include "agent/net/packet.h"
#include "agent/updates/layout.h"

namespace ward::agent::egress {
namespace {

constexpr size_t kMaxLearned = 65536;
// Learned names live at least this long, whatever the answer's TTL (clients cache longer than
// they are told), and at most a day.
constexpr std::chrono::seconds kMinLearnedTtl{300};
constexpr std::chrono::seconds kMaxLearnedTtl{86400};
// A first payload split over segments is held up to this size, for at most this many flows
// (the oldest goes first).
constexpr size_t kMaxHeldBytes = 8192;
constexpr size_t kMaxPendingFlows = 1024;

uint16_t Get16(std::string_view b, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(b[at]) << 8) |
                               static_cast<uint8_t>(b[at + 1]));
}

void Put16(std::string& b, size_t at, uint16_t v) {
  b[at] = static_cast<char>(v >> 8);
  b[at + 1] = static_cast<char>(v & 0xFF);
}

uint32_t SumWords(std::string_view b, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < b.size(); i += 2) sum += Get16(b, i);
  if (b.size() % 2) sum += static_cast<uint32_t>(static_cast<uint8_t>(b.back())) << 8;
  return sum;
}

uint16_t Fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xFFFF);
}

std::string AddressText(std::string_view bytes, bool v6) {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), text, sizeof text);
  return text;
}

// The IPv4/IPv6 address at `at` in `packet`. REQUIRES: the packet holds it (a checked header).
net::IpAddress AddressAt(std::string_view packet, size_t at, bool v6) {
  net::IpAddress a;
  a.v6 = v6;
  std::memcpy(a.bytes.data(), packet.data() + at, v6 ? 16 : 4);
  return a;
}

// The IP packet with its UDP payload replaced by `payload`: lengths and checksums recomputed.
// REQUIRES: `l4` is the offset of a UDP header inside `packet` (no IPv6 extension headers).
std::string WithUdpPayload(std::string_view packet, size_t l4, bool v6, std::string_view payload) {
  std::string out(packet.substr(0, l4 + 8));
  out += payload;
  const uint16_t udp_len = static_cast<uint16_t>(8 + payload.size());
  Put16(out, l4 + 4, udp_len);
  Put16(out, l4 + 6, 0);
  uint32_t sum = 0;
  if (v6) {
    Put16(out, 4, udp_len);  // payload length
    sum = SumWords(std::string_view(out).substr(8, 32));
  } else {
    Put16(out, 2, static_cast<uint16_t>(out.size()));
    Put16(out, 10, 0);
    Put16(out, 10, Fold(SumWords(std::string_view(out).substr(0, l4))));
    sum = SumWords(std::string_view(out).substr(12, 8));
  }
  sum += 17 + udp_len;
  uint16_t c = Fold(SumWords(std::string_view(out).substr(l4), sum));
  Put16(out, l4 + 6, c == 0 ? 0xFFFF : c);
  return out;
}

// `packet` (IP + TCP, the TCP header at `l4`) with its TCP checksum recomputed.
std::string WithTcpChecksum(std::string packet, size_t l4, bool v6) {
  Put16(packet, l4 + 16, 0);
  uint32_t sum = 0;
  const size_t tcp_len = packet.size() - l4;
  if (v6) {
    sum = SumWords(std::string_view(packet).substr(8, 32));
  } else {
    sum = SumWords(std::string_view(packet).substr(12, 8));
  }
  sum += 6 + static_cast<uint32_t>(tcp_len);
  Put16(packet, l4 + 16, Fold(SumWords(std::string_view(packet).substr(l4), sum)));
  return packet;
}

std::string_view VerdictName(bool prevent) { return prevent ? "blocked" : "detected"; }

constexpr std::string_view kBlockPage =
    "<!doctype html><title>Blocked</title><h1>403 Blocked</h1>"
    "<p>This address is blocked by the host's egress policy (Ward).</p>\n";

}  // namespace

namespace {

// A "managed:feeds/<name>" list: the bundle's file of that name (whichever format's extension it
// has) and its format.
Result<std::pair<std::string, FeedFormat>> ReadManagedFeed(const FeedSpec& f, std::string_view feed,
                                                           FileSystem& fs,
                                                           const std::filesystem::path& dir) {
  if (dir.empty()) {
    return FailedPrecondition(fmt::format(
        "list {}: {}: managed feeds come with a manager (this agent has none)", f.name, f.path));
  }
  for (const auto& fe : updates::kFeedExtensions) {
    std::filesystem::path file = dir / fmt::format("{}.{}", feed, fe.extension);
    auto text = fs.ReadFile(file.string(), uint64_t{512} << 20);
    if (!text && text.error().code() == StatusCode::kNotFound) continue;
    if (!text) return text.error().WithContext(fmt::format("list {}", f.name));
    FeedFormat format = *FeedFormatFromName(fe.format);
    if (!f.format_from_file && format != f.format) {
      return InvalidArgument(fmt::format("list {}: {} is a {} feed, the policy says another format",
                                         f.name, f.path, fe.format));
    }
    return std::pair{std::move(*text), format};
  }
  return NotFound(fmt::format(
      "list {}: {} is not in the feeds bundle in force (upload it with PUT /api/v1/feeds)", f.name,
      f.path));
}

}  // namespace

Result<std::shared_ptr<const EgressRules>> LoadRules(const EgressConfig& config, FileSystem& fs,
                                                     const std::filesystem::path& feeds_dir) {
  auto rules = std::make_shared<EgressRules>();
  rules->config = config;
  Reputation& r = rules->reputation;
  for (const FeedSpec& f : config.lists) {
    std::string text;
    FeedFormat format = f.format;
    if (std::string_view feed = updates::ManagedFeed(f.path); !feed.empty()) {
      WARD_ASSIGN_OR_RETURN(auto read, ReadManagedFeed(f, feed, fs, feeds_dir));
      text = std::move(read.first);
      format = read.second;
    } else {
      WARD_ASSIGN_OR_RETURN(text, fs.ReadFile(f.path, uint64_t{512} << 20));
    }
    uint16_t id = r.AddList({f.name, f.category, f.risk, f.allow});
    LoadStats st = r.Load(id, format, text);
    std::string note = fmt::format("{}: {} names, {} URL prefixes, {} CIDRs", f.name, st.names,
                                   st.url_prefixes, st.cidrs);
    if (st.skipped > 0) {
      note += fmt::format(", {} line(s) skipped (first: line {})", st.skipped, st.first_bad);
    }
    rules->feed_notes.push_back(std::move(note));
  }
  uint16_t block = r.AddList({"policy.block", "custom", Risk::kDangerous, false});
  for (const std::string& e : config.block) WARD_RETURN_IF_ERROR(r.AddEntry(block, e));
  uint16_t allow = r.AddList({"policy.allow", "custom", Risk::kDangerous, true});
  for (const std::string& e : config.allow) WARD_RETURN_IF_ERROR(r.AddEntry(allow, e));
  for (const ServiceSpec& spec : config.services) {
    ServiceRules sr;
    sr.spec = spec;
    std::map<PortRange, Reputation> groups;
    for (const std::string& e : spec.allow) {
      WARD_ASSIGN_OR_RETURN(EntryWithPorts split, SplitPorts(e));
      Reputation& r = groups[split.ports.value_or(PortRange{})];
      if (r.list_count() == 0) {
        (void)r.AddList({"service:" + spec.id, "service", Risk::kDangerous, true});
      }
      WARD_RETURN_IF_ERROR(r.AddEntry(0, split.destination));
    }
    for (auto& [ports, r] : groups) sr.allow.emplace_back(ports, std::move(r));
    rules->services.push_back(std::move(sr));
  }
  return std::shared_ptr<const EgressRules>(std::move(rules));
}

bool ServiceRules::Allows(const std::string& url, const std::string& name,
                          const std::string& address, uint16_t port) const {
  const auto normalized = name.empty() ? std::nullopt : NormalizeName(name);
  for (const auto& [ports, r] : allow) {
    if (!ports.Contains(port)) continue;
    if (!url.empty() && r.MatchUrl(url)) return true;
    if (normalized && r.MatchName(*normalized)) return true;
    if (r.MatchAddress(address)) return true;
  }
  return false;
}

EgressEngine::EgressEngine(std::shared_ptr<const EgressRules> rules, const Clock& clock,
                           OwnerLookup owner_lookup)
    : rules_(std::move(rules)), clock_(clock), owner_lookup_(std::move(owner_lookup)) {}

std::vector<Event> EgressEngine::TakeProposals() {
  std::vector<Event> out;
  const auto now = clock_.SteadyNow();
  for (const ServiceRules& s : rules_->services) {
    if (s.spec.mode != ServiceMode::kLearn) continue;
    auto [it, inserted] = learning_.try_emplace(s.spec.id, Learning{now, {}, false});
    Learning& l = it->second;
    if (l.proposed || now - l.started < s.spec.learn_for) continue;
    l.proposed = true;
    Event e = Event::Make(clock_, "egress", "info", "allowlist_proposed", Severity::kLow);
    e.Set("egress.service.id", s.spec.id);
    if (!s.spec.unit.empty()) e.Set("systemd.unit", s.spec.unit);
    if (!s.spec.exe.empty()) e.Set("process.executable", s.spec.exe);
    e.Set("egress.proposed_allow",
          std::vector<std::string>(l.destinations.begin(), l.destinations.end()));
    e.Set("egress.learn_for_s",
          std::chrono::duration_cast<std::chrono::seconds>(s.spec.learn_for).count());
    out.push_back(std::move(e));
  }
  return out;
}

Decision EgressEngine::OnPacket(std::string_view packet, bool outbound,
                                std::optional<uint32_t> uid) {
  ++stats_.packets;
  if (packet.empty()) return {};
  const uint8_t version = static_cast<uint8_t>(packet[0]) >> 4;
  size_t l4 = 0;
  uint8_t proto = 0;
  if (version == 4 && packet.size() >= 20) {
    l4 = (static_cast<uint8_t>(packet[0]) & 0x0F) * 4u;
    proto = static_cast<uint8_t>(packet[9]);
    // Fragments (other than a whole datagram) are not read.
    if ((Get16(packet, 6) & 0x3FFF) != 0 || l4 < 20) l4 = 0;
  } else if (version == 6 && packet.size() >= 40) {
    l4 = 40;
    proto = static_cast<uint8_t>(packet[6]);
  }
  if (l4 == 0 || packet.size() < l4) {
    ++stats_.malformed;
    return {};
  }
  if (proto == 17 && !outbound) return OnDns(packet, l4, version == 6, uid);
  if (proto == 6 && !outbound && packet.size() >= l4 + 2 && Get16(packet, l4) == 53 &&
      rules_->config.dns) {
    return OnDnsTcp(packet, l4);
  }
  if (proto == 6 && outbound) return OnTcp(packet, uid);
  return {};
}

Decision EgressEngine::OnDns(std::string_view packet, size_t l4, bool v6,
                             std::optional<uint32_t> /*uid*/) {
  Decision d;
  if (packet.size() < l4 + 8) {
    ++stats_.malformed;
    return d;
  }
  const uint16_t sport = Get16(packet, l4);
  const uint16_t udp_len = Get16(packet, l4 + 4);
  if (sport != 53 || udp_len < 8 || l4 + udp_len > packet.size()) {
    ++stats_.malformed;
    return d;
  }
  std::string_view payload = packet.substr(l4 + 8, udp_len - 8u);
  auto msg = ParseDnsMessage(payload);
  if (!msg || !msg->response || msg->questions.empty()) {
    if (!msg) ++stats_.malformed;
    return d;
  }
  std::optional<Event> e =
      CheckDnsAnswer(*msg, "udp", AddressText(packet.substr(v6 ? 8 : 12, v6 ? 16 : 4), v6));
  if (!e) return d;
  d.flow = FlowKey{"udp", AddressAt(packet, v6 ? 24 : 16, v6), AddressAt(packet, v6 ? 8 : 12, v6),
                   Get16(packet, l4 + 2), Get16(packet, l4)};
  if (rules_->config.mode == Mode::kPrevent) {
    d.replace = WithUdpPayload(packet, l4, v6, NxDomainReply(payload, *msg));
    e->Set("dns.response_code", "NXDOMAIN");
  }
  d.event = std::move(e);
  return d;
}

std::optional<Event> EgressEngine::CheckDnsAnswer(const DnsMessage& msg, std::string_view transport,
                                                  const std::string& server) {
  ++stats_.dns_answers;
  const EgressConfig& c = rules_->config;
  const DnsQuestion& q = msg.questions.front();
  // The names the answer speaks of: the question and the CNAME chain from it.
  std::vector<std::string> names = {q.name};
  auto resolved = ResolvedAddresses(msg);
  if (!resolved.empty()) {
    for (const auto& a : resolved.front().aliases) names.push_back(a);
  }
  for (const std::string& name : names) {
    auto n = NormalizeName(name);
    if (!n) continue;
    auto m = rules_->reputation.MatchName(*n);
    if (!m || m->list->allow || !Enforced(m->list->risk, c.security_level)) continue;
    const bool prevent = c.mode == Mode::kPrevent;
    Event e = Event::Make(clock_, "egress", "network", VerdictName(prevent),
                          prevent ? Severity::kHigh : Severity::kMedium);
    e.Set("destination.domain", q.name);
    if (name != q.name) e.Set("egress.alias", name);
    e.Set("dns.question.name", q.name);
    e.Set("network.protocol", "dns");
    e.Set("network.transport", std::string(transport));
    e.Set("egress.learned_by", "dns");
    e.Set("egress.list", m->list->name);
    e.Set("egress.category", m->list->category);
    e.Set("egress.risk", RiskName(m->list->risk));
    e.Set("egress.entry", m->entry);
    e.Set("egress.verdict", VerdictName(prevent));
    e.Set("egress.mode", ModeName(c.mode));
    e.Set("rule.id", "egress:" + m->list->name);
    e.Set("source.ip", server);
    std::vector<std::string> addresses;
    for (const auto& r : resolved) addresses.push_back(r.address);
    if (!addresses.empty()) e.Set("egress.answers", addresses);
    if (prevent) {
      ++stats_.blocked;
    } else {
      ++stats_.detected;
    }
    return e;
  }
  for (const auto& r : resolved) {
    uint32_t ttl = 0;
    for (const auto& a : msg.answers) {
      if (a.data == r.address) ttl = a.ttl;
    }
    Remember(r.address, r.name, ttl);
  }
  return std::nullopt;
}

Decision EgressEngine::OnDnsTcp(std::string_view packet, size_t l4) {
  Decision d;
  auto seg = net::DecodeIpTcp(packet);
  if (!seg) {
    ++stats_.malformed;
    return d;
  }
  const std::string key =
      fmt::format("{}|{}|{}", seg->src.ToString(), seg->dst.ToString(), seg->dport);
  const bool ends = (seg->flags & (net::tcp_flag::kFin | net::tcp_flag::kRst)) != 0;
  auto it = dns_streams_.find(key);
  if (seg->payload.empty() || (seg->flags & net::tcp_flag::kRst) != 0) {
    // The handshake and bare ACKs say nothing; a reset ends the flow.
    if (ends && it != dns_streams_.end()) {
      std::erase(dns_stream_order_, key);
      dns_streams_.erase(it);
    }
    return d;
  }
  if (it == dns_streams_.end()) {
    if (dns_streams_.size() >= kMaxPendingFlows) {
      dns_streams_.erase(dns_stream_order_.front());
      dns_stream_order_.pop_front();
    }
    it = dns_streams_.emplace(key, DnsTcpStream{}).first;
    dns_stream_order_.push_back(key);
  }
  // The client has every byte before this (the segments read so far went on).
  const uint32_t client_expects = it->second.next_seq(seg->seq);
  std::vector<DnsTcpStream::Message> messages = it->second.Add(seg->seq, seg->payload);
  if (ends || it->second.done()) {
    std::erase(dns_stream_order_, key);
    dns_streams_.erase(it);
  }
  for (const DnsTcpStream::Message& m : messages) {
    auto msg = ParseDnsMessage(m.bytes);
    if (!msg) {
      ++stats_.malformed;
      continue;
    }
    if (!msg->response || msg->questions.empty()) continue;
    std::optional<Event> e = CheckDnsAnswer(*msg, "tcp", seg->src.ToString());
    if (!e) continue;
    d.flow = FlowKey{"tcp", seg->dst, seg->src, seg->dport, seg->sport};
    if (rules_->config.mode == Mode::kPrevent) {
      // The answer wholly in this segment and new in it: rewritten in place to NXDOMAIN of the
      // same length (the bytes after it keep their sequence numbers). Else (some of it went on in
      // an earlier segment — also when this one retransmits them with the rest —, or no reply of
      // that length exists): the segment is dropped and both ends reset.
      const uint32_t offset = m.seq - seg->seq;
      std::string reply;
      if (m.fresh && offset < seg->payload.size() &&
          m.bytes.size() <= seg->payload.size() - offset) {
        reply = NxDomainReplyOfSize(m.bytes, *msg, m.bytes.size());
      }
      if (!reply.empty()) {
        const size_t at = static_cast<size_t>(seg->payload.data() - packet.data()) + offset;
        std::string out(packet);
        out.replace(at, reply.size(), reply);
        d.replace = WithTcpChecksum(std::move(out), l4, seg->src.v6);
        e->Set("dns.response_code", "NXDOMAIN");
      } else {
        d.verdict = Decision::Verdict::kDrop;
        d.send_v6 = seg->src.v6;
        const uint32_t server_next = seg->seq + static_cast<uint32_t>(seg->payload.size());
        d.send.push_back(net::BuildTcpPacket(seg->src, seg->sport, seg->dst, seg->dport,
                                             client_expects, 0, net::tcp_flag::kRst, {}));
        d.send.push_back(net::BuildTcpPacket(seg->dst, seg->dport, seg->src, seg->sport, seg->ack,
                                             server_next, net::tcp_flag::kRst | net::tcp_flag::kAck,
                                             {}));
        e->Set("egress.reset", true);
        if (dns_streams_.contains(key)) {
          std::erase(dns_stream_order_, key);
          dns_streams_.erase(key);
        }
      }
    }
    d.event = std::move(e);
    return d;
  }
  return d;
}

void EgressEngine::Remember(const std::string& address, const std::string& name, uint32_t ttl) {
  auto keep =
      std::clamp<std::chrono::seconds>(std::chrono::seconds(ttl), kMinLearnedTtl, kMaxLearnedTtl);
  auto expires = clock_.SteadyNow() + keep;
  auto [it, inserted] = names_.try_emplace(address, Learned{name, expires});
  if (!inserted) {
    it->second = Learned{name, expires};
    return;
  }
  learned_order_.push_back(address);
  while (names_.size() > kMaxLearned && !learned_order_.empty()) {
    names_.erase(learned_order_.front());
    learned_order_.pop_front();
  }
}

std::optional<std::string> EgressEngine::NameOf(const std::string& address) const {
  auto it = names_.find(address);
  if (it == names_.end() || it->second.expires < clock_.SteadyNow()) return std::nullopt;
  return it->second.name;
}

Decision EgressEngine::OnTcp(std::string_view packet, std::optional<uint32_t> uid) {
  Decision d;
  auto seg = net::DecodeIpTcp(packet);
  if (!seg) {
    ++stats_.malformed;
    return d;
  }
  // Packets without payload (the handshake's ACK) say nothing yet: the flow stays undecided.
  if (seg->payload.empty()) return d;
  const EgressConfig& c = rules_->config;
  const bool http_port =
      std::find(c.http_ports.begin(), c.http_ports.end(), seg->dport) != c.http_ports.end();
  // The first payload so far: this packet's, or the segments held for this flow plus it (a
  // ClientHello with large key shares, or a client that splits its request on purpose).
  const std::string key =
      fmt::format("{}|{}|{}|{}", seg->src.ToString(), seg->sport, seg->dst.ToString(), seg->dport);
  std::string_view payload = seg->payload;
  auto held = pending_.find(key);
  if (held != pending_.end()) {
    Pending& p = held->second;
    const uint32_t seq = seg->seq;
    const uint32_t len = static_cast<uint32_t>(seg->payload.size());
    if (seq == p.next_seq) {
      p.data.append(seg->payload);
      p.next_seq += len;
    } else if (static_cast<int32_t>(p.next_seq - seq) > 0 &&
               static_cast<int32_t>(seq + len - p.next_seq) > 0) {
      // A retransmission that also carries new bytes: append those.
      p.data.append(seg->payload.substr(p.next_seq - seq));
      p.next_seq = seq + len;
    } else if (static_cast<int32_t>(p.next_seq - seq) >= 0) {
      return d;  // a plain retransmission of what is held
    }
    // (a gap: the segments before it were lost; read what is held plus this one)
    payload = p.data;
  }
  std::string name, url, learned_by;
  bool ech = false;
  ClientHello ch;
  HttpRequestHead head;
  Parsed tls = ParseClientHello(payload, ch);
  Parsed http = tls == Parsed::kNotThis ? ParseHttpRequestHead(payload, head) : Parsed::kNotThis;
  if ((tls == Parsed::kIncomplete || http == Parsed::kIncomplete) &&
      payload.size() < kMaxHeldBytes && (tls != Parsed::kFound && http != Parsed::kFound)) {
    // Hold what came (the packets themselves go on) until the name is complete.
    if (held == pending_.end()) {
      if (pending_.size() >= kMaxPendingFlows) {
        pending_.erase(pending_order_.front());
        pending_order_.pop_front();
      }
      pending_.emplace(key, Pending{std::string(seg->payload),
                                    seg->seq + static_cast<uint32_t>(seg->payload.size())});
      pending_order_.push_back(key);
    }
    return d;
  }
  if (held != pending_.end()) {
    std::erase(pending_order_, key);
    pending_.erase(held);
  }
  if (tls == Parsed::kFound && !ch.server_name.empty()) {
    name = ch.server_name;
    ech = ch.ech;
    learned_by = "sni";
  } else if (http == Parsed::kFound && !head.host.empty()) {
    name = head.host;
    url = head.url;
    learned_by = "http";
  }
  const std::string dst = seg->dst.ToString();
  std::optional<Match> m;
  if (!url.empty()) {
    m = rules_->reputation.MatchUrl(url);
  } else if (!name.empty()) {
    if (auto n = NormalizeName(name)) m = rules_->reputation.MatchName(*n);
  }
  bool by_address = false;
  if (!m || !m->list->allow) {
    // CIDR lists: the kernel drops in prevent mode; a flow seen here is reported.
    if (auto a = rules_->reputation.MatchAddress(dst); a && (!m || a->list->allow)) {
      m = a;
      by_address = true;
    }
  }
  if (name.empty()) {
    ++stats_.flows_unnamed;
    if (auto learned = NameOf(dst)) {
      name = *learned;
      learned_by = "dns";
    }
  } else {
    ++stats_.flows_named;
  }
  d.verdict = Decision::Verdict::kMarkDecided;
  if (!m || m->list->allow || !Enforced(m->list->risk, c.security_level)) {
    if (!rules_->services.empty()) CheckService(*seg, name, url, learned_by, d);
    return d;
  }
  // A name learned only from DNS never blocks: the address may be shared (a CDN).
  const bool prevent = c.mode == Mode::kPrevent && (learned_by != "dns" || by_address);
  Event e = Event::Make(clock_, "egress", "network", VerdictName(prevent),
                        prevent ? Severity::kHigh : Severity::kMedium);
  if (!name.empty()) e.Set("destination.domain", name);
  if (!url.empty()) e.Set("url.original", url);
  e.Set("destination.ip", dst);
  e.Set("destination.port", seg->dport);
  e.Set("source.ip", seg->src.ToString());
  e.Set("source.port", seg->sport);
  e.Set("network.transport", "tcp");
  e.Set("network.protocol", learned_by == "sni"         ? "tls"
                            : http_port || !url.empty() ? "http"
                                                        : "tls");
  e.Set("egress.learned_by", by_address ? std::string("ip") : learned_by);
  if (learned_by == "sni") e.Set("tls.client.server_name", name);
  if (ech) e.Set("egress.ech", true);
  e.Set("egress.list", m->list->name);
  e.Set("egress.category", m->list->category);
  e.Set("egress.risk", RiskName(m->list->risk));
  e.Set("egress.entry", m->entry);
  e.Set("egress.verdict", VerdictName(prevent));
  e.Set("egress.mode", ModeName(c.mode));
  e.Set("rule.id", "egress:" + m->list->name);
  if (uid) e.Set("user.id", std::to_string(*uid));
  d.flow = FlowKey{"tcp", seg->src, seg->dst, seg->sport, seg->dport};
  if (prevent) {
    ++stats_.blocked;
    Block(*seg, learned_by == "http" && c.block_page, e, d);
  } else {
    ++stats_.detected;
  }
  d.event = std::move(e);
  return d;
}

void EgressEngine::Block(const net::TcpSegment& seg, bool page, Event& e, Decision& d) {
  d.verdict = Decision::Verdict::kDrop;
  d.send_v6 = seg.src.v6;
  const uint32_t client_next = seg.seq + static_cast<uint32_t>(seg.payload.size());
  if (page) {
    std::string body = fmt::format(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\nContent-Length: {}\r\n"
        "Connection: close\r\nCache-Control: no-store\r\n\r\n{}",
        kBlockPage.size(), kBlockPage);
    d.send.push_back(
        net::BuildTcpPacket(seg.dst, seg.dport, seg.src, seg.sport, seg.ack, client_next,
                            net::tcp_flag::kPsh | net::tcp_flag::kAck | net::tcp_flag::kFin, body));
    e.Set("http.response.status_code", 403);
  } else {
    d.send.push_back(net::BuildTcpPacket(seg.dst, seg.dport, seg.src, seg.sport, seg.ack,
                                         client_next, net::tcp_flag::kRst | net::tcp_flag::kAck,
                                         {}));
  }
  d.send.push_back(net::BuildTcpPacket(seg.src, seg.sport, seg.dst, seg.dport, seg.seq, 0,
                                       net::tcp_flag::kRst, {}));
}

void EgressEngine::CheckService(const net::TcpSegment& seg, const std::string& name,
                                const std::string& url, const std::string& learned_by,
                                Decision& d) {
  if (!owner_lookup_) return;
  const FlowKey flow{"tcp", seg.src, seg.dst, seg.sport, seg.dport};
  auto owner = owner_lookup_(flow);
  if (!owner) return;
  const ServiceRules* svc = nullptr;
  for (const ServiceRules& s : rules_->services) {
    if ((!s.spec.unit.empty() && s.spec.unit == owner->systemd_unit) ||
        (!s.spec.exe.empty() && s.spec.exe == owner->executable)) {
      svc = &s;
      break;
    }
  }
  if (svc == nullptr) return;
  d.owner = owner;
  d.flow = flow;
  const std::string dst = seg.dst.ToString();
  // What the flow is known by: its own name (SNI/Host) or, failing that, the name a DNS answer
  // gave its address, or the address.
  // With the port, as an allow-list entry: "repo.example:443", "[2001:db8::1]:443".
  const std::string destination = name.empty() && seg.dst.v6
                                      ? fmt::format("[{}]:{}", dst, seg.dport)
                                      : fmt::format("{}:{}", name.empty() ? dst : name, seg.dport);
  auto fill = [&](Event& e) {
    e.Set("egress.service.id", svc->spec.id);
    e.Set("egress.service.mode", ServiceModeName(svc->spec.mode));
    if (!name.empty()) e.Set("destination.domain", name);
    if (!url.empty()) e.Set("url.original", url);
    e.Set("destination.ip", dst);
    e.Set("destination.port", seg.dport);
    e.Set("source.ip", seg.src.ToString());
    e.Set("source.port", seg.sport);
    e.Set("network.transport", "tcp");
    e.Set("egress.learned_by", learned_by.empty() ? std::string("ip") : learned_by);
  };
  if (svc->spec.mode == ServiceMode::kLearn) {
    auto [it, inserted] =
        learning_.try_emplace(svc->spec.id, Learning{clock_.SteadyNow(), {}, false});
    if (!it->second.destinations.insert(destination).second) return;
    Event e = Event::Make(clock_, "egress", "info", "destination_learned", Severity::kInfo);
    fill(e);
    d.event = std::move(e);
    return;
  }
  if (svc->Allows(url, name, dst, seg.dport)) return;
  const bool prevent = svc->spec.mode == ServiceMode::kPrevent;
  Event e = Event::Make(clock_, "egress", "network", VerdictName(prevent),
                        prevent ? Severity::kHigh : Severity::kMedium);
  fill(e);
  e.Set("egress.list", "service:" + svc->spec.id);
  e.Set("egress.category", "service_allowlist");
  e.Set("egress.verdict", VerdictName(prevent));
  e.Set("egress.mode", ServiceModeName(svc->spec.mode));
  e.Set("rule.id", "egress:service:" + svc->spec.id);
  if (prevent) {
    ++stats_.blocked;
    Block(seg, learned_by == "http" && rules_->config.block_page, e, d);
  } else {
    ++stats_.detected;
  }
  d.event = std::move(e);
}

}  // namespace ward::agent::egress
