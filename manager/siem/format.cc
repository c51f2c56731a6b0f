#include "manager/siem/format.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <vector>

namespace ward::manager::siem {

namespace {

using json = nlohmann::json;

// One event field and its names in CEF and LEEF. `cef_label` is set for CEF's custom fields
// (csN/cnN): the extension then also carries `<key>Label=<label>`. An empty leef name leaves the
// field out of LEEF. The same table for every module: a field an event lacks is left out.
struct FieldMap {
  std::vector<const char*> path;
  const char* cef;
  const char* cef_label;
  const char* leef;
};

const std::vector<FieldMap>& Fields() {
  static const std::vector<FieldMap> kFields = {
      // every event
      {{"event", "id"}, "externalId", nullptr, "eventId"},
      {{"event", "module"}, "cat", nullptr, "cat"},
      {{"event", "action"}, "act", nullptr, "action"},
      {{"event", "outcome"}, "outcome", nullptr, "outcome"},
      {{"host", "name"}, "dvchost", nullptr, "identHostName"},
      {{"agent", "id"}, "deviceExternalId", nullptr, "agentId"},
      {{"message"}, "msg", nullptr, "msg"},
      {{"error", "message"}, "reason", nullptr, "reason"},
      // network (ips, firewall, loginspect, egress)
      {{"source", "ip"}, "src", nullptr, "src"},
      {{"source", "port"}, "spt", nullptr, "srcPort"},
      {{"destination", "ip"}, "dst", nullptr, "dst"},
      {{"destination", "port"}, "dpt", nullptr, "dstPort"},
      {{"network", "transport"}, "proto", nullptr, "proto"},
      {{"network", "direction"}, "deviceDirection", nullptr, "direction"},
      // HTTP (ips, loginspect)
      {{"url", "original"}, "request", nullptr, "url"},
      {{"http", "request", "method"}, "requestMethod", nullptr, "requestMethod"},
      {{"user_agent", "original"}, "requestClientApplication", nullptr, "userAgent"},
      {{"http", "response", "status_code"}, "cn3", "httpStatus", "httpStatus"},
      // users and processes (loginspect, firewall)
      {{"user", "name"}, "suser", nullptr, "usrName"},
      {{"user", "id"}, "suid", nullptr, "usrId"},
      {{"process", "pid"}, "spid", nullptr, "pid"},
      {{"process", "executable"}, "sproc", nullptr, "process"},
      // files (integrity, autoheal, antimalware)
      {{"file", "path"}, "filePath", nullptr, "resource"},
      {{"file", "hash", "sha256"}, "fileHash", nullptr, "fileHash"},
      {{"file", "size"}, "fsize", nullptr, "fileSize"},
      {{"file", "type"}, "fileType", nullptr, "fileType"},
      {{"file", "mode"}, "filePermission", nullptr, "filePermission"},
      {{"file", "inode"}, "fileId", nullptr, "fileId"},
      {{"integrity", "previous_path"}, "oldFilePath", nullptr, "oldFilePath"},
      {{"autoheal", "sha256_before"}, "oldFileHash", nullptr, "oldFileHash"},
      // rules and detections
      {{"rule", "id"}, "cs1", "ruleId", "ruleId"},
      {{"rule", "name"}, "cs2", "ruleName", "ruleName"},
      {{"rule", "description"}, "cs3", "ruleDescription", "ruleDescription"},
      {{"integrity", "changed_attributes"}, "cs4", "changedAttributes", "changedAttributes"},
      {{"autoheal", "commit"}, "cs5", "gitCommit", "gitCommit"},
      {{"antimalware", "engine"}, "cs6", "engine", "engine"},
      {{"ips", "anomaly_score"}, "cn1", "anomalyScore", "anomalyScore"},
      {{"rule", "level"}, "cn2", "ruleLevel", "ruleLevel"},
      {{"event", "original"}, "rawEvent", nullptr, "rawEvent"},
  };
  return kFields;
}

// Two views of one event document behind the same formatting code (so both give the same
// bytes): a parsed nlohmann::json (AppendSiemMessage), and a simdjson DOM element parsed from the
// stored text (SiemFormatter). A view's Value has: IsNull, IsString/Str, IsArray/Elements,
// IsInteger/Int, and AppendScalarText (the JSON text of any other value).

struct NlohmannValue {
  const json* v;
  bool IsNull() const { return v->is_null(); }
  bool IsString() const { return v->is_string(); }
  std::string_view Str() const { return v->get_ref<const std::string&>(); }
  bool IsArray() const { return v->is_array(); }
  bool IsInteger() const { return v->is_number_integer(); }
  int64_t Int() const { return v->get<int64_t>(); }
  template <typename F>
  void ForEach(F&& f) const {
    for (const auto& e : *v) f(NlohmannValue{&e});
  }
  bool ArrayEmpty() const { return v->empty(); }
  NlohmannValue Front() const { return {&v->front()}; }
  void AppendScalarText(std::string& out, bool& /*unsupported*/) const {
    out += v->dump(-1, ' ', false, json::error_handler_t::replace);
  }
};

struct NlohmannDoc {
  const json& doc;
  mutable bool unsupported = false;  // never set: nlohmann formats every value
  NlohmannValue At(std::initializer_list<const char*> p) const { return At(p.begin(), p.end()); }
  NlohmannValue At(const std::vector<const char*>& p) const {
    return At(p.data(), p.data() + p.size());
  }
  NlohmannValue At(const char* const* begin, const char* const* end) const {
    static const json kNull;
    const json* cur = &doc;
    for (const char* const* k = begin; k != end; ++k) {
      if (!cur->is_object()) return {&kNull};
      auto it = cur->find(*k);
      if (it == cur->end()) return {&kNull};
      cur = &*it;
    }
    return {cur};
  }
};

// Reads a simdjson result into `out` (left as it was on an error: the callers checked the type).
template <typename R, typename T>
void Get(R&& r, T& out) {
  T v{};
  if (std::forward<R>(r).get(v) == simdjson::SUCCESS) out = v;
}

struct SimdValue {
  simdjson::dom::element v;  // a default element (no tape) stands for "missing": null
  bool missing = false;
  simdjson::dom::element_type Type() const { return v.type(); }
  bool IsNull() const { return missing || Type() == simdjson::dom::element_type::NULL_VALUE; }
  bool IsString() const { return !missing && Type() == simdjson::dom::element_type::STRING; }
  std::string_view Str() const {
    std::string_view s;
    Get(v.get_string(), s);
    return s;
  }
  bool IsArray() const { return !missing && Type() == simdjson::dom::element_type::ARRAY; }
  bool IsInteger() const {
    return !missing && (Type() == simdjson::dom::element_type::INT64 ||
                        Type() == simdjson::dom::element_type::UINT64);
  }
  int64_t Int() const {
    if (Type() == simdjson::dom::element_type::UINT64) {
      uint64_t u = 0;
      Get(v.get_uint64(), u);
      return static_cast<int64_t>(u);  // as nlohmann's get<int64_t>() of an unsigned number
    }
    int64_t i = 0;
    Get(v.get_int64(), i);
    return i;
  }
  template <typename F>
  void ForEach(F&& f) const {
    simdjson::dom::array a;
    if (v.get_array().get(a) != simdjson::SUCCESS) return;
    for (simdjson::dom::element e : a) f(SimdValue{e});
  }
  bool ArrayEmpty() const {
    simdjson::dom::array a;
    if (v.get_array().get(a) != simdjson::SUCCESS) return true;
    return a.begin() == a.end();
  }
  SimdValue Front() const {
    simdjson::dom::array a;
    Get(v.get_array(), a);
    return {*a.begin()};
  }
  // Integers and booleans as nlohmann writes them; a float or an object: `unsupported` (the
  // caller formats the event with nlohmann instead, whose number and key order it would not
  // reproduce).
  void AppendScalarText(std::string& out, bool& unsupported) const {
    switch (Type()) {
      case simdjson::dom::element_type::INT64: {
        int64_t i = 0;
        Get(v.get_int64(), i);
        fmt::format_to(std::back_inserter(out), "{}", i);
        return;
      }
      case simdjson::dom::element_type::UINT64: {
        uint64_t u = 0;
        Get(v.get_uint64(), u);
        fmt::format_to(std::back_inserter(out), "{}", u);
        return;
      }
      case simdjson::dom::element_type::BOOL: {
        bool b = false;
        Get(v.get_bool(), b);
        out += b ? "true" : "false";
        return;
      }
      default:
        unsupported = true;
        return;
    }
  }
};

struct SimdDoc {
  simdjson::dom::element doc;
  mutable bool unsupported = false;
  // Objects with a key twice: the last one counts, as in nlohmann.
  SimdValue At(std::initializer_list<const char*> p) const { return At(p.begin(), p.end()); }
  SimdValue At(const std::vector<const char*>& p) const {
    return At(p.data(), p.data() + p.size());
  }
  SimdValue At(const char* const* begin, const char* const* end) const {
    simdjson::dom::element cur = doc;
    for (const char* const* k = begin; k != end; ++k) {
      simdjson::dom::object o;
      if (cur.get_object().get(o) != simdjson::SUCCESS) return {{}, true};
      bool found = false;
      const std::string_view key(*k);
      for (simdjson::dom::key_value_pair kv : o) {
        if (kv.key.size() == key.size() && kv.key[0] == key[0] && kv.key == key) {
          cur = kv.value;
          found = true;
        }
      }
      if (!found) return {{}, true};
    }
    return {cur};
  }
};

// The text of a value: strings as they are, arrays joined with ",", other scalars as JSON.
template <typename V>
void AppendText(std::string& out, const V& v, bool& unsupported) {
  if (v.IsString()) {
    out += v.Str();
    return;
  }
  if (v.IsArray()) {
    bool first = true;
    v.ForEach([&](const V& e) {
      if (!first) out += ',';
      first = false;
      AppendText(out, e, unsupported);
    });
    return;
  }
  if (v.IsNull()) return;
  v.AppendScalarText(out, unsupported);
}

template <typename V>
std::string Text(const V& v, bool& unsupported) {
  std::string out;
  AppendText(out, v, unsupported);
  return out;
}
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence at s[i], or 0 when the bytes there are not one.
size_t Utf8Len(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

enum class Part { kCefHeader, kCefValue, kLeefHeader, kLeefValue };

// Appends `s` escaped for `part`, as valid UTF-8.
void AppendEscaped(std::string& out, std::string_view s, Part part) {
  const bool header = part == Part::kCefHeader || part == Part::kLeefHeader;
  for (size_t i = 0; i < s.size();) {
    // A run of printable ASCII that no part escapes is copied at once.
    size_t run = i;
    while (run < s.size()) {
      const auto b = static_cast<unsigned char>(s[run]);
      if (b < 0x20 || b >= 0x7F || b == '\\' || b == '|' || b == '=') break;
      ++run;
    }
    if (run > i) {
      out.append(s.data() + i, run - i);
      i = run;
      continue;
    }
    const char c = s[i];
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      size_t n = Utf8Len(s, i);
      if (n == 0) {
        out += kReplacement;
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    ++i;
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '|' && header) {
      out += "\\|";
    } else if (c == '=' && part == Part::kCefValue) {
      out += "\\=";
    } else if (c == '\n' || c == '\r') {
      if (header) {
        out += ' ';
      } else {
        out += c == '\n' ? "\\n" : "\\r";
      }
    } else if (c == '\t' && part == Part::kLeefValue) {
      out += "\\t";
    } else if (c == '\t' && header) {
      out += ' ';
    } else if (u < 0x20 && c != '\t') {
      out += kReplacement;
    } else if (u == 0x7F) {
      out += kReplacement;
    } else {
      out += c;
    }
  }
}

template <typename D>
int EventSeverity(const D& doc) {
  auto v = doc.At({"event", "severity"});
  if (v.IsInteger()) return static_cast<int>(std::clamp<int64_t>(v.Int(), 0, 4));
  return 0;
}

// A short human name for the event: its message, the rule's name or description, the first IPS
// message, else the action.
template <typename D>
std::string EventName(const D& doc) {
  static const std::vector<const char*> kPaths[] = {
      {"message"}, {"rule", "name"}, {"rule", "description"}, {"ips", "messages"}};
  for (const auto& path : kPaths) {
    auto v = doc.At(path);
    if (v.IsString() && !v.Str().empty()) return std::string(v.Str());
    if (v.IsArray() && !v.ArrayEmpty() && v.Front().IsString()) return std::string(v.Front().Str());
  }
  std::string action = Text(doc.At({"event", "action"}), doc.unsupported);
  return action.empty() ? "event" : action;
}

template <typename D>
std::string SignatureId(const D& doc) {
  std::string out = Text(doc.At({"event", "module"}), doc.unsupported);
  out += ':';
  AppendText(out, doc.At({"event", "action"}), doc.unsupported);
  return out;
}

// Milliseconds since the epoch of an ISO 8601 UTC time ("2026-11-25T21:03:14.476Z"), or -1.
int64_t EpochMillis(std::string_view iso_view) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0;
  double s = 0;
  // The usual shape, "YYYY-MM-DDTHH:MM:SS[.fff]Z", is read directly (as sscanf reads it);
  // anything else by sscanf.
  auto digits = [&](size_t at, size_t n, int& v) {
    v = 0;
    for (size_t k = at; k < at + n; ++k) {
      if (iso_view[k] < '0' || iso_view[k] > '9') return false;
      v = v * 10 + (iso_view[k] - '0');
    }
    return true;
  };
  auto seconds = [&]() {
    std::string_view sec = iso_view.substr(17, iso_view.size() - 18);
    if (sec.size() < 2 || sec[0] < '0' || sec[0] > '9') return false;
    for (char c : sec) {
      if ((c < '0' || c > '9') && c != '.') return false;
    }
    auto [end, ec] = std::from_chars(sec.data(), sec.data() + sec.size(), s);
    return ec == std::errc() && end == sec.data() + sec.size();
  };
  const bool usual = iso_view.size() >= 20 && iso_view.back() == 'Z' && digits(0, 4, y) &&
                     iso_view[4] == '-' && digits(5, 2, mo) && iso_view[7] == '-' &&
                     digits(8, 2, d) && iso_view[10] == 'T' && digits(11, 2, h) &&
                     iso_view[13] == ':' && digits(14, 2, mi) && iso_view[16] == ':' && seconds();
  if (!usual) {
    const std::string iso(iso_view);
    if (std::sscanf(iso.c_str(), "%d-%d-%dT%d:%d:%lfZ", &y, &mo, &d, &h, &mi, &s) != 6) {
      return -1;
    }
  }
  using namespace std::chrono;
  year_month_day ymd{year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
  if (!ymd.ok()) return -1;
  auto days = sys_days(ymd).time_since_epoch();
  return duration_cast<milliseconds>(days).count() + (h * 3600LL + mi * 60LL) * 1000 +
         static_cast<int64_t>(s * 1000.0 + 0.5);
}

template <typename D>
void AppendCef(std::string& out, const D& doc) {
  bool& unsupported = doc.unsupported;
  std::string text;
  out += "CEF:0|Ward|Ward|";
  AppendText(text, doc.At({"agent", "version"}), unsupported);
  AppendEscaped(out, text, Part::kCefHeader);
  out += '|';
  AppendEscaped(out, SignatureId(doc), Part::kCefHeader);
  out += '|';
  AppendEscaped(out, EventName(doc), Part::kCefHeader);
  fmt::format_to(std::back_inserter(out), "|{}|", SiemSeverity(EventSeverity(doc)));
  bool first = true;
  auto add = [&](std::string_view key, std::string_view value) {
    if (!first) out += ' ';
    first = false;
    out += key;
    out += '=';
    AppendEscaped(out, value, Part::kCefValue);
  };
  auto ts = doc.At({"@timestamp"});
  if (ts.IsString()) {
    int64_t ms = EpochMillis(ts.Str());
    if (ms >= 0) add("rt", std::to_string(ms));
  }
  for (const auto& f : Fields()) {
    auto v = doc.At(f.path);
    if (v.IsNull()) continue;
    text.clear();
    AppendText(text, v, unsupported);
    add(f.cef, text);
    if (f.cef_label != nullptr) {
      out += ' ';
      out += f.cef;
      out += "Label=";
      AppendEscaped(out, f.cef_label, Part::kCefValue);
    }
  }
}

template <typename D>
void AppendLeef(std::string& out, const D& doc) {
  bool& unsupported = doc.unsupported;
  std::string text;
  out += "LEEF:2.0|Ward|Ward|";
  AppendText(text, doc.At({"agent", "version"}), unsupported);
  AppendEscaped(out, text, Part::kLeefHeader);
  out += '|';
  AppendEscaped(out, SignatureId(doc), Part::kLeefHeader);
  out += "|x09|";
  bool first = true;
  auto add = [&](std::string_view key, std::string_view value) {
    if (!first) out += '\t';
    first = false;
    out += key;
    out += '=';
    AppendEscaped(out, value, Part::kLeefValue);
  };
  auto ts = doc.At({"@timestamp"});
  if (ts.IsString()) {
    add("devTime", ts.Str());
    add("devTimeFormat", "yyyy-MM-dd'T'HH:mm:ss.SSSX");
  }
  add("sev", std::to_string(SiemSeverity(EventSeverity(doc))));
  add("name", EventName(doc));
  for (const auto& f : Fields()) {
    auto v = doc.At(f.path);
    if (v.IsNull() || f.leef == nullptr) continue;
    text.clear();
    AppendText(text, v, unsupported);
    add(f.leef, text);
  }
}

// Bytes a stored text may hold that simdjson accepts and nlohmann refuses (raw control bytes):
// such a text goes to nlohmann.
bool HasControlBytes(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20) return true;
  }
  return false;
}

}  // namespace

