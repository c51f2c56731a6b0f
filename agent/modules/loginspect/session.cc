// Session: one line through pre-decoding, decoding and the rule tree (ruleset.h).
#include <fmt/format.h>
#include <fmt/printf.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <ctime>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>

#include "agent/modules/loginspect/ruleset.h"

namespace ward::agent::loginspect {
namespace {

constexpr int kAfterParent = 1;
constexpr int kAfterPrematch = 2;
constexpr int kAfterRegex = 4;
constexpr size_t kHistoryLimit = 1024;
constexpr size_t kProgramNameCacheLimit = 4096;

// OSSEC's hostname/program-name bytes: letters, digits, - . / ( ) @ _
bool ValidChar(unsigned char c) {
  return std::isalnum(c) || c == '-' || c == '.' || c == '/' || c == '(' || c == ')' || c == '@' ||
         c == '_';
}
bool Digit(char c) { return c >= '0' && c <= '9'; }

// Length of a syslog timestamp at the start of `p`, 0 if none: the forms of Wazuh 4.14's
// OS_CleanMSG, each with the offset it skips (loglen there counts the NUL).
size_t TimestampLength(const char* p, size_t len) {
  auto at = [&](size_t i) { return i < len ? p[i] : '\0'; };
  size_t loglen = len + 1;
  if (loglen > 17 && at(3) == ' ' && at(6) == ' ' && at(9) == ':' && at(12) == ':' && at(15) == ' ')
    return 16;  // Dec 29 10:00:01
  if (loglen > 24 && at(4) == '-' && at(7) == '-' && at(10) == ' ' && at(13) == ':' &&
      at(16) == ':' && at(19) == ',')
    return 24;  // 2015-04-16 21:51:02,805
  if (loglen > 33 && at(4) == '-' && at(7) == '-' && at(10) == 'T' && at(13) == ':' &&
      at(16) == ':') {
    if (at(22) == ':' && at(25) == ' ') return 26;  // 2007-06-14T15:48:55-04:00
    if (at(19) == '.') {
      if (at(26) == ':') return 30;  // 2022-12-19T15:02:53.288+00:00
      if (at(29) == ':') return 33;  // 2009-05-22T09:36:46.214994-07:00
      return 32;
    }
  }
  if (loglen > 21 && Digit(at(0)) && at(4) == ' ' && at(8) == ' ' && at(11) == ' ' &&
      at(14) == ':' && at(17) == ':' && at(20) == ' ')
    return 21;  // 2015 Dec 29 10:00:01
  if (loglen > 33 && Digit(at(0)) && at(4) == '-' && at(7) == '-' && at(10) == ' ' &&
      at(13) == ':' && at(16) == ':' && at(19) == '.' && (at(26) == '-' || at(26) == '+') &&
      at(31) == ' ')
    return 32;  // 2021-04-21 10:16:09.404756-0700 (macOS)
  return 0;
}

// Wazuh's JSON decoder: an integral number as %i (cJSON's valueint, saturated), others %f.
std::string JsonNumber(double d) {
  double clamped = d >= 2147483647.0 ? 2147483647.0 : (d <= -2147483648.0 ? -2147483648.0 : d);
  int as_int = static_cast<int>(clamped);
  if (static_cast<double>(as_int) == d) return std::to_string(as_int);
  return fmt::sprintf("%f", d);
}

std::string JsonScalar(const nlohmann::ordered_json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number()) return JsonNumber(v.get<double>());
  if (v.is_null()) return "null";
  return v.dump();
}

// fillData: the static names the JSON decoder knows, else a dynamic field.
void JsonField(Event& ev, const std::string& key, std::string value) {
  if (key == "user" || key == "dstuser") return ev.Decoded("dstuser", std::move(value));
  if (key == "systemname") return ev.Decoded("system_name", std::move(value));
  if (key == "system_name") {
    ev.AddDynamic(key, std::move(value));
    return;
  }
  ev.Decoded(key, std::move(value));
}

// cJSON's number text: integers as %d, others %1.15g (or %1.17g when that does not round-trip).
std::string CjsonNumber(double d) {
  if (std::fabs(std::floor(d) - d) <= 1e-300 && d <= 2147483647.0 && d >= -2147483648.0)
    return std::to_string(static_cast<int>(d));
  std::string s = fmt::format("{}", fmt::sprintf("%1.15g", d));
  if (std::strtod(s.c_str(), nullptr) != d) s = fmt::sprintf("%1.17g", d);
  return s;
}

// cJSON_Print (formatted) of a value: what Wazuh's JSON decoder stores for arrays.
void CjsonPrint(const nlohmann::ordered_json& v, int& depth, std::string& out) {
  if (v.is_object()) {
    ++depth;
    out += "{\n";
    size_t n = 0;
    for (auto it = v.begin(); it != v.end(); ++it) {
      out.append(static_cast<size_t>(depth), '\t');
      out += nlohmann::ordered_json(it.key()).dump();
      out += ":\t";
      CjsonPrint(it.value(), depth, out);
      if (++n < v.size()) out += ",";
      out += "\n";
    }
    out.append(static_cast<size_t>(depth - 1), '\t');
    out += "}";
    --depth;
  } else if (v.is_array()) {
    out += "[";
    ++depth;
    size_t n = 0;
    for (const auto& x : v) {
      CjsonPrint(x, depth, out);
      if (++n < v.size()) out += ", ";
    }
    out += "]";
    --depth;
  } else if (v.is_number()) {
    out += CjsonNumber(v.get<double>());
  } else {
    out += v.dump();
  }
}

void FlattenJson(const Decoder& d, const nlohmann::ordered_json& j, const std::string& prefix,
                 Event& ev) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    const auto& v = it.value();
    if (v.is_object()) {
      FlattenJson(d, v, key, ev);
    } else if (v.is_null()) {
      if (d.json_null == "discard") continue;
      JsonField(ev, key, "null");
    } else if (v.is_array()) {
      std::string out;
      if (d.json_array == "csv") {
        bool first = true;
        for (const auto& x : v) {
          if (x.is_object() || x.is_array()) continue;
          if (!first) out += ",";
          out += JsonScalar(x);
          first = false;
        }
      } else {
        int depth = 0;
        CjsonPrint(v, depth, out);
      }
      if (!out.empty()) JsonField(ev, key, std::move(out));
    } else {
      JsonField(ev, key, JsonScalar(v));
    }
  }
}

