// Reading nested fields of a JSON document (an event as the agents send it) without throwing.
// Thread-safety: pure functions.
#pragma once

#include <initializer_list>
#include <nlohmann/json.hpp>

namespace ward {

// The value at `path` (object keys, outermost first) inside `doc`, or null when a step is missing
// or not an object.
inline const nlohmann::json& JsonAt(const nlohmann::json& doc,
                                    std::initializer_list<const char*> path) {
  static const nlohmann::json kNull;
  const nlohmann::json* cur = &doc;
  for (const char* k : path) {
    if (!cur->is_object()) return kNull;
    auto it = cur->find(k);
    if (it == cur->end()) return kNull;
    cur = &*it;
  }
  return *cur;
}

}  // namespace ward
