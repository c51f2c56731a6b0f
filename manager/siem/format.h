// SIEM message bodies for one stored event (docs/siem.md): ArcSight CEF (version 0), IBM QRadar
// LEEF 2.0, or the event's own JSON. Field mappings per module are the table in format.cc
// (kFields), documented in docs/siem.md.
//
// Escaping, exactly as each format requires, and nothing a receiver could misread:
// - CEF header fields: `\` → `\\`, `|` → `\|`; CR and LF become a space (the header has no
//   escape for them). Extension values: `\` → `\\`, `=` → `\=`, LF → `\n`, CR → `\r`.
// - LEEF 2.0 header fields: `\` → `\\`, `|` → `\|`, CR/LF → space. Attributes are separated by a
//   tab (declared as `x09` in the header); in values `\` → `\\`, tab → `\t`, LF → `\n`,
//   CR → `\r`.
// - JSON: the stored document, compact, one line.
// - Every format: the output is valid UTF-8 (an invalid byte becomes U+FFFD), and other C0
//   control characters and DEL in CEF/LEEF values become U+FFFD, so the message is one line.
// Thread-safety: pure functions.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace ward::manager::siem {

enum class SiemFormat { kCef, kLeef, kJson };

// "cef", "leef", "json".
std::string_view SiemFormatName(SiemFormat f);
bool ParseSiemFormat(std::string_view s, SiemFormat& out);

// Appends the message body of event `doc` (the stored event document) in `format` to `out`.
// Never fails: a missing field is left out, a field of an unexpected type is written as its
// JSON text.
void AppendSiemMessage(std::string& out, SiemFormat format, const nlohmann::json& doc);

// The same bodies from a stored event's text (StoredEvent::doc_text), for the forwarders: the
// text is parsed once with simdjson (several times faster than nlohmann) and CEF/LEEF are
// written straight from it. The output is byte for byte that of AppendSiemMessage on
// nlohmann::json::parse(doc_text) (an unparseable text: an empty object): a text simdjson
// refuses, or a value the fast path does not reproduce exactly (a float, an object where a
// field's text is needed), and the JSON format, go through nlohmann.
// Thread-safety: one instance per thread (it keeps its parser's buffers between events).
class SiemFormatter {
 public:
  SiemFormatter();
  ~SiemFormatter();
  SiemFormatter(const SiemFormatter&) = delete;
  SiemFormatter& operator=(const SiemFormatter&) = delete;

  // Parses the event's text; `doc_text` must stay alive until the next Parse.
  void Parse(std::string_view doc_text);
  // host.name of the parsed event, "" when it is not a string.
  std::string HostName();
  // Appends the body of the parsed event in `format`.
  void Append(std::string& out, SiemFormat format);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// CEF severity (0..10) and LEEF sev (1..10) for event.severity 0..4: 1, 3, 5, 8, 10.
int SiemSeverity(int event_severity);

}  // namespace ward::manager::siem