// The first JSON object or array of `text`: cJSON_ParseWithOpts ignores what follows it.
std::string_view FirstJsonValue(const char* text) {
  std::string_view t(text);
  size_t i = 0;
  while (i < t.size() && std::isspace(static_cast<unsigned char>(t[i]))) ++i;
  if (i >= t.size() || (t[i] != '{' && t[i] != '[')) return t;
  size_t start = i;
  int depth = 0;
  bool in_string = false;
  for (; i < t.size(); ++i) {
    char c = t[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '{' || c == '[')
      ++depth;
    else if ((c == '}' || c == ']') && --depth == 0)
      return t.substr(start, i + 1 - start);
  }
  return t;
}

// The offset after OSSEC's "end of match" pointer (the byte after the last consumed one).
long After(const char* base, long end) {
  if (end < 0) return 0;
  return base[end] != '\0' ? end + 1 : end;
}

}  // namespace

void Session::PreDecode(Event& ev) const {
  const std::string& full = ev.full_log;
  const char* p = full.c_str();
  size_t len = full.size();
  // What ev.log becomes: a view of full_log, copied once at the end.
  std::string_view log = full;
  size_t ts = TimestampLength(p, len);
  if (ts > 0) {
    ev.timestamp = full.substr(0, ts - 1);
    size_t pos = ts;
    if (pos < len && p[pos] == ' ') ++pos;
    size_t host = pos;
    log = std::string_view(full).substr(std::min(pos, len));
    while (pos < len && ValidChar(static_cast<unsigned char>(p[pos]))) ++pos;
    long rest = -1;
    if (pos + 1 < len && p[pos] == ':' && p[pos + 1] == ' ') {
      // No hostname (Solaris): what stood there is the program name.
      ev.program_name = full.substr(host, pos - host);
      log = std::string_view(full).substr(pos + 2);
    } else if (pos >= len || p[pos] != ' ') {
      // Invalid hostname: the log stays after the timestamp.
    } else {
      ev.hostname = full.substr(host, pos - host);
      ++pos;
      size_t prog = pos;
      log = std::string_view(full).substr(pos);
      while (pos < len && ValidChar(static_cast<unsigned char>(p[pos]))) ++pos;
      auto at = [&](size_t i) { return i < len ? p[i] : '\0'; };
      if (at(pos) == ':') {
        ev.program_name = full.substr(prog, pos - prog);
        rest = static_cast<long>(pos + 1 + (at(pos + 1) == ' ' ? 1 : 0));
      } else if (at(pos) == '[' && Digit(at(pos + 1))) {
        size_t q = pos + 2;
        while (Digit(at(q))) ++q;
        if (at(q) == ']' && at(q + 1) == ':') {
          ev.program_name = full.substr(prog, pos - prog);
          rest = static_cast<long>(q + 2 + (at(q + 2) == ' ' ? 1 : 0));
        } else if (at(q) == ']' && at(q + 1) == ' ') {
          ev.program_name = full.substr(prog, pos - prog);
          rest = static_cast<long>(q + 2);
        }
      } else if (at(pos) == '|' && std::islower(static_cast<unsigned char>(at(pos + 1)))) {
        // AIX: "auth|security:info p_name: "
        size_t q = pos + 2;
        while (std::isalnum(static_cast<unsigned char>(at(q)))) ++q;
        if (at(q) == ':') {
          ++q;
          while (std::isalnum(static_cast<unsigned char>(at(q)))) ++q;
          if (at(q) == ' ') {
            ++q;
            size_t name = q;
            while (q < len && ValidChar(static_cast<unsigned char>(p[q]))) ++q;
            ev.program_name = full.substr(name, q - name);
            if (at(q) == ':' && at(q + 1) == ' ') {
              rest = static_cast<long>(q + 2);
            } else if (at(q) == '[' && Digit(at(q + 1))) {
              size_t r = q + 2;
              while (Digit(at(r))) ++r;
              if (at(r) == ']' && at(r + 1) == ':' && at(r + 2) == ' ')
                rest = static_cast<long>(r + 3);
            }
          }
        }
      }
      if (rest >= 0) {
        log = std::string_view(full).substr(std::min(static_cast<size_t>(rest), len));
        if (log.rfind("[ID ", 0) == 0) {
          size_t close = log.find(']', 4);
          if (close != std::string::npos)
            log = close + 2 <= log.size() ? log.substr(close + 2) : std::string_view();
        }
      }
    }
  } else if (len + 1 > 28 && p[3] == ' ' && p[7] == ' ' && p[10] == ' ' && p[13] == ':' &&
             p[16] == ':' && p[19] == ' ' && p[24] == ' ' && p[26] == ' ') {
    log = std::string_view(full).substr(25);  // xferlog
  } else if (len + 1 > 24 && p[2] == '/' && p[5] == '-' && p[8] == ':' && p[11] == ':' &&
             p[14] == '.' && p[21] == ' ') {
    log = std::string_view(full).substr(23);  // snort
  } else if (len + 1 > 28 && p[2] == '/' && p[5] == '/' && p[10] == '-' && p[13] == ':' &&
             p[16] == ':' && p[19] == '.' && p[26] == ' ') {
    log = std::string_view(full).substr(28);  // suricata
  } else if (len + 1 > 27 && p[0] == '[' && p[4] == ' ' && p[8] == ' ' && p[11] == ' ' &&
             p[14] == ':' && p[17] == ':' && p[20] == ' ' && p[25] == ']') {
    log = std::string_view(full).substr(27);  // [Fri Feb 11 18:06:35 2004] [warn]
  } else if (len + 1 > 32 && p[0] == '1' && Digit(p[1]) && Digit(p[2]) && Digit(p[3]) &&
             p[10] == '.' && Digit(p[13]) && p[14] == ' ' && (p[21] == ' ' || p[22] == ' ')) {
    size_t pos = 14;  // squid: 1140804070.368  11623 ...
    while (pos < len && p[pos] == ' ') ++pos;
    log = std::string_view(full).substr(pos);
  }
  ev.log.assign(log.data(), log.size());
}

