#include "common/config_node.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "common/text.h"

namespace ward {

class ConfigBuilder {
 public:
  explicit ConfigBuilder(std::shared_ptr<const std::string> source) : source_(std::move(source)) {}

  Result<ConfigNode> FromYaml(const YAML::Node& y, const std::string& key_path) {
    ConfigNode n;
    n.source_ = source_;
    n.key_path_ = key_path;
    const YAML::Mark mark = y.Mark();
    if (mark.line >= 0) {
      n.line_ = mark.line + 1;
      n.column_ = mark.column + 1;
    }
    switch (y.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        n.kind_ = ConfigNode::Kind::kNull;
        break;
      case YAML::NodeType::Scalar:
        n.kind_ = ConfigNode::Kind::kScalar;
        n.scalar_ = y.Scalar();
        n.quoted_ = y.Tag() == "!";
        if (!IsValidUtf8(n.scalar_)) return Located(mark, key_path, "value is not valid UTF-8");
        break;
      case YAML::NodeType::Sequence: {
        n.kind_ = ConfigNode::Kind::kSequence;
        size_t i = 0;
        for (const auto& item : y) {
          auto child = FromYaml(item, fmt::format("{}[{}]", key_path, i++));
          if (!child) return child.error();
          n.items_.push_back(std::move(*child));
        }
        break;
      }
      case YAML::NodeType::Map: {
        n.kind_ = ConfigNode::Kind::kMap;
        std::set<std::string> seen;
        for (const auto& kv : y) {
          if (!kv.first.IsScalar()) {
            return Located(kv.first.Mark(), key_path, "a map key must be a plain string");
          }
          std::string key = kv.first.Scalar();
          if (!IsValidUtf8(key))
            return Located(kv.first.Mark(), key_path, "key is not valid UTF-8");
          std::string child_path = key_path.empty() ? key : key_path + "." + key;
          if (!seen.insert(key).second) {
            return Located(kv.first.Mark(), child_path, "duplicate key");
          }
          auto child = FromYaml(kv.second, child_path);
          if (!child) return child.error();
          const YAML::Mark key_mark = kv.first.Mark();
          if (key_mark.line >= 0) {
            child->key_line_ = key_mark.line + 1;
            child->key_column_ = key_mark.column + 1;
          }
          n.entries_.emplace_back(std::move(key), std::move(*child));
        }
        break;
      }
    }
    return n;
  }

  ConfigNode FromJson(const nlohmann::json& j, const std::string& key_path) {
    ConfigNode n;
    n.source_ = source_;
    n.key_path_ = key_path;
    if (j.is_null()) {
      n.kind_ = ConfigNode::Kind::kNull;
    } else if (j.is_object()) {
      n.kind_ = ConfigNode::Kind::kMap;
      for (const auto& [k, v] : j.items()) {
        n.entries_.emplace_back(k, FromJson(v, key_path.empty() ? k : key_path + "." + k));
      }
    } else if (j.is_array()) {
      n.kind_ = ConfigNode::Kind::kSequence;
      size_t i = 0;
      for (const auto& v : j) n.items_.push_back(FromJson(v, fmt::format("{}[{}]", key_path, i++)));
    } else if (j.is_string()) {
      n.kind_ = ConfigNode::Kind::kScalar;
      n.scalar_ = j.get<std::string>();
      n.quoted_ = true;
    } else {
      n.kind_ = ConfigNode::Kind::kScalar;
      n.scalar_ = j.dump();
    }
    return n;
  }

