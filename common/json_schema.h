// ValidateJson: checks a JSON value against a JSON Schema — the small subset the command tables
// use (agent/core/module_schema.h), so the manager (on queueing) and the agent (before running)
// accept exactly the same arguments. The schema is ours (a constant); the value is untrusted.
//
// Understood keywords: type (object, array, string, integer, number, boolean), properties,
// required, additionalProperties (false), items, minItems, maxItems, minLength, maxLength,
// pattern (ECMAScript, searched), enum, minimum, maximum, description (used in the error: a
// value that fails a keyword of a schema with a description is "expected <description>").
// Any other keyword in the schema is an error of the schema (kInvalidArgument from
// CheckJsonSchema), so a table cannot promise a check that is not made.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ward {

struct JsonSchemaError {
  std::string field;    // e.g. args.paths[0]
  std::string message;  // e.g. "args.paths[0]: expected an absolute path"
};

// `root` names the value in errors (e.g. "args").
std::optional<JsonSchemaError> ValidateJson(const nlohmann::json& schema,
                                            const nlohmann::json& value, std::string_view root);

// Whether `schema` uses only the keywords above, with values of the right types.
Status CheckJsonSchema(const nlohmann::json& schema);

}  // namespace ward
