// The agent's event upload (POST /agent/v1/events): gzip-compressed NDJSON, one ECS event per
// line. These functions take untrusted bytes and never trust them: decompression is bounded
// (a gzip bomb stops at `max_out`), each line is checked on its own and either becomes a
// StoredEvent or a rejection naming the line and the field.
// Thread-safety: pure functions.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/core/module_schema.h"
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

// The event fields the manager reads, and which of them fill an event's search columns
// (StoredEvent::path and ::rule, what `q` searches), per module. Read are the common fields
// (@timestamp, event.id, event.module, event.action, event.severity) and every field a module
// declares in its schema's `indexed_fields` (agent/core/module_schema.h; dotted names, any depth).
// For an event of module M, M's declared fields under `rule.` fill `rule` (the non-empty ones,
// joined by a space, in declared order) and its other declared fields fill `path` (the first
// non-empty one, in declared order). An event of a module no schema names (the agent's own
// `ward` events, a newer agent's module) uses every declared field, in order of first
// declaration. Built once, before the first batch; immutable, share freely.
class EventIndex {
 public:
  // REQUIRES: every declared field name is non-empty, without empty components.
  explicit EventIndex(std::span<const agent::ModuleSchema> schemas);
  // From agent::ModuleSchemas(): the built-in modules.
  static const EventIndex& Builtin();

  // For the readers (event_batch.cc): field i is at keys(i) (its dotted name, split); the first
  // kCommonFields are the common ones, in the order above.
  static constexpr size_t kCommonFields = 5;
  struct Columns {
    std::vector<size_t> path;  // field indices
    std::vector<size_t> rule;
  };
  size_t size() const { return keys_.size(); }
  const std::vector<std::string>& keys(size_t i) const { return keys_[i]; }
  size_t max_depth() const { return max_depth_; }
  const Columns& ColumnsOf(std::string_view module) const;

 private:
  size_t FieldIndex(std::string_view dotted);
  std::vector<std::vector<std::string>> keys_;
  size_t max_depth_ = 1;
  std::vector<std::pair<std::string, Columns>> modules_;
  Columns unknown_;  // every declared field
};

// Parses NDJSON. Each valid event gets agent.id/agent.name from `owner` (never from the body).
// The lines are read without building a document (a streaming reader extracts the fields the
// manager indexes): an event's `doc_text` is its line as sent with `"agent":{"id","name"}`
// appended, and `doc` stays empty. Only a line that has its own "agent" key is parsed into `doc`
// (the agent block replaced) and has an empty `doc_text`.
// Required per line: a JSON object with event.id (1..64 of [0-9A-Za-z-]), @timestamp (RFC 3339)
// and event.module (string); event.severity, when present, an integer 0..4.
// The search columns follow `index`.
ParsedBatch ParseEventBatch(std::string_view ndjson, const BatchOwner& owner,
                            const EventIndex& index = EventIndex::Builtin());

// The StoredEvent columns for an already-checked event document.
Result<StoredEvent> ToStoredEvent(nlohmann::json doc, const BatchOwner& owner,
                                  const EventIndex& index = EventIndex::Builtin());

}  // namespace ward::manager