void Session::Decode(Event& ev) const {
  ev.fields.reserve(8);  // one allocation for the usual decoder's fields
  const char* log = ev.log.c_str();
  const char* low = lower_.c_str();
  const auto& roots = ev.program_name ? ruleset_->pname_roots() : ruleset_->nopname_roots();
  // Which roots' <program_name> match depends on the program name only: computed once per name
  // (a bounded cache), a line then tries only those roots, in order.
  const std::vector<uint32_t>* by_name = nullptr;
  if (ev.program_name) {
    auto it = pname_cache_.find(*ev.program_name);
    if (it == pname_cache_.end()) {
      if (pname_cache_.size() >= kProgramNameCacheLimit) pname_cache_.clear();
      std::vector<uint32_t> match;
      for (uint32_t i = 0; i < roots.size(); ++i) {
        const Decoder* d = roots[i].decoder;
        if (d->program_name && d->program_name->Match(ev.program_name->c_str())) match.push_back(i);
      }
      it = pname_cache_.emplace(*ev.program_name, std::move(match)).first;
    }
    by_name = &it->second;
  }
  const size_t count = by_name != nullptr ? by_name->size() : roots.size();
  std::vector<std::string> caps;
  for (size_t k = 0; k < count; ++k) {
    const DecoderNode& node = roots[by_name != nullptr ? (*by_name)[k] : k];
    const Decoder* d = node.decoder;
    long pmatch = 0;
    if (d->prematch) {
      long end = -1;
      if (!d->prematch->Match(log, &end, nullptr, low)) continue;
      pmatch = After(log, end);
    }
    ev.decoder = d;
    long cmatch = pmatch;
    const Decoder* cur = d;
    size_t child = 0;
    bool self = node.children.empty();
    if (!self) {
      cur = nullptr;
      while (child < node.children.size()) {
        const Decoder* c = node.children[child];
        if (c->prematch) {
          long base = (c->prematch_offset & kAfterParent) ? pmatch : 0;
          long end = -1;
          if (c->prematch->Match(log + base, &end, nullptr, low + base)) {
            cmatch = base + After(log + base, end);
            ev.decoder = c;
            cur = c;
            break;
          }
        } else {
          cmatch = pmatch;
          cur = c;
          break;
        }
        if (c->get_next) {
          while (child < node.children.size() && node.children[child]->get_next) ++child;
          if (child >= node.children.size()) return;
          ++child;
        } else {
          ++child;
        }
      }
      // A child without prematch does the regex work under its parent's identity (type,
      // name): analysisd only switches decoder_info on a child's prematch.
      if (cur == nullptr) return;
    }
    long regex_prev = -1;
    while (cur != nullptr) {
      if (cur->json) {
        long base = 0;
        if (cur->json_offset & kAfterParent)
          base = pmatch;
        else if (cur->json_offset & kAfterPrematch)
          base = cmatch;
        auto j = nlohmann::ordered_json::parse(FirstJsonValue(log + base), nullptr, false);
        if (!j.is_discarded() && j.is_object()) FlattenJson(*cur, j, "", ev);
      } else if (cur->regex) {
        long base = 0;
        if (cur->regex_offset & kAfterParent)
          base = pmatch;
        else if (cur->regex_offset & kAfterPrematch)
          base = cmatch;
        else if (cur->regex_offset & kAfterRegex)
          base = regex_prev < 0 ? cmatch : regex_prev;
        long end = -1;
        caps.clear();
        if (!cur->regex->Match(log + base, &end, &caps, low + base)) {
          if (cur->get_next && !self && child + 1 < node.children.size()) {
            cur = node.children[++child];
            continue;
          }
          return;
        }
        regex_prev = base + After(log + base, end);
        for (size_t i = 0; i < caps.size(); ++i) {
          if (i < cur->order.size()) ev.Decoded(cur->order[i], caps[i]);
        }
      } else {
        return;
      }
      if (cur->get_next && !self && child + 1 < node.children.size()) {
        cur = node.children[++child];
      } else {
        return;
      }
    }
    return;
  }
}

