// The agent event upload (POST /agent/v1/events): bounded gzip inflation and the NDJSON batch
// parser, on arbitrary bytes (both as a gzip stream and as already-inflated text).
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "common/text.h"
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
    // The stored document (the line kept verbatim, or the re-serialised one) is a JSON object
    // naming the owner as its agent...
    nlohmann::json doc =
        e.doc_text.empty() ? e.doc : nlohmann::json::parse(e.doc_text, nullptr, false);
    if (!doc.is_object() || doc["agent"]["id"] != "agent") __builtin_trap();
    if (!e.doc_text.empty() && !e.doc.is_null()) __builtin_trap();
    // Stored text is valid UTF-8 (the JSON reader's own check is the only one on that path).
    if (!ward::IsValidUtf8(e.doc_text) || !ward::IsValidUtf8(e.path)) __builtin_trap();
    // ...from which the parsed-document path extracts the same columns as the streaming reader.
    auto ref = ToStoredEvent(doc, owner);
    if (!ref || ref->id != e.id || ref->module != e.module || ref->action != e.action ||
        ref->severity != e.severity || ref->path != e.path || ref->rule != e.rule ||
        ref->timestamp != e.timestamp) {
      __builtin_trap();
    }
  }
  return 0;
}