std::string_view SiemFormatName(SiemFormat f) {
  switch (f) {
    case SiemFormat::kCef:
      return "cef";
    case SiemFormat::kLeef:
      return "leef";
    case SiemFormat::kJson:
      return "json";
  }
  return "json";
}

bool ParseSiemFormat(std::string_view s, SiemFormat& out) {
  if (s == "cef") {
    out = SiemFormat::kCef;
  } else if (s == "leef") {
    out = SiemFormat::kLeef;
  } else if (s == "json") {
    out = SiemFormat::kJson;
  } else {
    return false;
  }
  return true;
}

int SiemSeverity(int event_severity) {
  static constexpr std::array<int, 5> kMap = {1, 3, 5, 8, 10};
  return kMap[static_cast<size_t>(std::clamp(event_severity, 0, 4))];
}

void AppendSiemMessage(std::string& out, SiemFormat format, const nlohmann::json& doc) {
  switch (format) {
    case SiemFormat::kCef:
      AppendCef(out, NlohmannDoc{doc});
      return;
    case SiemFormat::kLeef:
      AppendLeef(out, NlohmannDoc{doc});
      return;
    case SiemFormat::kJson:
      out += doc.dump(-1, ' ', false, json::error_handler_t::replace);
      return;
  }
}

}  // namespace ward::manager::siem