void Session::AddGeoIp(Event& ev) const {
  static const int kSrcIp = Event::StaticId("srcip");
  static const int kDstIp = Event::StaticId("dstip");
  static const int kSrcGeo = Event::StaticId("srcgeoip");
  static const int kDstGeo = Event::StaticId("dstgeoip");
  for (auto [ip_id, geo_id] : {std::pair{kSrcIp, kSrcGeo}, std::pair{kDstIp, kDstGeo}}) {
    const std::string* ip = ev.StaticById(ip_id);
    if (ip == nullptr || ev.StaticById(geo_id) != nullptr) continue;
    if (auto geo = ruleset_->geoip()->Lookup(*ip)) {
      ev.Decoded(geo_id == kSrcGeo ? "srcgeoip" : "dstgeoip", std::move(*geo));
    }
  }
}

namespace {

bool HasDynamic(const Event& ev) { return ev.dynamic_count > 0; }

// AnyValue() of a name resolved at load time.
const std::string* RefValue(const Event& ev, const FieldRef& f) {
  switch (f.kind) {
    case FieldRef::kStatic:
      return ev.StaticById(f.id);
    case FieldRef::kHostname:
      return ev.hostname.empty() ? nullptr : &ev.hostname;
    case FieldRef::kProgramName:
      return ev.program_name ? &*ev.program_name : nullptr;
    case FieldRef::kLocation:
      return &ev.location;
    case FieldRef::kDynamic:
      break;
  }
  return ev.Field(f.name);
}

// The hash of an event's values of `refs`; false when one of them is missing (then no event
// agrees with it).
bool SameKey(const Event& ev, const std::vector<FieldRef>& refs, uint64_t* key) {
  uint64_t h = 1469598103934665603ULL;
  for (const FieldRef& f : refs) {
    const std::string* v = RefValue(ev, f);
    if (v == nullptr) return false;
    h ^= std::hash<std::string_view>{}(*v) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  }
  *key = h;
  return true;
}

std::string_view TypeOf(const Event& ev) {
  return ev.decoder ? std::string_view(ev.decoder->type) : std::string_view("syslog");
}

const std::string* StaticValue(const Event& ev, const std::string& name) {
  if (name == "hostname") return ev.hostname.empty() ? nullptr : &ev.hostname;
  if (name == "program_name") return ev.program_name ? &*ev.program_name : nullptr;
  if (name == "location") return &ev.location;
  if (name == "user") {
    if (const std::string* v = ev.Static("dstuser")) return v;
    return ev.Static("srcuser");
  }
  return ev.Static(name);
}

// A field named by same_/different_ options or lists: static names first, then dynamic.
const std::string* AnyValue(const Event& ev, const std::string& name) {
  if (name == "hostname" || name == "program_name" || name == "location" ||
      Event::IsStaticName(name))
    return StaticValue(ev, name);
  return ev.Field(name);
}

bool ListMatch(const Event& ev, const ListLookup& l) {
  const std::string* v = nullptr;
  if (l.field == "user") {  // lists look at srcuser first (rules.c RULE_USER)
    v = ev.Static("srcuser");
    if (v == nullptr) v = ev.Static("dstuser");
  } else {
    v = AnyValue(ev, l.field);
  }
  if (v == nullptr) return false;
  const auto& m = *l.list;
  auto find_addr = [&](const std::string& ip) -> const std::string* {
    std::string key = ip;
    while (true) {
      if (auto it = m.find(key); it != m.end()) return &it->second;
      size_t dot = key.rfind('.');
      if (dot == std::string::npos) return nullptr;
      key.resize(dot);
      if (auto it = m.find(key + "."); it != m.end()) return &it->second;
    }
  };
  const std::string* hit = nullptr;
  if (l.lookup.find("address") != std::string::npos) {
    hit = find_addr(*v);
  } else if (auto it = m.find(*v); it != m.end()) {
    hit = &it->second;
  }
  if (l.lookup == "match_key" || l.lookup == "address_match_key") return hit != nullptr;
  if (l.lookup == "not_match_key" || l.lookup == "not_address_match_key") return hit == nullptr;
  if (l.lookup == "match_key_value" || l.lookup == "address_match_key_value") {
    return hit != nullptr && (!l.check_value || l.check_value->Match(hit->c_str()));
  }
  return false;
}

}  // namespace

