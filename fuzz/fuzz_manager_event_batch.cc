// The agent event upload (POST /agent/v1/events): bounded gzip inflation and the NDJSON batch
// parser, on arbitrary bytes (both as a gzip stream and as already-inflated text).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "manager/api/event_batch.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ward::manager;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const BatchOwner owner{"tenant", "agent", "host"};
  auto inflated = GunzipBounded(in, 1 << 20);
  if (inflated) {
    if (inflated->size() > (1u << 20)) __builtin_trap();
    (void)ParseEventBatch(*inflated, owner);
  }
  ParsedBatch b = ParseEventBatch(in, owner);
  for (const auto& e : b.events) {
    // Every stored event carries the owner's identity and a non-empty id and module.
    if (e.agent_id != "agent" || e.id.empty() || e.module.empty()) __builtin_trap();
    if (e.doc["agent"]["id"] != "agent") __builtin_trap();
    (void)e.doc.dump();
  }
  return 0;
}
