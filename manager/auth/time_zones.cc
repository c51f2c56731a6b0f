#include "manager/auth/time_zones.h"

#include <cstdlib>
#include <fstream>
#include <string>

namespace ward::manager {

std::filesystem::path ZoneInfoDir() {
  if (const char* dir = std::getenv("TZDIR"); dir != nullptr && dir[0] != '\0') return dir;
  return "/usr/share/zoneinfo";
}

bool ValidTimeZone(std::string_view name, const std::filesystem::path& zoneinfo) {
  if (name == "UTC") return true;
  if (name.empty() || name.size() > 64) return false;
  // components of [A-Za-z0-9_+-], separated by single '/', none starting with '.' or '-'
  bool component_start = true;
  for (char c : name) {
    const bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '+' || c == '-';
    if (c == '/') {
      if (component_start) return false;
      component_start = true;
      continue;
    }
    if (!word || (component_start && c == '-')) return false;
    component_start = false;
  }
  if (component_start) return false;  // trailing '/'
  std::ifstream in(zoneinfo / std::string(name), std::ios::binary);
  char magic[4] = {};
  if (!in.read(magic, sizeof magic)) return false;
  return std::string_view(magic, sizeof magic) == "TZif";
}

}  // namespace ward::manager