namespace ward::manager::siem {

struct SiemFormatter::Impl {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  bool parsed = false;  // `doc` holds the text given to Parse
  std::string_view text;
};

SiemFormatter::SiemFormatter() : impl_(std::make_unique<Impl>()) {}
SiemFormatter::~SiemFormatter() = default;

void SiemFormatter::Parse(std::string_view doc_text) {
  impl_->text = doc_text;
  impl_->parsed = false;
  if (HasControlBytes(doc_text)) return;
  impl_->parsed =
      impl_->parser.parse(doc_text.data(), doc_text.size()).get(impl_->doc) == simdjson::SUCCESS;
}

std::string SiemFormatter::HostName() {
  if (impl_->parsed) {
    auto v = SimdDoc{impl_->doc}.At({"host", "name"});
    return v.IsString() ? std::string(v.Str()) : std::string();
  }
  json doc = json::parse(impl_->text, nullptr, false);
  auto v = NlohmannDoc{doc}.At({"host", "name"});
  return v.IsString() ? std::string(v.Str()) : std::string();
}

void SiemFormatter::Append(std::string& out, SiemFormat format) {
  if (impl_->parsed && format != SiemFormat::kJson) {
    const size_t mark = out.size();
    SimdDoc doc{impl_->doc};
    if (format == SiemFormat::kCef) {
      AppendCef(out, doc);
    } else {
      AppendLeef(out, doc);
    }
    if (!doc.unsupported) return;
    out.resize(mark);
  }
  json doc = json::parse(impl_->text, nullptr, false);
  if (doc.is_discarded()) doc = json::object();
  AppendSiemMessage(out, format, doc);
}

}  // namespace ward::manager::siem
