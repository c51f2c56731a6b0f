// The agent's event upload (POST /agent/v1/events): gzip-compressed NDJSON, one ECS event per
// line. These functions take untrusted bytes and never trust them: decompression is bounded
// (a gzip bomb stops at `max_out`), each line is checked on its own and either becomes a
// StoredEvent or a rejection naming the line and the field.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "manager/store/store.h"

namespace ward::manager {

// Inflates a gzip (or zlib) stream, at most `max_out` bytes of output: kInvalidArgument when
// the data is not gzip or is truncated, kFailedPrecondition when the output exceeds max_out.
Result<std::string> GunzipBounded(std::string_view data, size_t max_out);

struct LineRejection {
  int line = 0;  // 1-based line number in the batch
  std::string error;
};

struct ParsedBatch {
  std::vector<StoredEvent> events;  // valid lines, in order, first occurrence of each id
  std::vector<LineRejection> rejected;
  int duplicates_in_batch = 0;  // repeated ids within this batch
  int lines = 0;                // non-empty lines seen
};

struct BatchOwner {
  std::string tenant_id;
  std::string agent_id;
  std::string agent_name;
};

// Parses NDJSON. Each valid event gets agent.id/agent.name from `owner` (never from the body).
// The lines are read without building a document (a streaming reader extracts the fields the
// manager indexes): an event's `doc_text` is its line as sent with `"agent":{"id","name"}`
// appended, and `doc` stays empty. Only a line that has its own "agent" key is parsed into `doc`
// (the agent block replaced) and has an empty `doc_text`.
// Required per line: a JSON object with event.id (1..64 of [0-9A-Za-z-]), @timestamp (RFC 3339)
// and event.module (string); event.severity, when present, an integer 0..4.
ParsedBatch ParseEventBatch(std::string_view ndjson, const BatchOwner& owner);

// The StoredEvent columns for an already-checked event document.
Result<StoredEvent> ToStoredEvent(nlohmann::json doc, const BatchOwner& owner);

}  // namespace ward::manager
