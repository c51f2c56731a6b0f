// HTML escaping of text from events, agents and users (host names, rule messages, paths) for
// the manager's HTML outputs: alert e-mails and reports. Escapes the five characters that matter
// in element text and quoted attribute values.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace ward {

inline void AppendHtmlEscaped(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
}

inline std::string HtmlEscaped(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  AppendHtmlEscaped(out, s);
  return out;
}

}  // namespace ward
