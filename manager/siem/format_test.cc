#include "manager/siem/format.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace ward::manager::siem {
namespace {

using json = nlohmann::json;

// A CEF line as a SIEM reads it: 7 header fields split at unescaped pipes, then the extension's
// key=value pairs (a key is the word before an unescaped '='), every value unescaped.
struct Cef {
  std::vector<std::string> header;
  std::map<std::string, std::string> ext;
};

std::string UnescapeCefValue(std::string_view v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\' && i + 1 < v.size()) {
      char n = v[++i];
      out += n == 'n' ? '\n' : n == 'r' ? '\r' : n;
    } else {
      out += v[i];
    }
  }
  return out;
}

Cef ParseCef(const std::string& line) {
  Cef c;
  size_t i = 0;
  std::string field;
  while (c.header.size() < 7 && i < line.size()) {
    if (line[i] == '\\' && i + 1 < line.size()) {
      field += line[i + 1];
      i += 2;
    } else if (line[i] == '|') {
      c.header.push_back(field);
      field.clear();
      ++i;
    } else {
      field += line[i++];
    }
  }
  std::string_view ext = std::string_view(line).substr(i);
  std::vector<size_t> eqs;  // positions of unescaped '='
  for (size_t k = 0; k < ext.size(); ++k) {
    if (ext[k] == '\\') {
      ++k;
    } else if (ext[k] == '=') {
      eqs.push_back(k);
    }
  }
  std::vector<std::pair<size_t, size_t>> keys;  // (key start, '=' position)
  for (size_t e : eqs) {
    size_t s = ext.rfind(' ', e);
    keys.push_back({s == std::string_view::npos ? 0 : s + 1, e});
  }
  for (size_t k = 0; k < keys.size(); ++k) {
    std::string key(ext.substr(keys[k].first, keys[k].second - keys[k].first));
    size_t vstart = keys[k].second + 1;
    size_t vend = k + 1 < keys.size() ? keys[k + 1].first - 1 : ext.size();
    c.ext[key] = UnescapeCefValue(ext.substr(vstart, vend - vstart));
  }
  return c;
}

// LEEF 2.0 with a tab delimiter: 6 header fields, then tab-separated key=value.
struct Leef {
  std::vector<std::string> header;
  std::map<std::string, std::string> attrs;
};

Leef ParseLeef(const std::string& line) {
  Leef l;
  size_t i = 0;
  std::string field;
  while (l.header.size() < 6 && i < line.size()) {
    if (line[i] == '\\' && i + 1 < line.size()) {
      field += line[i + 1];
      i += 2;
    } else if (line[i] == '|') {
      l.header.push_back(field);
      field.clear();
      ++i;
    } else {
      field += line[i++];
    }
  }
  std::string_view rest = std::string_view(line).substr(i);
  while (!rest.empty()) {
    size_t tab = rest.find('\t');
    std::string_view kv = rest.substr(0, tab);
    size_t eq = kv.find('=');
    std::string value;
    for (size_t k = eq + 1; k < kv.size(); ++k) {
      if (kv[k] == '\\' && k + 1 < kv.size()) {
        char n = kv[++k];
        value += n == 'n' ? '\n' : n == 'r' ? '\r' : n == 't' ? '\t' : n;
      } else {
        value += kv[k];
      }
    }
    l.attrs[std::string(kv.substr(0, eq))] = value;
    if (tab == std::string_view::npos) break;
    rest.remove_prefix(tab + 1);
  }
  return l;
}