// Wazuh's Search_LastSids / Search_LastGroups / Search_LastEvents: walk the history newest
// first; stop at the timeframe or at an event already used by a rule of this level or above;
// fire when frequency-1 earlier events agree on the same_/different_ fields.
namespace {

// analysisd's compiled rules (src/analysisd/compiled_rules), by name.
bool CompiledRule(const std::string& name, const Event& ev) {
  if (name == "comp_srcuser_dstuser") {
    const std::string* a = ev.Static("srcuser");
    const std::string* b = ev.Static("dstuser");
    return a == nullptr || b == nullptr || *a == *b;
  }
  if (name == "check_id_size") {
    const std::string* id = ev.Static("id");
    return id != nullptr && id->size() >= 10;
  }
  if (name == "is_simple_http_request") {
    const std::string* url = ev.Static("url");
    return url != nullptr && (*url == "/" || url->find('?') == std::string::npos);
  }
  if (name == "is_valid_crawler") {
    for (const char* prefix :
         {"66.249.", "72.14.", "209.85.", "65.55.", "207.46.", "74.6.", "72.30.", "67.195."}) {
      if (ev.log.rfind(prefix, 0) == 0) return true;
    }
    return false;
  }
  if (name == "comp_mswin_targetuser_calleruser_diff") {
    size_t t = ev.log.find("Target Account Name");
    size_t c = ev.log.find("Caller User Name");
    if (t == std::string::npos || c == std::string::npos) return false;
    t = ev.log.find(':', t);
    c = ev.log.find(':', c);
    if (t == std::string::npos || c == std::string::npos) return false;
    const char* tp = ev.log.c_str() + t + 1;
    const char* cp = ev.log.c_str() + c + 1;
    for (; *tp != '\0'; ++tp, ++cp) {
      if (*tp != *cp) return true;
      if (*tp == '\t' || (*tp == ' ' && tp[1] == ' ')) break;
    }
    return false;
  }
  return false;
}

}  // namespace

void Session::Push(History& h, const std::shared_ptr<Event>& ev) {
  if (!h.events.empty() && ev->time < h.last_time) h.monotonic = false;
  h.last_time = ev->time;
  h.events.push_back(ev);
  if (h.events.size() > h.limit) {
    for (size_t i = 0; i < h.drop && !h.events.empty(); ++i) h.events.pop_front();
  }
  uint64_t seq = h.pushed++;
  for (auto& index : h.indexes) {
    uint64_t key = 0;
    if (SameKey(*ev, index.rule->same_refs, &key)) index.buckets[key].emplace_back(seq, ev.get());
  }
  if (h.pushed % kHistoryLimit == 0) {
    uint64_t first = h.first_seq();
    for (auto& index : h.indexes) {
      for (auto it = index.buckets.begin(); it != index.buckets.end();) {
        auto& v = it->second;
        size_t dead = 0;
        while (dead < v.size() && v[dead].first < first) ++dead;
        v.erase(v.begin(), v.begin() + static_cast<long>(dead));
        it = v.empty() ? index.buckets.erase(it) : std::next(it);
      }
    }
  }
}

Session::History::Index& Session::IndexFor(History& h, const Rule& rule) {
  for (auto& index : h.indexes) {
    if (index.rule == &rule) return index;
  }
  // First search by this rule: index what the history already holds.
  auto& index = h.indexes.emplace_back();
  index.rule = &rule;
  uint64_t seq = h.first_seq();
  for (const auto& e : h.events) {
    uint64_t key = 0;
    if (SameKey(*e, rule.same_refs, &key)) index.buckets[key].emplace_back(seq, e.get());
    ++seq;
  }
  return index;
}

bool ParseCompat(std::string_view name, Compat* out) {
  if (name == "wazuh") {
    *out = Compat::kWazuh;
  } else if (name == "ossec") {
    *out = Compat::kOssec;
  } else {
    return false;
  }
  return true;
}

Session::History& Session::GroupHistory(const std::string& group) {
  auto [it, added] = group_history_.try_emplace(group);
  // OSSEC's group lists have no bound of their own: the global list's trimming shortens them.
  if (added && compat_ == Compat::kOssec) it->second.limit = kOssecEventListLimit;
  return it->second;
}

