#include "agent/modules/ips/seclang/body/body_cases.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <sstream>
#include <string>

namespace ward::seclang::body::test {
namespace {

std::string OraclesDir() { return WARD_SECLANG_ORACLES; }

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

BodyProcessorKind KindFromContentType(const std::string& ct) {
  const std::string l = Lower(ct);
  if (l.rfind("multipart/form-data", 0) == 0) return BodyProcessorKind::kMultipart;
  if (l.rfind("application/x-www-form-urlencoded", 0) == 0) return BodyProcessorKind::kUrlEncoded;
  // modsecurity.conf-recommended: 200000 (XML) and 200001 (JSON).
  static const std::regex xml("^(?:application(?:/soap\\+|/)|text/)xml");
  if (std::regex_search(l, xml)) return BodyProcessorKind::kXml;
  if (l.rfind("application/json", 0) == 0) return BodyProcessorKind::kJson;
  return BodyProcessorKind::kNone;
}

std::string Hex2Bin(const std::string& hex) {
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::string ToCrlf(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) out.push_back('\r');
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace

std::vector<BodyCase> RegressionCases() {
  std::vector<BodyCase> out;
  std::vector<std::filesystem::path> files;
  for (const auto& e :
       std::filesystem::directory_iterator(OraclesDir() + "/modsecurity-3.0.9-regression")) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    const auto doc = nlohmann::json::parse(ReadFile(f), nullptr, false);
    if (!doc.is_array()) continue;
    int index = 0;
    for (const auto& t : doc) {
      ++index;
      if (!t.is_object() || !t.contains("request")) continue;
      const auto& req = t["request"];
      BodyCase c;
      c.label = f.filename().string() + "#" + std::to_string(index);
      if (req.contains("headers") && req["headers"].is_object()) {
        for (const auto& [k, v] : req["headers"].items()) {
          if (Lower(k) == "content-type" && v.is_string()) c.content_type = v.get<std::string>();
        }
      }
      if (req.contains("body") && req["body"].is_array()) {
        bool first = true;
        for (const auto& line : req["body"]) {
          if (!line.is_string()) continue;
          if (!first) c.body += "\n";
          c.body += line.get<std::string>();
          first = false;
        }
      }
      std::string rules;
      if (t.contains("rules") && t["rules"].is_array()) {
        for (const auto& r : t["rules"]) {
          if (r.is_string()) rules += r.get<std::string>() + "\n";
        }
      }
      if (c.content_type) c.kind = KindFromContentType(*c.content_type);
      if (c.kind == BodyProcessorKind::kXml || c.kind == BodyProcessorKind::kJson) {
        c.kind = BodyProcessorKind::kNone;  // only a rule chooses these in those tests
      }
      if (rules.find("requestBodyProcessor=JSON") != std::string::npos) {
        c.kind = BodyProcessorKind::kJson;
      }
      if (rules.find("requestBodyProcessor=XML") != std::string::npos) {
        c.kind = BodyProcessorKind::kXml;
      }
      if (c.kind == BodyProcessorKind::kNone || c.body.empty()) continue;
      std::smatch m;
      static const std::regex no_files("SecRequestBodyNoFilesLimit\\s+(\\d+)");
      static const std::regex args_limit("SecArgumentsLimit\\s+(\\d+)");
      static const std::regex depth("SecRequestBodyJsonDepthLimit\\s+(\\d+)");
      static const std::regex body_limit("SecRequestBodyLimit\\s+(\\d+)");
      if (std::regex_search(rules, m, no_files)) c.settings.no_files_limit = std::stoull(m[1]);
      if (std::regex_search(rules, m, args_limit)) c.settings.arguments_limit = std::stoull(m[1]);
      if (std::regex_search(rules, m, depth)) c.settings.json_depth_limit = std::stod(m[1]);
      if (std::regex_search(rules, m, body_limit)) c.body_limit = std::stoull(m[1]);
      c.partial = rules.find("SecRequestBodyLimitAction Reject") == std::string::npos;
      out.push_back(std::move(c));
    }
  }
  return out;
}

std::vector<BodyCase> CrsCases() {
  std::vector<BodyCase> out;
  const std::string path = std::string(WARD_SECLANG_ORACLES) + "/../seclang-body/crs-bodies.json";
  const auto doc = nlohmann::json::parse(ReadFile(path), nullptr, false);
  if (!doc.is_array()) return out;
  for (const auto& t : doc) {
    BodyCase c;
    c.label = "crs " + t.value("title", "");
    c.content_type = t.value("content_type", "");
    c.body = Hex2Bin(t.value("data_hex", ""));
    c.kind = KindFromContentType(*c.content_type);
    if (c.kind != BodyProcessorKind::kNone && c.kind != BodyProcessorKind::kUrlEncoded) {
      out.push_back(c);
    }
    if (c.kind == BodyProcessorKind::kMultipart) {
      BodyCase crlf = c;
      crlf.label += " (CRLF)";
      crlf.body = ToCrlf(c.body);
      out.push_back(std::move(crlf));
    }
    for (auto kind : {BodyProcessorKind::kJson, BodyProcessorKind::kXml}) {
      if (kind == c.kind) continue;
      BodyCase other = c;
      other.kind = kind;
      other.label += kind == BodyProcessorKind::kJson ? " (as JSON)" : " (as XML)";
      out.push_back(std::move(other));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Generated bodies.

namespace {

class Gen {
 public:
  explicit Gen(uint32_t seed) : rng_(seed) {}
  uint32_t Below(uint32_t n) { return n == 0 ? 0 : rng_() % n; }
  bool Chance(uint32_t percent) { return Below(100) < percent; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Below(static_cast<uint32_t>(v.size()))];
  }

  std::string Eol() { return Chance(80) ? "\r\n" : (Chance(80) ? "\n" : "\r"); }

  std::string Token() {
    static const std::vector<std::string> kTokens = {"a",
                                                     "file",
                                                     "x y",
                                                     "\"",
                                                     "'",
                                                     ";",
                                                     "=",
                                                     "\\",
                                                     "\\\"",
                                                     " ",
                                                     "\t",
                                                     "%41",
                                                     "\xc3\xa9",
                                                     "\xff\xfe",
                                                     std::string(1, '\0'),
                                                     "--",
                                                     "name",
                                                     "filename",
                                                     "filename*",
                                                     "form-data",
                                                     "utf-8''a%20b",
                                                     "boundary",
                                                     "\r",
                                                     "\n",
                                                     "<script>",
                                                     "../../etc/passwd"};
    return Pick(kTokens);
  }
  std::string Words(int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += Token();
    return s;
  }

  std::string Boundary() {
    static const std::vector<std::string> kBoundaries = {"----WebKitFormBoundary7MA4YWxkTrZu0gW",
                                                         "0000",
                                                         "a",
                                                         "x y",
                                                         "abc'()+_,-./:=?",
                                                         "AaB03x",
                                                         "bound;ary",
                                                         "b\"q"};
    return Pick(kBoundaries);
  }

  std::string ContentType(const std::string& b) {
    switch (Below(12)) {
      case 0:
        return "multipart/form-data; boundary=\"" + b + "\"";
      case 1:
        return "multipart/form-data boundary=" + b;
      case 2:
        return "multipart/form-data; boundary =" + b;
      case 3:
        return "multipart/form-data; boundary= " + b;
      case 4:
        return "multipart/form-data; boundary=" + b + "; charset=utf-8";
      case 5:
        return "multipart/form-data; boundary=" + b + "; boundary=x";
      case 6:
        return "Multipart/Form-Data; BOUNDARY=" + b;
      case 7:
        return "multipart/form-data; ; boundary=" + b;
      case 8:
        return "multipart/form-data; boundary=\"" + b;
      case 9:
        return "multipart/form-data; boundary=" + std::string(1100, 'b');
      default:
        return "multipart/form-data; boundary=" + b;
    }
  }

  std::string Disposition() {
    std::string cd = Chance(90)
                         ? "form-data"
                         : Pick(std::vector<std::string>{"attachment", "Form-Data", "form-data,"});
    const int params = static_cast<int>(Below(4));
    for (int i = 0; i < params; ++i) {
      cd += Chance(90) ? ";" : "";
      cd += Chance(80) ? " " : (Chance(50) ? "\t" : "");
      const std::string pname =
          Pick(std::vector<std::string>{"name", "name", "filename", "filename*", "Name", "x"});
      cd += pname;
      cd += Chance(90) ? "=" : " = ";
      const uint32_t q = Below(5);
      const std::string v =
          Chance(70) ? Pick(std::vector<std::string>{"field", "f1", "upload", "a b", "", "x.txt"})
                     : Words(1 + static_cast<int>(Below(3)));
      if (pname == "filename*" && Chance(60)) {
        cd += Pick(std::vector<std::string>{"utf-8''", "UTF-8'en'", "''", "utf-8'"}) + v;
      } else if (q == 0) {
        cd += v;
      } else if (q == 1) {
        cd += "'" + v + "'";
      } else if (q == 2 && Chance(30)) {
        cd += "\"" + v;
      } else {
        cd += "\"" + v + "\"";
      }
      if (Chance(10)) cd += Token();
    }
    return cd;
  }

  BodyCase Multipart() {
    BodyCase c;
    c.kind = BodyProcessorKind::kMultipart;
    const std::string b = Boundary();
    c.content_type = Chance(85) ? "multipart/form-data; boundary=" + b : ContentType(b);
    std::string body;
    if (Chance(10)) body += Words(2) + Eol();
    const int parts = static_cast<int>(Below(5));
    for (int p = 0; p < parts; ++p) {
      body += (Chance(95) ? "--" + b : (Chance(50) ? "-- " + b : "--\"" + b + "\"")) + Eol();
      if (Chance(92))
        body += std::string(Chance(90) ? "Content-Disposition" : "content-disposition") + ":" +
                (Chance(90) ? " " : "") + Disposition() + Eol();
      if (Chance(30))
        body += "Content-Type: " +
                Pick(std::vector<std::string>{"text/plain", "text/plain; charset=utf-8",
                                              "image/png", "application/x-evil"}) +
                Eol();
      if (Chance(8)) body += Pick(std::vector<std::string>{" folded", "\tfolded", "\vx"}) + Eol();
      if (Chance(5)) body += "Content-Disposition: form-data; name=dup" + Eol();
      if (Chance(5)) body += "NoColon" + Eol();
      if (Chance(3)) body += std::string(Below(2) == 0 ? 4100 : 5000, 'h') + Eol();
      if (Chance(95)) body += Eol();
      const int lines = static_cast<int>(Below(4));
      for (int l = 0; l < lines; ++l) {
        if (Chance(5)) {
          body += std::string(4095 + Below(3), 'd');
        } else if (Chance(5)) {
          body += "--" + b + "x";
        } else {
          body += Words(static_cast<int>(Below(6)));
        }
        if (l + 1 < lines || Chance(95)) body += Eol();
      }
    }
    if (Chance(85)) body += "--" + b + "--" + (Chance(70) ? Eol() : "");
    if (Chance(10)) body += Words(3);
    if (Chance(10) && !body.empty()) body.resize(Below(static_cast<uint32_t>(body.size())));
    c.body = std::move(body);
    if (Chance(10)) c.settings.no_files_limit = Below(200);
    return c;
  }

  // A file upload of up to ~70 KB: binary content with line ends and dashes scattered, so
  // lines fall on every side of the 4,096-byte buffer and near-boundaries appear inside.
  BodyCase LargeMultipart() {
    BodyCase c;
    c.kind = BodyProcessorKind::kMultipart;
    const std::string b = Boundary();
    c.content_type = "multipart/form-data; boundary=" + b;
    std::string body;
    const int parts = 1 + static_cast<int>(Below(3));
    for (int p = 0; p < parts; ++p) {
      body += "--" + b + "\r\n";
      const bool file = Chance(70);
      body += "Content-Disposition: form-data; name=\"p" + std::to_string(p) + "\"" +
              (file ? "; filename=\"f" + std::to_string(p) + ".bin\"" : "") + "\r\n";
      if (file) body += "Content-Type: application/octet-stream\r\n";
      body += "\r\n";
      const size_t size = Below(70000);
      const uint32_t density = 1 + Below(200);
      for (size_t i = 0; i < size; ++i) {
        const uint32_t r = Below(density * 8);
        if (r == 0) {
          body += "\r\n";
        } else if (r == 1) {
          body += "\n";
        } else if (r == 2) {
          body += "\r";
        } else if (r == 3) {
          body += Chance(50) ? "--" : "--" + b;
        } else {
          body.push_back(static_cast<char>(Below(256)));
        }
      }
      body += "\r\n";
    }
    body += "--" + b + "--\r\n";
    c.body = std::move(body);
    if (Chance(20)) c.settings.no_files_limit = Below(100000);
    return c;
  }

  std::string JsonValue(int depth) {
    const uint32_t k = depth > 6 ? Below(6) : Below(9);
    switch (k) {
      case 0:
        return "null";
      case 1:
        return Chance(50) ? "true" : "false";
      case 2:
        return Pick(
            std::vector<std::string>{"0", "-1", "1.5e10", "12345678901234567890", "-0.0", "1E-2"});
      case 3:
        return "\"" +
               Pick(std::vector<std::string>{"x", "", "\\u00e9", "\\ud83d\\ude00", "a\\\"b",
                                             "\\n\\t", "\xc3\xa9", "<script>", "\\u0000"}) +
               "\"";
      case 4:
        return "\"" + Words(2) + "\"";
      case 5:
        return "\"k\"";
      case 6:
      case 7: {
        std::string s = "{";
        const int n = static_cast<int>(Below(4));
        for (int i = 0; i < n; ++i) {
          if (i) s += ",";
          s += "\"" +
               Pick(std::vector<std::string>{"a", "b", "", "a.b", "array_0", "json", "\\u0041"}) +
               "\":" + JsonValue(depth + 1);
        }
        return s + "}";
      }
      default: {
        std::string s = "[";
        const int n = static_cast<int>(Below(4));
        for (int i = 0; i < n; ++i) {
          if (i) s += ",";
          s += JsonValue(depth + 1);
        }
        return s + "]";
      }
    }
  }

  BodyCase Json() {
    BodyCase c;
    c.kind = BodyProcessorKind::kJson;
    c.content_type = "application/json";
    switch (Below(8)) {
      case 0: {
        const int d = static_cast<int>(Below(40));
        c.body = std::string(static_cast<size_t>(d), '[') + "1" +
                 std::string(static_cast<size_t>(d), ']');
        c.settings.json_depth_limit = Below(30);
        break;
      }
      case 1: {
        const int d = static_cast<int>(Below(20));
        for (int i = 0; i < d; ++i) c.body += "{\"a\":";
        c.body += "1" + std::string(static_cast<size_t>(d), '}');
        c.settings.json_depth_limit = Below(25);
        break;
      }
      default:
        c.body = JsonValue(0);
        break;
    }
    if (Chance(15) && !c.body.empty()) c.body.resize(Below(static_cast<uint32_t>(c.body.size())));
    if (Chance(10)) c.body.insert(Below(static_cast<uint32_t>(c.body.size() + 1)), Token());
    if (Chance(10)) c.settings.arguments_limit = Below(5);
    if (Chance(5)) c.settings.no_files_limit = Below(50);
    return c;
  }

  BodyCase Xml() {
    BodyCase c;
    c.kind = BodyProcessorKind::kXml;
    c.content_type = "application/xml";
    static const std::vector<std::string> kDocs = {
        "<a>x</a>",
        "<?xml version=\"1.0\"?><r a=\"1\" b='2'><c d=\"3\">t<e/>u</c><![CDATA[<x>]]></r>",
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY e \"ent\">]><r>&e;&e;</r>",
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol1 "
        "\"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\"><!ENTITY lol2 "
        "\"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\"><!ENTITY lol3 "
        "\"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\"><!ENTITY lol4 "
        "\"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\"><!ENTITY lol5 "
        "\"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\"><!ENTITY lol6 "
        "\"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\"><!ENTITY lol7 "
        "\"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\"><!ENTITY lol8 "
        "\"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\"><!ENTITY lol9 "
        "\"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">]><lolz>&lol9;</lolz>",
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>",
        "<?xml version=\"1.0\"?><!DOCTYPE r SYSTEM \"http://192.0.2.1/x.dtd\"><r/>",
        "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><m "
        "x=\"y\">v</m></s:Body></s:Envelope>",
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r>\xe9</r>",
        "<r>\xff\xfe</r>",
        "<r><a>1</a><a>2</a></r><extra/>",
        "",
        "not xml",
        "<r attr=\"&lt;script&gt;\">&amp;&#x41;&#65;</r>"};
    c.body = Pick(kDocs);
    if (Chance(20) && !c.body.empty()) c.body.resize(Below(static_cast<uint32_t>(c.body.size())));
    if (Chance(10)) c.body.insert(Below(static_cast<uint32_t>(c.body.size() + 1)), Token());
    if (Chance(5)) c.settings.no_files_limit = Below(50);
    return c;
  }

 private:
  std::mt19937 rng_;
};

}  // namespace

std::vector<BodyCase> GeneratedCases(int count, uint32_t seed) {
  Gen g(seed);
  std::vector<BodyCase> out;
  out.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    BodyCase c;
    const uint32_t k = g.Below(10);
    if (k < 6) {
      c = g.Multipart();
    } else if (k < 9) {
      c = g.Json();
    } else {
      c = g.Xml();
    }
    if (g.Chance(4)) c = g.LargeMultipart();
    if (g.Chance(3)) {
      c.body_limit = g.Below(static_cast<uint32_t>(c.body.size() + 2));
      c.partial = g.Chance(50);
    }
    if (g.Chance(5)) {
      // Appended in pieces, as a server hands the body over.
      for (int k = static_cast<int>(g.Below(5)); k > 0; --k) {
        c.chunks.push_back(g.Below(static_cast<uint32_t>(c.body.size() + 1)));
      }
      if (g.Chance(50)) {
        c.body_limit = g.Below(static_cast<uint32_t>(c.body.size() + 2));
        c.partial = g.Chance(50);
      }
    }
    c.label = "generated #" + std::to_string(i) + " (seed " + std::to_string(seed) + ")";
    out.push_back(std::move(c));
  }
  return out;
}

BodyCase CaseFromBytes(const uint8_t* data, size_t size) {
  BodyCase c;
  c.label = "fuzz";
  if (size == 0) return c;
  const uint8_t sel = data[0];
  std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (sel & 3) {
    case 0:
    case 1: {
      c.kind = BodyProcessorKind::kMultipart;
      const size_t nl = rest.find('\n');
      if (nl == std::string::npos) {
        c.content_type = "multipart/form-data; boundary=b";
        c.body = rest;
      } else {
        c.content_type = rest.substr(0, nl);
        c.body = rest.substr(nl + 1);
        // 3.0.9 runs the multipart processor only for this Content-Type prefix.
        if (Lower(c.content_type->substr(0, 19)) != "multipart/form-data") {
          c.content_type = "multipart/form-data" + *c.content_type;
        }
      }
      break;
    }
    case 2:
      c.kind = BodyProcessorKind::kJson;
      c.content_type = "application/json";
      c.body = rest;
      break;
    default:
      c.kind = BodyProcessorKind::kXml;
      c.content_type = "application/xml";
      c.body = rest;
      break;
  }
  if ((sel & 4) != 0) c.settings.json_depth_limit = (sel >> 4) & 15;
  if ((sel & 8) != 0) c.settings.arguments_limit = (sel >> 4) & 7;
  return c;
}

}  // namespace ward::seclang::body::test
