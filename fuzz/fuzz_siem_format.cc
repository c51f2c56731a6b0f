// SIEM formatters (manager/siem/format.h): any event document, and any bytes in its fields, give
// CEF, LEEF and JSON messages that are one line of valid UTF-8 whose CEF/LEEF header has exactly
// its fields (no unescaped '|' from a value); and the forwarders' formatter (SiemFormatter,
// simdjson on the stored text) writes exactly what AppendSiemMessage writes for the parsed text.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "manager/siem/format.h"

namespace {

using json = nlohmann::json;
using ward::manager::siem::SiemFormat;

bool ValidUtf8(const std::string& s) {
  try {
    (void)json(s).dump();
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

// Unescaped '|' before the extension (CEF: 7 of them, LEEF 2.0: 6).
int HeaderPipes(const std::string& s, int want) {
  int n = 0;
  for (size_t i = 0; i < s.size() && n < want; ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '|') {
      ++n;
    }
  }
  return n;
}

void Check(const json& doc) {
  for (SiemFormat f : {SiemFormat::kCef, SiemFormat::kLeef, SiemFormat::kJson}) {
    std::string out;
    ward::manager::siem::AppendSiemMessage(out, f, doc);
    if (out.find('\n') != std::string::npos || out.find('\r') != std::string::npos) {
      __builtin_trap();
    }
    if (!ValidUtf8(out)) __builtin_trap();
    if (f == SiemFormat::kCef && HeaderPipes(out, 7) != 7) __builtin_trap();
    if (f == SiemFormat::kLeef && HeaderPipes(out, 6) != 6) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  json doc = json::parse(text, nullptr, false);
  if (!doc.is_discarded()) Check(doc);
  static ward::manager::siem::SiemFormatter fast;
  for (SiemFormat f : {SiemFormat::kCef, SiemFormat::kLeef, SiemFormat::kJson}) {
    std::string want;
    ward::manager::siem::AppendSiemMessage(want, f, doc.is_discarded() ? json::object() : doc);
    std::string got;
    fast.Parse(text);
    fast.Append(got, f);
    if (got != want) __builtin_trap();
  }
  // The raw bytes (possibly not UTF-8) in every mapped kind of place.
  std::string raw(text);
  Check({{"@timestamp", raw},
         {"event", {{"module", raw}, {"action", raw}, {"severity", static_cast<int>(size)}}},
         {"agent", {{"version", raw}}},
         {"message", raw},
         {"rule", {{"id", json::array({raw, raw})}}},
         {"file", {{"path", raw}}}});
  return 0;
}