// OSSEC 4.x's Free_Eventinfo for an event leaving the global list (src/analysisd/eventinfo.c):
// if it is still in its rule's if_matched_sid list it leaves that list; otherwise, if its rule
// feeds if_matched_group lists, the OLDEST event of each of them is deleted — also when the
// event never entered them because its rule keeps an if_matched_sid list and the event had
// already been pushed out of that list by its 128-event bound (OSSEC then clears the event's
// node pointer and takes the group branch). Over a long run this shortens the group lists of
// groups like authentication_failed to their newest few events, which decides when rules like
// 40111 fire.
void Session::ForgetOssec(const Event& e) {
  const Rule* r = e.rule;
  if (r == nullptr) return;
  if (r->keeps_sid_history) {
    auto& q = SidHistory(r->id).events;
    for (auto it = q.begin(); it != q.end(); ++it) {
      if (it->get() == &e) {
        q.erase(it);
        return;
      }
    }
  }
  for (const auto& g : r->groups) {
    if (!ruleset_->GroupKeepsHistory(g)) continue;
    auto& q = GroupHistory(g).events;
    if (!q.empty()) q.pop_front();
  }
}

Session::History& Session::SidHistory(int id) {
  auto [it, added] = sid_history_.try_emplace(id);
  if (added && compat_ == Compat::kOssec) it->second.limit = kOssecSidListLimit;
  return it->second;
}

// OSSEC 4.x's Search_LastSids / Search_LastGroups / Search_LastEvents (src/analysisd/
// eventinfo.c): walk the list newest first; an event beyond the timeframe, or one already
// matched by a rule of this level or above, ends the search before any other check; skip the
// events whose same_* / different_* fields disagree (and, for the global list, another
// category); count `frequency` agreeing events, and fire on the next one. When the rule fires,
// this event, the one that completed the count and the newest event of the list are matched.
bool Session::CheckContextOssec(Event& ev, const Rule& rule, History& list, bool global) {
  if (list.events.empty()) return false;
  Event& newest = *list.events.back();
  int count = 0;
  for (auto it = list.events.rbegin(); it != list.events.rend(); ++it) {
    Event& prev = **it;
    if (ev.time - prev.time > rule.timeframe) return false;
    if (prev.matched >= rule.level) return false;
    if (global && TypeOf(prev) != TypeOf(ev)) continue;
    bool agree = true;
    for (const FieldRef& f : rule.same_refs) {
      const std::string* a = RefValue(ev, f);
      const std::string* b = RefValue(prev, f);
      if (a == nullptr || b == nullptr || *a != *b) {
        agree = false;
        break;
      }
    }
    if (!agree) continue;
    if (rule.same_needs_dynamic && (!HasDynamic(ev) || !HasDynamic(prev))) continue;
    for (const FieldRef& f : rule.different_refs) {
      const std::string* a = RefValue(ev, f);
      const std::string* b = RefValue(prev, f);
      if (a == nullptr || b == nullptr || *a == *b) {
        agree = false;
        break;
      }
    }
    if (!agree) continue;
    if (rule.different_needs_dynamic && !HasDynamic(ev) && !HasDynamic(prev)) continue;
    if (count < rule.frequency) {
      ++count;
      continue;
    }
    ev.matched = rule.level;
    prev.matched = rule.level;
    newest.matched = rule.level;
    return true;
  }
  return false;
}

bool Session::CheckContext(Event& ev, const Rule& rule) {
  History* list = nullptr;
  bool global = false;
  if (!rule.if_matched_sid.empty()) {
    list = &SidHistory(rule.if_matched_sid.front());
  } else if (!rule.if_matched_group.empty()) {
    list = &GroupHistory(rule.if_matched_group);
  } else {
    list = &events_;
    global = true;
  }
  if (compat_ == Compat::kOssec) return CheckContextOssec(ev, rule, *list, global);
  int needed = rule.frequency > 2 ? rule.frequency - 1 : 1;  // stored as frequency - 2, then +1
  int count = 0;
  Event* first = nullptr;
  // One candidate, newest first: 0 go on, 1 fired, -1 stop (no match).
  auto visit = [&](Event& prev) -> int {
    if (ev.time - prev.time > rule.timeframe) return -1;
    if (global && TypeOf(prev) != TypeOf(ev)) return 0;
    for (const FieldRef& f : rule.same_refs) {
      const std::string* a = RefValue(ev, f);
      const std::string* b = RefValue(prev, f);
      if (a == nullptr || b == nullptr || *a != *b) return 0;
    }
    if (rule.same_needs_dynamic && (!HasDynamic(ev) || !HasDynamic(prev))) return 0;
    for (const FieldRef& f : rule.different_refs) {
      const std::string* a = RefValue(ev, f);
      const std::string* b = RefValue(prev, f);
      if (a != nullptr && b != nullptr && *a == *b) return 0;
    }
    if (rule.different_needs_dynamic && !HasDynamic(ev) && !HasDynamic(prev)) return 0;
    if (prev.matched >= rule.level) return -1;
    if (count < needed - 1) {
      ++count;
      if (first == nullptr) first = &prev;
      return 0;
    }
    ev.matched = rule.level;
    if (first != nullptr) first->matched = rule.level;
    return 1;
  };
  if (!rule.same_refs.empty() && list->monotonic) {
    // Only events with the same same_* values can pass; in a history whose times never go
    // backwards, the first one beyond the timeframe among them ends the search exactly where
    // the full walk would have ended it.
    uint64_t key = 0;
    if (!SameKey(ev, rule.same_refs, &key)) return false;
    auto& index = IndexFor(*list, rule);
    auto b = index.buckets.find(key);
    if (b == index.buckets.end()) return false;
    uint64_t live = list->first_seq();
    uint64_t newest = list->pushed - 1;  // Search_LastEvents starts after the newest event
    const auto& v = b->second;
    for (auto it = v.rbegin(); it != v.rend(); ++it) {
      if (it->first < live) break;
      if (global && it->first == newest) continue;
      int r = visit(*it->second);
      if (r != 0) return r > 0;
    }
    return false;
  }
  auto it = list->events.rbegin();
  if (global && it != list->events.rend()) ++it;  // Search_LastEvents starts after the newest
  for (; it != list->events.rend(); ++it) {
    int r = visit(**it);
    if (r != 0) return r > 0;
  }
  return false;
}

