#include "manager/siem/format.h"

#include <fmt/format.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <initializer_list>
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

const json& At(const json& doc, const std::vector<const char*>& path) {
  static const json kNull;
  const json* cur = &doc;
  for (const char* k : path) {
    if (!cur->is_object()) return kNull;
    auto it = cur->find(k);
    if (it == cur->end()) return kNull;
    cur = &*it;
  }
  return *cur;
}

// The text of a value: strings as they are, arrays joined with ",", other scalars as JSON.
std::string Text(const json& v) {
  if (v.is_string()) return v.get_ref<const std::string&>();
  if (v.is_array()) {
    std::string out;
    for (const auto& e : v) {
      if (!out.empty()) out += ',';
      out += Text(e);
    }
    return out;
  }
  if (v.is_null()) return {};
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
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

int EventSeverity(const json& doc) {
  const json& v = At(doc, {"event", "severity"});
  if (v.is_number_integer()) return static_cast<int>(std::clamp<int64_t>(v.get<int64_t>(), 0, 4));
  return 0;
}

// A short human name for the event: its message, the rule's name or description, the first IPS
// message, else the action.
std::string EventName(const json& doc) {
  for (const auto& path : std::initializer_list<std::vector<const char*>>{
           {"message"}, {"rule", "name"}, {"rule", "description"}, {"ips", "messages"}}) {
    const json& v = At(doc, path);
    if (v.is_string() && !v.get_ref<const std::string&>().empty()) return v;
    if (v.is_array() && !v.empty() && v.front().is_string()) return v.front();
  }
  std::string action = Text(At(doc, {"event", "action"}));
  return action.empty() ? "event" : action;
}

std::string SignatureId(const json& doc) {
  return fmt::format("{}:{}", Text(At(doc, {"event", "module"})),
                     Text(At(doc, {"event", "action"})));
}

// Milliseconds since the epoch of an ISO 8601 UTC time ("2026-11-25T21:03:14.476Z"), or -1.
int64_t EpochMillis(const std::string& iso) {
  int y, mo, d, h, mi;
  double s;
  if (std::sscanf(iso.c_str(), "%d-%d-%dT%d:%d:%lfZ", &y, &mo, &d, &h, &mi, &s) != 6) return -1;
  using namespace std::chrono;
  year_month_day ymd{year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
  if (!ymd.ok()) return -1;
  auto days = sys_days(ymd).time_since_epoch();
  return duration_cast<milliseconds>(days).count() + (h * 3600LL + mi * 60LL) * 1000 +
         static_cast<int64_t>(s * 1000.0 + 0.5);
}

void AppendCef(std::string& out, const json& doc) {
  out += "CEF:0|Ward|Ward|";
  AppendEscaped(out, Text(At(doc, {"agent", "version"})), Part::kCefHeader);
  out += '|';
  AppendEscaped(out, SignatureId(doc), Part::kCefHeader);
  out += '|';
  AppendEscaped(out, EventName(doc), Part::kCefHeader);
  out += fmt::format("|{}|", SiemSeverity(EventSeverity(doc)));
  bool first = true;
  auto add = [&](std::string_view key, std::string_view value) {
    if (!first) out += ' ';
    first = false;
    out += key;
    out += '=';
    AppendEscaped(out, value, Part::kCefValue);
  };
  const json& ts = At(doc, {"@timestamp"});
  if (ts.is_string()) {
    int64_t ms = EpochMillis(ts.get_ref<const std::string&>());
    if (ms >= 0) add("rt", std::to_string(ms));
  }
  for (const auto& f : Fields()) {
    const json& v = At(doc, f.path);
    if (v.is_null()) continue;
    add(f.cef, Text(v));
    if (f.cef_label != nullptr) add(std::string(f.cef) + "Label", f.cef_label);
  }
}

void AppendLeef(std::string& out, const json& doc) {
  out += "LEEF:2.0|Ward|Ward|";
  AppendEscaped(out, Text(At(doc, {"agent", "version"})), Part::kLeefHeader);
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
  const json& ts = At(doc, {"@timestamp"});
  if (ts.is_string()) {
    add("devTime", ts.get_ref<const std::string&>());
    add("devTimeFormat", "yyyy-MM-dd'T'HH:mm:ss.SSSX");
  }
  add("sev", std::to_string(SiemSeverity(EventSeverity(doc))));
  add("name", EventName(doc));
  for (const auto& f : Fields()) {
    const json& v = At(doc, f.path);
    if (v.is_null() || f.leef == nullptr) continue;
    add(f.leef, Text(v));
  }
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
      AppendCef(out, doc);
      return;
    case SiemFormat::kLeef:
      AppendLeef(out, doc);
      return;
    case SiemFormat::kJson:
      out += doc.dump(-1, ' ', false, json::error_handler_t::replace);
      return;
  }
}

}  // namespace ward::manager::siem
