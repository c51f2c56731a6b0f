// File names are attacker-controlled: the exclude matcher must terminate and never crash.
// Input: pattern '\0' path.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/core/watch/path_filter.h"
#include "common/text.h"

using ward::watch::PathFilter;
using ward::watch::WatchRoot;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nul = in.find('\0');
  if (nul == std::string_view::npos || nul > 64) return 0;
  std::string pattern(in.substr(0, nul));
  std::string path = "/root/" + std::string(in.substr(nul + 1));
  (void)ward::watch::GlobMatch(pattern, path);
  WatchRoot w;
  w.path = "/root";
  w.exclude = {pattern};
  PathFilter f({w});
  (void)f.Monitored(path);
  (void)ward::NormalizeAbsolutePath(path);
  return 0;
}