bool Session::Matches(const Rule& rule, const Expression& e, const char* text,
                      const char* lowered) {
  if (e.Match(text, nullptr, nullptr, lowered)) return true;
  // A PCRE2 pattern that gave up at its match/depth limit counts as no match; the rule is
  // reported once per session, not once per line.
  if (e.type() == ExpressionType::kPcre2 && e.limit_hit() && limit_reported_.insert(rule.id).second)
    limit_new_.push_back(rule.id);
  return false;
}

std::vector<int> Session::TakeLimitReports() {
  std::vector<int> out;
  out.swap(limit_new_);
  return out;
}

bool Session::FieldsMatch(const Event& ev, const Rule& rule) {
  for (const FieldCheck& c : rule.static_checks) {
    // A name that is no static field, hostname, program_name nor location has no value here
    // (StaticValue's answer); the others are read through their resolved reference.
    const std::string* v = !c.resolved                        ? StaticValue(ev, c.name)
                           : c.ref.kind == FieldRef::kDynamic ? nullptr
                                                              : RefValue(ev, c.ref);
    if (v == nullptr || !Matches(rule, c.expression, v->c_str())) return false;
  }
  for (const FieldCheck& c : rule.fields) {
    const std::string* v = ev.Field(c.name);
    if (v == nullptr || !Matches(rule, c.expression, v->c_str())) return false;
  }
  return true;
}

const Rule* Session::Check(Event& ev, const Rule& rule) {
  const Decoder* d = ev.decoder;
  if (!rule.decoded_as.empty() && (d == nullptr || d->display_name != rule.decoded_as))
    return nullptr;
  if (!rule.category.empty() && rule.category != TypeOf(ev)) return nullptr;
  if (rule.maxsize > 0 && ev.log.size() < static_cast<size_t>(rule.maxsize)) return nullptr;
  // The field conditions first (most are on short values, or fail at once when the decoder gave
  // no such field; analysisd also tests id/program_name before the log), then the log-wide
  // match/regex. The conditions have no side effects, so the order changes no verdict — except
  // if_fts, which records the key when reached: with it, the original order is kept.
  if (!rule.if_fts && !FieldsMatch(ev, rule)) return nullptr;
  if (rule.match && !Matches(rule, *rule.match, ev.log.c_str(), lower_.c_str())) return nullptr;
  if (rule.regex && !Matches(rule, *rule.regex, ev.log.c_str(), lower_.c_str())) return nullptr;
  if (!rule.compiled_rule.empty() && !CompiledRule(rule.compiled_rule, ev)) return nullptr;
  if (rule.if_fts) {
    // First time seen: only decoders with <fts> have a key; it is new once per session.
    if (d == nullptr || d->fts.empty()) return nullptr;
    std::string key = d->display_name;
    for (const auto& f : d->fts) {
      const std::string* v = f == "name" ? &d->display_name : AnyValue(ev, f);
      key += '\x1f';
      if (v != nullptr) key += *v;
    }
    if (!fts_seen_.insert(key).second) return nullptr;
    if (!FieldsMatch(ev, rule)) return nullptr;
  }
  for (const ListLookup& l : rule.lists) {
    if (!ListMatch(ev, l)) return nullptr;
  }
  if (rule.time || rule.weekdays != 0) {
    time_t t = static_cast<time_t>(ev.time);
    struct tm tmv {};
    localtime_r(&t, &tmv);
    if (rule.weekdays != 0 && (rule.weekdays & (1 << tmv.tm_wday)) == 0) return nullptr;
    if (rule.time) {
      int now = tmv.tm_hour * 60 + tmv.tm_min;
      auto [a, b] = *rule.time;
      bool in = a <= b ? (now >= a && now < b) : (now >= a || now < b);
      if (!in) return nullptr;
    }
  }
  if (rule.frequency > 0 || !rule.if_matched_sid.empty() || !rule.if_matched_group.empty() ||
      rule.timeframe > 0) {
    if (!CheckContext(ev, rule)) return nullptr;
  }
  const std::vector<Rule*>* children = &rule.children;
  if (rule.children_indexed) {
    children = &rule.children_undecoded;
    if (d != nullptr) {
      auto it = rule.children_by_decoder.find(d->display_name);
      if (it != rule.children_by_decoder.end()) children = &it->second;
    }
  }
  for (const Rule* child : *children) {
    if (const Rule* r = Check(ev, *child)) return r;
  }
  if (rule.noalert) return nullptr;
  ev.firedtimes = ++fired_[rule.id];
  return &rule;
}

