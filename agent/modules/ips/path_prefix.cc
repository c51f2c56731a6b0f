#include "agent/modules/ips/path_prefix.h"

#include <vector>

namespace ward::agent::ips {

namespace {

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendUtf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// One round of %XX and %uXXXX decoding; full-width ASCII (U+FF01..U+FF5E) becomes ASCII, as IIS
// and ModSecurity's default unicode map read it. Invalid escapes stay as they are.
std::string DecodeOnce(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && Hex(in[i + 1]) >= 0 && Hex(in[i + 2]) >= 0) {
      out += static_cast<char>(Hex(in[i + 1]) * 16 + Hex(in[i + 2]));
      i += 2;
      continue;
    }
    if (in[i] == '%' && i + 5 < in.size() && (in[i + 1] == 'u' || in[i + 1] == 'U') &&
        Hex(in[i + 2]) >= 0 && Hex(in[i + 3]) >= 0 && Hex(in[i + 4]) >= 0 && Hex(in[i + 5]) >= 0) {
      unsigned cp = static_cast<unsigned>((Hex(in[i + 2]) << 12) | (Hex(in[i + 3]) << 8) |
                                          (Hex(in[i + 4]) << 4) | Hex(in[i + 5]));
      if (cp >= 0xFF01 && cp <= 0xFF5E) cp = cp - 0xFF01 + 0x21;
      AppendUtf8(out, cp);
      i += 5;
      continue;
    }
    out += in[i];
  }
  return out;
}

// Full-width ASCII written as raw UTF-8 (EF BC 81 .. EF BD 9E) read as ASCII too.
std::string FoldFullWidth(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(in[k]); };
    if (b(i) == 0xEF && i + 2 < in.size() && (b(i + 1) == 0xBC || b(i + 1) == 0xBD) &&
        b(i + 2) >= 0x80 && b(i + 2) <= 0xBF) {
      unsigned cp = 0xF000 | ((b(i + 1) & 0x3F) << 6) | (b(i + 2) & 0x3F);
      if (cp >= 0xFF01 && cp <= 0xFF5E) {
        out += static_cast<char>(cp - 0xFF01 + 0x21);
        i += 2;
        continue;
      }
    }
    out += in[i];
  }
  return out;
}

bool IsControl(char c) {
  auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7F;
}

}  // namespace

std::optional<std::string> NormalizeRequestPath(std::string_view target) {
  // Absolute form: scheme://authority/path.
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() >= scheme.size()) {
      bool same = true;
      for (size_t i = 0; i < scheme.size(); ++i) {
        char c = target[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != scheme[i]) same = false;
      }
      if (same) {
        target.remove_prefix(scheme.size());
        size_t slash = target.find('/');
        target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
        break;
      }
    }
  }
  if (size_t q = target.find_first_of("?#"); q != std::string_view::npos) {
    target = target.substr(0, q);
  }
  std::string path(target);
  for (int round = 0;; ++round) {
    std::string next = FoldFullWidth(DecodeOnce(path));
    if (next == path) break;
    if (round == 4) return std::nullopt;  // still escaped after 4 rounds
    path = std::move(next);
  }
  for (char& c : path) {
    if (IsControl(c)) return std::nullopt;
    if (c == '\\') c = '/';
  }
  std::vector<std::string> segments;
  size_t pos = 0;
  bool trailing = false;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    std::string seg = path.substr(pos, end - pos);
    if (size_t semi = seg.find(';'); semi != std::string::npos) seg.resize(semi);
    const bool last = end == path.size();
    if (seg.empty() || seg == ".") {
      if (last) trailing = true;
    } else if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
      if (last) trailing = true;
    } else {
      segments.push_back(std::move(seg));
      trailing = false;
    }
    pos = end + 1;
  }
  std::string out;
  for (const auto& s : segments) out += "/" + s;
  if (out.empty() || trailing) out += "/";
  return out;
}

bool PathPrefixMatches(std::string_view target, std::string_view prefix) {
  auto path = NormalizeRequestPath(target);
  if (!path || !path->starts_with(prefix)) return false;
  if (path->size() == prefix.size() || prefix.ends_with('/')) return true;
  return (*path)[prefix.size()] == '/';
}

std::string ValidatePathPrefix(std::string_view prefix) {
  if (prefix.empty() || prefix[0] != '/') return "expected a URL path starting with /";
  if (prefix.size() > kMaxPathPrefix) return "longer than 1024 bytes";
  for (char c : prefix) {
    if (IsControl(c) || c == '%' || c == '\\' || c == ';' || c == '?' || c == '#' || c == '"' ||
        c == '\'' || c == ',' || c == ' ') {
      return "expected a plain path (no %-escapes, backslashes, semicolons, ?, #, quotes, commas, "
             "spaces or control characters)";
    }
  }
  auto n = NormalizeRequestPath(prefix);
  if (!n || *n != prefix) {
    return "expected a normalised path (no empty, . or .. segments)";
  }
  return "";
}

}  // namespace ward::agent::ips
