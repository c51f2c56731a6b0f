#include "common/json_schema.h"

#include <fmt/format.h>

#include <regex>

namespace ward {
namespace {

using json = nlohmann::json;

bool HasType(const json& v, std::string_view type) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "integer") return v.is_number_integer();
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_boolean();
  return false;
}

std::string Article(std::string_view type) {
  return (type == "object" || type == "array" || type == "integer") ? "an" : "a";
}

JsonSchemaError Fail(const json& schema, const std::string& field, const std::string& detail) {
  auto d = schema.find("description");
  std::string what =
      d != schema.end() && d->is_string() ? "expected " + d->get<std::string>() : detail;
  return {field, fmt::format("{}: {}", field, what)};
}

std::optional<JsonSchemaError> Validate(const json& schema, const json& v,
                                        const std::string& field) {
  if (auto t = schema.find("type"); t != schema.end()) {
    std::string type = t->get<std::string>();
    if (!HasType(v, type))
      return Fail(schema, field, fmt::format("expected {} {}", Article(type), type));
  }
  if (auto e = schema.find("enum"); e != schema.end()) {
    bool found = false;
    for (const auto& x : *e) found |= x == v;
    if (!found) return Fail(schema, field, fmt::format("expected one of {}", e->dump()));
  }
  if (v.is_object()) {
    const json* props = nullptr;
    if (auto p = schema.find("properties"); p != schema.end()) props = &*p;
    if (auto r = schema.find("required"); r != schema.end()) {
      for (const auto& name : *r) {
        if (!v.contains(name.get<std::string>())) {
          std::string f = fmt::format("{}.{}", field, name.get<std::string>());
          return JsonSchemaError{f, f + ": missing"};
        }
      }
    }
    auto extra = schema.find("additionalProperties");
    bool closed = extra != schema.end() && extra->is_boolean() && !extra->get<bool>();
    for (const auto& [key, value] : v.items()) {
      std::string f = fmt::format("{}.{}", field, key);
      if (props != nullptr && props->contains(key)) {
        if (auto err = Validate((*props)[key], value, f)) return err;
      } else if (closed) {
        return JsonSchemaError{f, f + ": unknown field"};
      }
    }
  }
  if (v.is_array()) {
    if (auto m = schema.find("minItems"); m != schema.end() && v.size() < m->get<size_t>()) {
      return Fail(schema, field, fmt::format("expected at least {} item(s)", m->get<size_t>()));
    }
    if (auto m = schema.find("maxItems"); m != schema.end() && v.size() > m->get<size_t>()) {
      return Fail(schema, field, fmt::format("expected at most {} item(s)", m->get<size_t>()));
    }
    if (auto items = schema.find("items"); items != schema.end()) {
      for (size_t i = 0; i < v.size(); ++i) {
        if (auto err = Validate(*items, v[i], fmt::format("{}[{}]", field, i))) return err;
      }
    }
  }
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (auto m = schema.find("minLength"); m != schema.end() && s.size() < m->get<size_t>()) {
      return Fail(schema, field,
                  fmt::format("expected at least {} character(s)", m->get<size_t>()));
    }
    if (auto m = schema.find("maxLength"); m != schema.end() && s.size() > m->get<size_t>()) {
      return Fail(schema, field, fmt::format("expected at most {} character(s)", m->get<size_t>()));
    }
    if (auto p = schema.find("pattern"); p != schema.end()) {
      std::regex re(p->get<std::string>(), std::regex::ECMAScript);
      if (!std::regex_search(s, re)) {
        return Fail(schema, field, fmt::format("expected a string matching {}", p->dump()));
      }
    }
  }
  if (v.is_number()) {
    if (auto m = schema.find("minimum"); m != schema.end() && v.get<double>() < m->get<double>()) {
      return Fail(schema, field, fmt::format("expected at least {}", m->dump()));
    }
    if (auto m = schema.find("maximum"); m != schema.end() && v.get<double>() > m->get<double>()) {
      return Fail(schema, field, fmt::format("expected at most {}", m->dump()));
    }
  }
  return std::nullopt;
}

Status Check(const json& schema, const std::string& where) {
  if (!schema.is_object()) return InvalidArgument(fmt::format("{}: a schema is an object", where));
  for (const auto& [key, value] : schema.items()) {
    std::string at = fmt::format("{}.{}", where, key);
    if (key == "type") {
      if (!value.is_string() || (value != "object" && value != "array" && value != "string" &&
                                 value != "integer" && value != "number" && value != "boolean")) {
        return InvalidArgument(fmt::format("{}: unknown type {}", at, value.dump()));
      }
    } else if (key == "properties") {
      if (!value.is_object()) return InvalidArgument(at + ": expected an object");
      for (const auto& [name, sub] : value.items()) {
        WARD_RETURN_IF_ERROR(Check(sub, fmt::format("{}.{}", at, name)));
      }
    } else if (key == "items") {
      WARD_RETURN_IF_ERROR(Check(value, at));
    } else if (key == "required" || key == "enum") {
      if (!value.is_array()) return InvalidArgument(at + ": expected an array");
      if (key == "required") {
        for (const auto& r : value) {
          if (!r.is_string()) return InvalidArgument(at + ": expected names");
        }
      }
    } else if (key == "additionalProperties") {
      if (!value.is_boolean()) return InvalidArgument(at + ": only true or false is understood");
    } else if (key == "minItems" || key == "maxItems" || key == "minLength" || key == "maxLength") {
      if (!value.is_number_unsigned()) return InvalidArgument(at + ": expected a count");
    } else if (key == "minimum" || key == "maximum") {
      if (!value.is_number()) return InvalidArgument(at + ": expected a number");
    } else if (key == "pattern" || key == "description") {
      if (!value.is_string()) return InvalidArgument(at + ": expected a string");
      if (key == "pattern") {
        try {
          std::regex re(value.get<std::string>(), std::regex::ECMAScript);
        } catch (const std::regex_error& e) {
          return InvalidArgument(fmt::format("{}: {}", at, e.what()));
        }
      }
    } else {
      return InvalidArgument(at + ": keyword not understood");
    }
  }
  return Status::Ok();
}

}  // namespace

std::optional<JsonSchemaError> ValidateJson(const json& schema, const json& value,
                                            std::string_view root) {
  return Validate(schema, value, std::string(root));
}

Status CheckJsonSchema(const json& schema) { return Check(schema, "schema"); }

}  // namespace ward