Verdict Session::Process(std::string_view line, std::string_view location, int64_t now) {
  auto ev = std::make_shared<Event>();
  ev->location = std::string(location);
  ev->full_log = std::string(line);
  ev->time = now;
  PreDecode(*ev);
  // The log lower-cased once: OS_Match / OS_Regex search their literals in it.
  lower_.assign(ev->log);
  for (char& c : lower_) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  Decode(*ev);
  if (ruleset_->geoip() != nullptr) AddGeoIp(*ev);
  Verdict v;
  v.event = ev;
  std::string_view type = TypeOf(*ev);
  for (const Rule* root : ruleset_->root_rules()) {
    std::string_view cat =
        root->category.empty() ? std::string_view("syslog") : std::string_view(root->category);
    if (cat != type) continue;
    const Rule* r = Check(*ev, *root);
    if (r == nullptr) continue;
    v.rule = r;
    ev->rule = r;
    if (r->level == 0) break;
    if (r->ignore > 0) {
      // analysisd's ignore: the rule still shows, but raises nothing and feeds no history.
      auto& since = ignored_since_[r->id];
      if (since == 0) {
        since = now;
      } else if (now - since < r->ignore) {
        break;
      } else {
        // Wazuh forgets the window; OSSEC starts the next one at this event.
        since = compat_ == Compat::kOssec ? now : 0;
      }
    }
    // options no_log: analysisd keeps the event in the histories but logs no alert.
    v.alert = !r->no_log;
    if (r->keeps_sid_history) {
      Push(SidHistory(r->id), ev);
    } else {
      for (const auto& g : r->groups) {
        if (ruleset_->GroupKeepsHistory(g)) Push(GroupHistory(g), ev);
      }
    }
    if (compat_ == Compat::kOssec && events_.events.size() + 1 > events_.limit) {
      // The events the global list drops now, then what OSSEC's Free_Eventinfo does with each.
      size_t n = std::min(events_.drop, events_.events.size());
      std::vector<std::shared_ptr<Event>> dropped(events_.events.begin(),
                                                  events_.events.begin() + static_cast<long>(n));
      Push(events_, ev);
      for (const auto& e : dropped) ForgetOssec(*e);
    } else {
      Push(events_, ev);
    }
    break;
  }
  return v;
}

std::string DescribeRule(const Rule& r, const Event& ev) {
  std::string out;
  const std::string& d = r.description;
  for (size_t i = 0; i < d.size(); ++i) {
    if (d[i] == '$' && i + 1 < d.size() && d[i + 1] == '(') {
      size_t close = d.find(')', i);
      if (close != std::string::npos) {
        std::string name = d.substr(i + 2, close - i - 2);
        const std::string* v = name == "user" ? StaticValue(ev, name) : AnyValue(ev, name);
        if (v != nullptr) out += *v;
        i = close;
        continue;
      }
    }
    out.push_back(d[i]);
  }
  return out;
}

std::string FormatLogtest(const Verdict& v) {
  const Event& ev = *v.event;
  std::string out = "**Phase 1: Completed pre-decoding.\n";
  out += fmt::format("\tfull event: '{}'\n", ev.full_log);
  if (!ev.timestamp.empty()) out += fmt::format("\ttimestamp: '{}'\n", ev.timestamp);
  if (!ev.hostname.empty()) out += fmt::format("\thostname: '{}'\n", ev.hostname);
  if (ev.program_name) out += fmt::format("\tprogram_name: '{}'\n", *ev.program_name);
  out += "\n**Phase 2: Completed decoding.\n";
  if (ev.decoder == nullptr) {
    out += "\tNo decoder matched.\n";
  } else {
    out += fmt::format("\tname: '{}'\n", ev.decoder->display_name);
    if (!ev.decoder->parent.empty()) out += fmt::format("\tparent: '{}'\n", ev.decoder->parent);
    for (const auto& f : ev.fields) out += fmt::format("\t{}: '{}'\n", f.name, f.value);
  }
  if (v.rule != nullptr) {
    const Rule& r = *v.rule;
    out += "\n**Phase 3: Completed filtering (rules).\n";
    out += fmt::format("\tid: '{}'\n\tlevel: '{}'\n\tdescription: '{}'\n", r.id, r.level,
                       DescribeRule(r, ev));
    std::string groups;
    for (const auto& g : r.groups) groups += (groups.empty() ? "'" : ", '") + g + "'";
    out += fmt::format("\tgroups: '[{}]'\n", groups);
    out += fmt::format("\tfiredtimes: '{}'\n", ev.firedtimes);
    if (!r.mitre.empty()) {
      std::string ids;
      for (const auto& m : r.mitre) ids += (ids.empty() ? "'" : ", '") + m + "'";
      out += fmt::format("\tmitre.id: '[{}]'\n", ids);
    }
    if (v.alert) out += "**Alert to be generated.\n";
  }
  return out;
}

}  // namespace ward::agent::loginspect