 private:
  Status Located(const YAML::Mark& mark, const std::string& key_path, std::string_view msg) {
    return InvalidArgument(fmt::format("{}:{}:{}: {}: {}", *source_, mark.line + 1, mark.column + 1,
                                       key_path.empty() ? "(root)" : key_path, msg));
  }
  std::shared_ptr<const std::string> source_;
};

Result<ConfigNode> ConfigNode::FromYaml(std::string_view text, std::string_view source_name) {
  auto source = std::make_shared<const std::string>(source_name);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return InvalidArgument(
        fmt::format("{}:{}:{}: {}", source_name, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  try {
    return ConfigBuilder(source).FromYaml(root, "");
  } catch (const YAML::Exception& e) {
    return InvalidArgument(fmt::format("{}: {}", source_name, e.what()));
  }
}

Result<ConfigNode> ConfigNode::FromYamlFile(const std::filesystem::path& file) {
  // stdio rather than iostreams: a read error (EISDIR for a directory, EIO) must not look like
  // an empty document.
  std::unique_ptr<FILE, int (*)(FILE*)> in(std::fopen(file.c_str(), "rbe"), &std::fclose);
  if (!in) return ErrnoStatus(errno, fmt::format("cannot read {}", file.string()));
  std::string text;
  char buf[8192];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, in.get())) > 0) text.append(buf, n);
  if (std::ferror(in.get())) {
    return ErrnoStatus(errno, fmt::format("cannot read {}", file.string()));
  }
  return FromYaml(text, file.string());
}

Result<ConfigNode> ConfigNode::FromJson(const nlohmann::json& json, std::string_view source_name) {
  return ConfigBuilder(std::make_shared<const std::string>(source_name)).FromJson(json, "");
}

const ConfigNode* ConfigNode::Find(std::string_view key) const {
  for (const auto& [k, v] : entries_) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::string ConfigNode::Location() const {
  std::string src = source_ ? *source_ : std::string("<config>");
  if (line_ > 0) return fmt::format("{}:{}:{}", src, line_, column_);
  return src;
}

Status ConfigNode::Error(std::string_view message) const {
  return InvalidArgument(
      fmt::format("{}: {}: {}", Location(), key_path_.empty() ? "(root)" : key_path_, message));
}

Status ConfigNode::KeyError(std::string_view message) const {
  if (key_line_ == 0) return Error(message);
  return InvalidArgument(fmt::format("{}:{}:{}: {}: {}", source_ ? *source_ : "<config>", key_line_,
                                     key_column_, key_path_, message));
}

nlohmann::json ConfigNode::ToJson() const {
  switch (kind_) {
    case Kind::kNull:
      return nullptr;
    case Kind::kMap: {
      nlohmann::json o = nlohmann::json::object();
      for (const auto& [k, v] : entries_) o[k] = v.ToJson();
      return o;
    }
    case Kind::kSequence: {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& v : items_) a.push_back(v.ToJson());
      return a;
    }
    case Kind::kScalar: {
      if (quoted_) return scalar_;
      if (scalar_ == "true") return true;
      if (scalar_ == "false") return false;
      int64_t i = 0;
      auto [p, ec] = std::from_chars(scalar_.data(), scalar_.data() + scalar_.size(), i);
      if (ec == std::errc() && p == scalar_.data() + scalar_.size() && !scalar_.empty()) return i;
      return scalar_;
    }
  }
  return nullptr;
}

namespace {
std::string Describe(const ConfigNode& node) {
  switch (node.kind()) {
    case ConfigNode::Kind::kNull:
      return "nothing";
    case ConfigNode::Kind::kMap:
      return "a map";
    case ConfigNode::Kind::kSequence:
      return "a list";
    case ConfigNode::Kind::kScalar:
      return fmt::format("\"{}\"", node.scalar());
  }
  return "?";
}

std::string AllowedList(std::initializer_list<std::string_view> allowed) {
  std::string out;
  for (auto a : allowed) {
    if (!out.empty()) out += ", ";
    out += a;
  }
  return out;
}
}  // namespace

Status RequireMap(const ConfigNode& node) {
  if (!node.IsMap()) return node.Error(fmt::format("expected a map, got {}", Describe(node)));
  return Status::Ok();
}

Status CheckKeys(const ConfigNode& map, std::initializer_list<std::string_view> allowed) {
  WARD_RETURN_IF_ERROR(RequireMap(map));
  for (const auto& [k, v] : map.entries()) {
    bool ok = false;
    for (auto a : allowed) ok = ok || a == k;
    if (!ok) {
      return v.KeyError(fmt::format("unknown key (expected one of: {})", AllowedList(allowed)));
    }
  }
  return Status::Ok();
}

Result<std::string> ReadString(const ConfigNode& node) {
  if (!node.IsScalar()) return node.Error(fmt::format("expected a string, got {}", Describe(node)));
  return node.scalar();
}

