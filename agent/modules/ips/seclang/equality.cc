#include "agent/modules/ips/seclang/equality.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

namespace ward::seclang::equality {
namespace {

bool EqNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string Trim(std::string_view s) {
  size_t a = 0;
  size_t b = s.size();
  while (a < b && (s[a] == ' ' || s[a] == '\t')) ++a;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r')) --b;
  return std::string(s.substr(a, b - a));
}

std::string Dechunk(std::string_view in) {
  std::string out;
  size_t pos = 0;
  while (pos < in.size()) {
    size_t eol = in.find('\n', pos);
    if (eol == std::string_view::npos) break;
    std::string line = Trim(in.substr(pos, eol - pos));
    size_t n = 0;
    size_t i = 0;
    for (; i < line.size() && std::isxdigit(static_cast<unsigned char>(line[i])); ++i) {
      n = n * 16 + static_cast<size_t>(std::isdigit(static_cast<unsigned char>(line[i]))
                                           ? line[i] - '0'
                                           : std::tolower(line[i]) - 'a' + 10);
      if (n > in.size()) break;
    }
    if (i == 0) break;
    pos = eol + 1;
    if (n == 0) break;
    out.append(in.substr(pos, std::min(n, in.size() - pos)));
    pos += n;
    if (pos < in.size() && in[pos] == '\r') ++pos;
    if (pos < in.size() && in[pos] == '\n') ++pos;
  }
  return out;
}

}  // namespace

std::optional<HttpCase> ParseRequest(std::string_view bytes) {
  HttpCase c;
  size_t pos = 0;
  auto next_line = [&](std::string& line) {
    if (pos >= bytes.size()) return false;
    size_t eol = bytes.find('\n', pos);
    if (eol == std::string_view::npos) {
      line = std::string(bytes.substr(pos));
      pos = bytes.size();
    } else {
      line = std::string(bytes.substr(pos, eol - pos));
      pos = eol + 1;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return true;
  };
  std::string line;
  if (!next_line(line)) return std::nullopt;
  size_t sp1 = line.find(' ');
  size_t sp2 = line.rfind(' ');
  if (sp1 == std::string::npos || sp1 == 0 || sp2 == sp1) return std::nullopt;
  c.head.method = line.substr(0, sp1);
  c.head.uri = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string version = line.substr(sp2 + 1);
  if (version.rfind("HTTP/", 0) != 0 || c.head.uri.empty()) return std::nullopt;
  c.head.version = version.substr(5);
  for (char ch : c.head.method) {
    if (!std::isupper(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_') {
      return std::nullopt;
    }
  }
  bool chunked = false;
  std::optional<size_t> length;
  bool end_of_head = false;
  while (next_line(line)) {
    if (line.empty()) {
      end_of_head = true;
      break;
    }
    size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0) return std::nullopt;
    std::string name = line.substr(0, colon);
    if (name.find_first_of(" \t") != std::string::npos) return std::nullopt;
    std::string value = Trim(std::string_view(line).substr(colon + 1));
    if (EqNoCase(name, "content-length")) {
      char* end = nullptr;
      unsigned long long n = std::strtoull(value.c_str(), &end, 10);
      if (end == value.c_str() || *end != '\0') return std::nullopt;
      length = static_cast<size_t>(n);
    }
    if (EqNoCase(name, "transfer-encoding") && value.find("chunked") != std::string::npos) {
      chunked = true;
    }
    c.head.headers.emplace_back(std::move(name), std::move(value));
  }
  if (!end_of_head) return std::nullopt;
  std::string_view rest = bytes.substr(pos);
  if (chunked) {
    c.body = Dechunk(rest);
  } else if (length) {
    c.body = std::string(rest.substr(0, std::min(*length, rest.size())));
  }
  return c;
}

namespace {

std::string Str(const YAML::Node& n, const std::string& def) {
  if (!n || n.IsNull()) return def;
  return n.as<std::string>();
}

std::string Base64Decode(std::string_view in) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned buf = 0;
  int bits = 0;
  for (char ch : in) {
    size_t v = kAlphabet.find(ch);
    if (v == std::string::npos) continue;
    buf = (buf << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buf >> bits) & 0xff));
    }
  }
  return out;
}