bool ValidUtf8(const std::string& s) {
  try {
    (void)json(s).dump();  // throws on invalid UTF-8
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

// The hostile values every format must carry without a receiver misreading them.
const std::string kHostile = "a=b|c\\d\ne\rf g\tend==|\\|";

json HostileEvent() {
  return {{"@timestamp", "2026-11-25T21:03:14.476Z"},
          {"event",
           {{"id", "0193f0a2-0000-7000-8000-000000000001"},
            {"module", "ips"},
            {"action", "blocked|x=y"},
            {"severity", 3}}},
          {"agent", {{"id", "agent-1"}, {"version", "1.0|beta\\2"}}},
          {"host", {{"name", "web\n01"}}},
          {"message", kHostile},
          {"url", {{"original", "/?q=1&x=|\\"}}},
          {"source", {{"ip", "203.0.113.7"}, {"port", 41000}}},
          {"rule", {{"id", json::array({"942100", "949110"})}, {"name", "SQLi = bad"}}},
          {"file", {{"path", "/var/www/a b=c\\d|e\nf"}}}};
}

TEST(SiemFormatCef, HostileValuesSurviveARoundTrip) {
  std::string out;
  AppendSiemMessage(out, SiemFormat::kCef, HostileEvent());
  EXPECT_EQ(out.find('\n'), std::string::npos);
  EXPECT_EQ(out.find('\r'), std::string::npos);
  Cef c = ParseCef(out);
  ASSERT_EQ(c.header.size(), 7u) << out;
  EXPECT_EQ(c.header[0], "CEF:0");
  EXPECT_EQ(c.header[1], "Ward");
  EXPECT_EQ(c.header[3], "1.0|beta\\2");
  EXPECT_EQ(c.header[4], "ips:blocked|x=y");
  EXPECT_EQ(c.header[5], "a=b|c\\d e f g end==|\\|");  // the header has no escape for CR/LF
  EXPECT_EQ(c.header[6], "8");
  EXPECT_EQ(c.ext["msg"], kHostile);
  EXPECT_EQ(c.ext["request"], "/?q=1&x=|\\");
  EXPECT_EQ(c.ext["filePath"], "/var/www/a b=c\\d|e\nf");
  EXPECT_EQ(c.ext["dvchost"], "web\n01");
  EXPECT_EQ(c.ext["cs1"], "942100,949110");
  EXPECT_EQ(c.ext["cs1Label"], "ruleId");
  EXPECT_EQ(c.ext["cs2"], "SQLi = bad");
  EXPECT_EQ(c.ext["src"], "203.0.113.7");
  EXPECT_EQ(c.ext["spt"], "41000");
  EXPECT_EQ(c.ext["externalId"], "0193f0a2-0000-7000-8000-000000000001");
  EXPECT_EQ(c.ext["rt"], "1795640594476");
  EXPECT_EQ(c.ext["act"], "blocked|x=y");
}

TEST(SiemFormatLeef, HostileValuesSurviveARoundTrip) {
  std::string out;
  AppendSiemMessage(out, SiemFormat::kLeef, HostileEvent());
  EXPECT_EQ(out.find('\n'), std::string::npos);
  EXPECT_EQ(out.find('\r'), std::string::npos);
  Leef l = ParseLeef(out);
  ASSERT_EQ(l.header.size(), 6u) << out;
  EXPECT_EQ(l.header[0], "LEEF:2.0");
  EXPECT_EQ(l.header[3], "1.0|beta\\2");
  EXPECT_EQ(l.header[4], "ips:blocked|x=y");
  EXPECT_EQ(l.header[5], "x09");
  EXPECT_EQ(l.attrs["msg"], kHostile);
  EXPECT_EQ(l.attrs["name"], kHostile);
  EXPECT_EQ(l.attrs["resource"], "/var/www/a b=c\\d|e\nf");
  EXPECT_EQ(l.attrs["identHostName"], "web\n01");
  EXPECT_EQ(l.attrs["ruleId"], "942100,949110");
  EXPECT_EQ(l.attrs["sev"], "8");
  EXPECT_EQ(l.attrs["devTime"], "2026-11-25T21:03:14.476Z");
  EXPECT_EQ(l.attrs["srcPort"], "41000");
}

TEST(SiemFormatJson, IsTheDocumentOnOneLine) {
  std::string out;
  AppendSiemMessage(out, SiemFormat::kJson, HostileEvent());
  EXPECT_EQ(out.find('\n'), std::string::npos);
  EXPECT_EQ(json::parse(out), HostileEvent());
}

TEST(SiemFormat, NonUtf8AndControlBytesBecomeReplacementCharacters) {
  json e = HostileEvent();
  const std::string bad = std::string("x\xff\xfey\xc3(z\x01\x7f", 9) + "\xe6\x97\xa5";  // + 日
  e["message"] = bad;
  e["file"]["path"] = bad;
  for (SiemFormat f : {SiemFormat::kCef, SiemFormat::kLeef, SiemFormat::kJson}) {
    std::string out;
    AppendSiemMessage(out, f, e);
    EXPECT_TRUE(ValidUtf8(out)) << SiemFormatName(f);
    EXPECT_NE(out.find("\xef\xbf\xbd"), std::string::npos) << SiemFormatName(f);
    EXPECT_NE(out.find("\xe6\x97\xa5"), std::string::npos) << SiemFormatName(f);
    EXPECT_EQ(out.find('\x01'), std::string::npos) << SiemFormatName(f);
  }
  std::string cef;
  AppendSiemMessage(cef, SiemFormat::kCef, e);
  EXPECT_EQ(ParseCef(cef).ext["msg"],
            "x\xef\xbf\xbd\xef\xbf\xbdy\xef\xbf\xbd(z\xef\xbf\xbd\xef\xbf\xbd\xe6\x97\xa5");
}

TEST(SiemFormat, MissingAndOddlyTypedFieldsDoNotBreakTheMessage) {
  json e = {{"event", {{"module", 7}, {"severity", "high"}}}, {"message", json::object()}};
  std::string cef;
  AppendSiemMessage(cef, SiemFormat::kCef, e);
  Cef c = ParseCef(cef);
  ASSERT_EQ(c.header.size(), 7u) << cef;
  EXPECT_EQ(c.header[4], "7:");
  EXPECT_EQ(c.header[6], "1");
  EXPECT_EQ(c.ext["cat"], "7");
  std::string leef;
  AppendSiemMessage(leef, SiemFormat::kLeef, json::array());
  EXPECT_EQ(ParseLeef(leef).header.size(), 6u);
}

// The forwarders' formatter (simdjson, from the stored text) writes what AppendSiemMessage writes
// for the parsed document, byte for byte, whatever the text holds.
std::string Reference(SiemFormat f, const std::string& text) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) doc = json::object();
  std::string out;
  AppendSiemMessage(out, f, doc);
  return out;
}