Result<bool> ReadBool(const ConfigNode& node) {
  if (node.IsScalar() && !node.quoted()) {
    if (node.scalar() == "true") return true;
    if (node.scalar() == "false") return false;
  }
  return node.Error(fmt::format("expected true or false, got {}", Describe(node)));
}

Result<int64_t> ReadInt(const ConfigNode& node, int64_t min, int64_t max) {
  if (node.IsScalar()) {
    const std::string& s = node.scalar();
    int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size() && !s.empty()) {
      if (v < min || v > max) {
        return node.Error(fmt::format("{} is out of range [{}, {}]", v, min, max));
      }
      return v;
    }
  }
  return node.Error(fmt::format("expected an integer, got {}", Describe(node)));
}

Result<std::chrono::milliseconds> ParseDuration(std::string_view s) {
  if (s.empty()) return InvalidArgument("empty duration");
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p == s.data()) {
    return InvalidArgument(fmt::format("\"{}\" is not a duration (like 90s, 15m, 1h, 7d)", s));
  }
  std::string_view unit(p, static_cast<size_t>(s.data() + s.size() - p));
  uint64_t ms_per = 0;
  if (unit.empty() || unit == "s") {
    ms_per = 1000;
  } else if (unit == "ms") {
    ms_per = 1;
  } else if (unit == "m") {
    ms_per = 60'000;
  } else if (unit == "h") {
    ms_per = 3'600'000;
  } else if (unit == "d") {
    ms_per = 86'400'000;
  } else if (unit == "w") {
    ms_per = 7 * 86'400'000ULL;
  } else {
    return InvalidArgument(
        fmt::format("\"{}\": unknown duration unit \"{}\" (use ms, s, m, h, d, w)", s, unit));
  }
  if (v > (1ULL << 62) / ms_per) return InvalidArgument(fmt::format("\"{}\" is too long", s));
  return std::chrono::milliseconds(static_cast<int64_t>(v * ms_per));
}

Result<uint64_t> ParseSize(std::string_view s) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p == s.data()) {
    return InvalidArgument(fmt::format("\"{}\" is not a size (like 4096, 64k, 100M, 2G)", s));
  }
  std::string_view unit(p, static_cast<size_t>(s.data() + s.size() - p));
  uint64_t mult = 1;
  if (unit.empty() || unit == "B") {
    mult = 1;
  } else if (unit == "k" || unit == "K" || unit == "KB" || unit == "KiB") {
    mult = 1ULL << 10;
  } else if (unit == "M" || unit == "MB" || unit == "MiB") {
    mult = 1ULL << 20;
  } else if (unit == "G" || unit == "GB" || unit == "GiB") {
    mult = 1ULL << 30;
  } else if (unit == "T" || unit == "TB" || unit == "TiB") {
    mult = 1ULL << 40;
  } else {
    return InvalidArgument(
        fmt::format("\"{}\": unknown size unit \"{}\" (use k, M, G, T)", s, unit));
  }
  if (v > UINT64_MAX / mult) return InvalidArgument(fmt::format("\"{}\" is too large", s));
  return v * mult;
}

Result<std::chrono::milliseconds> ReadDuration(const ConfigNode& node) {
  if (!node.IsScalar()) {
    return node.Error(fmt::format("expected a duration, got {}", Describe(node)));
  }
  auto d = ParseDuration(node.scalar());
  if (!d) return node.Error(d.error().message());
  return *d;
}

Result<uint64_t> ReadSize(const ConfigNode& node) {
  if (!node.IsScalar()) return node.Error(fmt::format("expected a size, got {}", Describe(node)));
  auto v = ParseSize(node.scalar());
  if (!v) return node.Error(v.error().message());
  return *v;
}

Result<std::vector<std::string>> ReadStringList(const ConfigNode& node) {
  std::vector<std::string> out;
  if (node.IsScalar()) {
    out.push_back(node.scalar());
    return out;
  }
  if (node.IsNull()) return out;
  if (!node.IsSequence()) {
    return node.Error(fmt::format("expected a list of strings, got {}", Describe(node)));
  }
  for (const auto& item : node.items()) {
    WARD_ASSIGN_OR_RETURN(auto s, ReadString(item));
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace ward
