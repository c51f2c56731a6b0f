// ConfigNode: a parsed configuration document (YAML or JSON) that remembers, for every node,
// where it came from — file, line, column and key path — so that an error can name all three:
//   "policy.yaml:7:18: integrity.paths[0].recursive: expected true or false, got \"maybe\""
// The typed readers below turn nodes into values or such errors. Policies from a YAML file and
// from the manager (JSON) go through the same readers, so both are validated the same way.
// Thread-safety: immutable after construction; share freely.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace ward {

class ConfigNode {
 public:
  enum class Kind { kNull, kScalar, kSequence, kMap };

  static Result<ConfigNode> FromYaml(std::string_view text, std::string_view source_name);
  static Result<ConfigNode> FromYamlFile(const std::filesystem::path& file);
  static Result<ConfigNode> FromJson(const nlohmann::json& json, std::string_view source_name);

  Kind kind() const { return kind_; }
  bool IsNull() const { return kind_ == Kind::kNull; }
  bool IsScalar() const { return kind_ == Kind::kScalar; }
  bool IsMap() const { return kind_ == Kind::kMap; }
  bool IsSequence() const { return kind_ == Kind::kSequence; }

  // For scalars: the text as written ("true", "1h", "/var/www").
  const std::string& scalar() const { return scalar_; }
  // True when a scalar was quoted in YAML or a JSON string (so "true" stays a string).
  bool quoted() const { return quoted_; }
  const std::vector<ConfigNode>& items() const { return items_; }
  const std::vector<std::pair<std::string, ConfigNode>>& entries() const { return entries_; }
  // The child under key, or nullptr (maps only).
  const ConfigNode* Find(std::string_view key) const;

  // "integrity.paths[0].recursive" ("" for the root).
  const std::string& key_path() const { return key_path_; }
  // "policy.yaml:7:18" or "policy.yaml" when no line is known.
  std::string Location() const;

  // An InvalidArgument status: "<location>: <key path>: <message>".
  Status Error(std::string_view message) const;
  // Like Error(), but located at this node's key in its parent map (where a reader has to look
  // for an unknown or misspelt key; its value may start on a later line). Falls back to
  // Location() for nodes that are not map values.
  Status KeyError(std::string_view message) const;

  // The document back as JSON (scalars typed as YAML 1.2 core would type them).
  nlohmann::json ToJson() const;

 private:
  friend class ConfigBuilder;
  Kind kind_ = Kind::kNull;
  std::string scalar_;
  bool quoted_ = false;
  std::vector<ConfigNode> items_;
  std::vector<std::pair<std::string, ConfigNode>> entries_;
  std::shared_ptr<const std::string> source_;
  int line_ = 0;    // 1-based; 0 when unknown
  int column_ = 0;  // 1-based; 0 when unknown
  // Where this node's key is in its parent map; 0 when unknown or not a map value.
  int key_line_ = 0;
  int key_column_ = 0;
  std::string key_path_;
};

// Typed readers. Each returns the value or an error naming the node.
Status RequireMap(const ConfigNode& node);
// Fails on the first key of a map that is not in `allowed`.
Status CheckKeys(const ConfigNode& map, std::initializer_list<std::string_view> allowed);
Result<std::string> ReadString(const ConfigNode& node);
Result<bool> ReadBool(const ConfigNode& node);
Result<int64_t> ReadInt(const ConfigNode& node, int64_t min, int64_t max);
// "90s", "15m", "1h", "7d", "500ms", or a plain number of seconds; "0" is zero.
Result<std::chrono::milliseconds> ReadDuration(const ConfigNode& node);
// "100M", "4k", "2G", or a plain number of bytes.
Result<uint64_t> ReadSize(const ConfigNode& node);
// A sequence of strings (a single string is also accepted as a one-element list).
Result<std::vector<std::string>> ReadStringList(const ConfigNode& node);

// Parsers of the same text forms, for command-line flags.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);
Result<uint64_t> ParseSize(std::string_view text);

}  // namespace ward