TEST(SiemFormatter, WritesWhatTheParsedDocumentGives) {
  json odd = HostileEvent();
  odd["event"]["severity"] = 18446744073709551615ULL;  // unsigned, beyond int64
  odd["source"]["port"] = -0.0;
  odd["file"]["size"] = 1.5e3;
  odd["rule"]["level"] = true;
  odd["http"] = {{"response", {{"status_code", json::array({1, json::array({"a", 2}), nullptr})}}}};
  odd["integrity"] = {{"changed_attributes", {{"b", 1}, {"a", 2}}}};
  const std::vector<std::string> texts = {
      HostileEvent().dump(),
      odd.dump(),
      R"({"event":{"module":7,"severity":"high"},"message":{}})",
      R"({"message":"first","message":"second","event":{"action":"a"},"event":{"severity":4}})",
      R"({"rule":{"name":""},"ips":{"messages":["m1","m2"]},"event":{"severity":-3}})",
      R"({"ips":{"messages":[]},"event":{"action":["x","y"]},"agent":{"version":1.0}})",
      R"({"@timestamp":"not a time","host":{"name":5},"event":{"severity":2}})",
      R"({"@timestamp":"2026-02-30T00:00:00Z","event":{"id":"\u0000\u001f\u00e6\n"}})",
      R"({"message":"-0","source":{"port":-0},"destination":{"port":123456789012345678901234}})",
      R"(  {"message" : "spaces", "url" : {"original" : "a\tb"}}  )",
      "[1,2,3]",
      "\"a string\"",
      "null",
      "",
      "{\"message\":\"raw\x01control\"}",
      "{\"message\":\"bad \xff utf-8\"}",
      "{\"message\":\"lone \\ud800 surrogate\"}",
      "{\"message\":\"trailing\"} x",
      "{\"message\":\"unterminated",
      "{\"a\":[[[[[[[[[[1]]]]]]]]]],\"message\":\"deep\"}",
  };
  SiemFormatter fast;
  for (const std::string& text : texts) {
    for (SiemFormat f : {SiemFormat::kCef, SiemFormat::kLeef, SiemFormat::kJson}) {
      std::string out = "prefix:";
      fast.Parse(text);
      fast.Append(out, f);
      EXPECT_EQ(out, "prefix:" + Reference(f, text)) << SiemFormatName(f) << " of " << text;
    }
    json doc = json::parse(text, nullptr, false);
    std::string host;
    if (doc.is_object() && doc.contains("host") && doc["host"].is_object() &&
        doc["host"].contains("name") && doc["host"]["name"].is_string()) {
      host = doc["host"]["name"];
    }
    fast.Parse(text);
    EXPECT_EQ(fast.HostName(), host) << text;
  }
}

TEST(SiemFormat, NamesParse) {
  SiemFormat f;
  EXPECT_TRUE(ParseSiemFormat("leef", f));
  EXPECT_EQ(f, SiemFormat::kLeef);
  EXPECT_FALSE(ParseSiemFormat("CEF", f));
  EXPECT_EQ(SiemSeverity(0), 1);
  EXPECT_EQ(SiemSeverity(4), 10);
}

}  // namespace
}  // namespace ward::manager::siem
