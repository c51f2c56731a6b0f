#include "manager/net/http_head.h"

namespace ward::manager {
namespace {

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string PercentDecode(std::string_view in, bool plus_as_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%' && i + 2 < in.size()) {
      int hi = Hex(in[i + 1]);
      int lo = Hex(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_as_space && c == '+' ? ' ' : c);
  }
  return out;
}

bool SplitTarget(std::string_view target, std::string& path,
                 std::vector<std::pair<std::string, std::string>>& query) {
  if (target.empty() || target.front() != '/') return false;
  query.clear();
  const size_t q = target.find('?');
  path = PercentDecode(target.substr(0, q), false);
  if (path.find('\0') != std::string::npos) return false;
  if (q == std::string_view::npos) return true;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    std::string_view part = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    const size_t eq = part.find('=');
    std::string name = PercentDecode(part.substr(0, eq), true);
    if (name.empty()) continue;
    std::string value =
        eq == std::string_view::npos ? std::string() : PercentDecode(part.substr(eq + 1), true);
    query.emplace_back(std::move(name), std::move(value));
  }
  return true;
}

}  // namespace ward::manager
