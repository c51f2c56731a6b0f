// A saved collections file (agent/modules/ips/waf_state_file.h) is read back at start: whatever
// its bytes (truncated, altered, hostile), PersistentCollections::Restore must not crash, must
// change nothing when it refuses them, and what it accepts must save and restore to the same text.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "agent/modules/ips/seclang/persistent.h"

using ward::seclang::PersistentCollections;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  constexpr int64_t kWall = 1'800'000'000;
  int64_t now = 100;
  PersistentCollections p({1000, 3600}, [&] { return now; });
  p.Store("IP", "kept::::n", "1");
  auto r = p.Restore(text, kWall);
  if (!r.has_value()) {
    if (p.size() != 1) {
      std::fprintf(stderr, "a refused text changed the collections\n");
      std::abort();
    }
    return 0;
  }
  const std::string saved = p.Serialize(kWall);
  PersistentCollections q({1000, 3600}, [&] { return now; });
  auto again = q.Restore(saved, kWall);
  if (!again.has_value() || q.Serialize(kWall) != saved) {
    std::fprintf(stderr, "a saved text did not restore to itself\n");
    std::abort();
  }
  return 0;
}