std::string BuildRequest(const YAML::Node& in) {
  if (in["encoded_request"]) return Base64Decode(Str(in["encoded_request"], ""));
  if (in["raw_request"]) return Str(in["raw_request"], "");
  std::string method = Str(in["method"], "GET");
  std::string uri = Str(in["uri"], "/");
  std::string version = Str(in["version"], "HTTP/1.1");
  std::vector<std::pair<std::string, std::string>> headers;
  if (const YAML::Node h = in["headers"]; h && h.IsMap()) {
    for (const auto& kv : h) {
      headers.emplace_back(kv.first.as<std::string>(), Str(kv.second, ""));
    }
  }
  std::string data;
  if (const YAML::Node d = in["data"]; d && d.IsSequence()) {
    for (size_t i = 0; i < d.size(); ++i) {
      if (i > 0) data += "\r\n";
      data += Str(d[i], "");
    }
  } else {
    data = Str(in["data"], "");
  }
  bool stop_magic = in["stop_magic"] && in["stop_magic"].as<bool>();
  bool autocomplete =
      !stop_magic && (!in["autocomplete_headers"] || in["autocomplete_headers"].as<bool>());
  auto have = [&](std::string_view name) {
    return std::any_of(headers.begin(), headers.end(),
                       [&](const auto& kv) { return EqNoCase(kv.first, name); });
  };
  if (autocomplete) {
    if (!data.empty() && !have("content-type")) {
      headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    }
    std::string ct;
    for (const auto& [k, v] : headers) {
      if (EqNoCase(k, "content-type")) {
        ct = v;
        break;
      }
    }
    if (ct.rfind("multipart/form-data;", 0) == 0) {
      std::string lf;
      for (size_t i = 0; i < data.size(); ++i) {
        if (data[i] == '\r' && i + 1 < data.size() && data[i + 1] == '\n') continue;
        lf.push_back(data[i]);
      }
      data.clear();
      for (char ch : lf) {
        if (ch == '\n') data.push_back('\r');
        data.push_back(ch);
      }
    }
    if (!have("connection")) headers.emplace_back("Connection", "close");
    std::string upper = method;
    for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (!have("content-length") &&
        (!data.empty() || upper == "POST" || upper == "PUT" || upper == "PATCH")) {
      headers.emplace_back("Content-Length", std::to_string(data.size()));
    }
  }
  std::string out = method + " " + uri + " " + version + "\r\n";
  for (const auto& [k, v] : headers) out += k + ": " + v + "\r\n";
  out += "\r\n";
  out += data;
  return out;
}

}  // namespace

CrsCases LoadCrsCases(const std::string& dir) {
  CrsCases out;
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (e.path().extension() == ".yaml") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    YAML::Node doc;
    try {
      doc = YAML::LoadFile(f.string());
    } catch (const YAML::Exception&) {
      out.unparsed.push_back(f.filename().string() + " (YAML)");
      continue;
    }
    if (doc["meta"] && doc["meta"]["enabled"] && !doc["meta"]["enabled"].as<bool>()) continue;
    const YAML::Node tests = doc["tests"];
    if (!tests || !tests.IsSequence()) continue;
    for (const auto& t : tests) {
      const std::string title = Str(t["test_title"], "?");
      const YAML::Node stages = t["stages"];
      if (!stages || !stages.IsSequence()) continue;
      for (size_t i = 0; i < stages.size(); ++i) {
        const YAML::Node in = stages[i]["stage"]["input"];
        if (!in) continue;
        std::string id = i == 0 ? title : fmt::format("{}/{}", title, i + 1);
        auto c = ParseRequest(BuildRequest(in));
        if (!c) {
          out.unparsed.push_back(id);
          continue;
        }
        c->id = id;
        out.cases.push_back(std::move(*c));
      }
    }
  }
  return out;
}

Outcome Run(const agent::ips::WafRules& rules, const HttpCase& c) {
  return Run(rules, c, agent::ips::Endpoints{"192.0.2.10", 40000, "192.0.2.1", 80});
}

Outcome Run(const agent::ips::WafRules& rules, const HttpCase& c, const agent::ips::Endpoints& ep) {
  auto tx = rules.Begin(ep);
  bool blocked = tx->RequestHeaders(c.head);
  if (!blocked) {
    if (!c.body.empty()) tx->AppendRequestBody(c.body);
    blocked = tx->RequestBody();
  }
  if (!blocked) {
    if (c.response) {
      tx->Response(*c.response, c.response_body);
    } else {
      agent::ips::ResponseHead resp;
      resp.status = 200;
      resp.headers = {{"Content-Type", "text/html"}, {"Content-Length", "24"}};
      tx->Response(resp, "<html><p>ok</p></html>\n\n");
    }
  }
  tx->Finish();
  Outcome o;
  for (const auto& m : tx->matches()) {
    o.ids.push_back(m.id);
    o.lines.push_back(m.line);
  }
  o.scores = tx->anomaly_scores();
  o.intervention = tx->intervention();
  return o;
}

std::string Compare(const Outcome& a, const Outcome& b) {
  std::string out;
  if (a.ids != b.ids) {
    out += fmt::format("ids libmodsecurity [{}] ward [{}]; ", fmt::join(a.ids, " "),
                       fmt::join(b.ids, " "));
  }
  if (a.scores.inbound != b.scores.inbound || a.scores.outbound != b.scores.outbound) {
    out += fmt::format("scores libmodsecurity {}/{} ward {}/{}; ", a.scores.inbound,
                       a.scores.outbound, b.scores.inbound, b.scores.outbound);
  }
  if (a.intervention.disruptive != b.intervention.disruptive ||
      a.intervention.status != b.intervention.status ||
      a.intervention.rule_id != b.intervention.rule_id) {
    out += fmt::format("intervention libmodsecurity {}/{}/{} ward {}/{}/{}; ",
                       a.intervention.disruptive, a.intervention.status, a.intervention.rule_id,
                       b.intervention.disruptive, b.intervention.status, b.intervention.rule_id);
  }
  return out;
}

}  // namespace ward::seclang::equality
