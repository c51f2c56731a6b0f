// Policies: documents validated with the agent's own parser, versioned on every change.
#include <fmt/format.h>

#include <algorithm>

#include "agent/core/policy.h"
#include "agent/modules/schemas.h"
#include "common/config_node.h"
#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"
#include "manager/auth/secrets.h"
#include "manager/services/ip_lists.h"

namespace ward::manager {

using json = nlohmann::json;

// document_text: at most 1 MiB.
constexpr int64_t kMaxDocumentText = 1 << 20;

namespace {

// A validation failure: the API error plus, for documents sent as text, where it is.
struct DocError {
  ApiError error;
  int line = 0;  // 1-based; 0 when unknown
  int column = 0;
};

HttpResponse DocErr(const DocError& e) {
  json body = ErrorJson(e.error);
  if (e.line > 0) {
    body["line"] = e.line;
    body["column"] = e.column;
  }
  HttpResponse r = JsonResponse(e.error.status, {{"error", body}});
  r.error = e.error;
  return r;
}

// Splits a located validator message — "<source>:<line>:<col>: <key path>: <message>" or
// "<source>: <key path>: <message>" — into the field ("document.<key path>", else "<source>")
// and the position.
DocError FromValidatorMessage(const std::string& msg, std::string_view source) {
  DocError out;
  out.error = BadRequest("invalid_policy", std::string(source), msg);
  std::string_view rest = msg;
  if (!rest.starts_with(source)) return out;
  rest.remove_prefix(source.size());
  if (rest.starts_with(":") && !rest.starts_with(": ")) {  // ":<line>:<col>"
    rest.remove_prefix(1);
    size_t colon = rest.find(':');
    if (colon == std::string_view::npos) return out;
    std::string_view line = rest.substr(0, colon);
    rest.remove_prefix(colon + 1);
    colon = rest.find(':');
    if (colon == std::string_view::npos) return out;
    std::string_view col = rest.substr(0, colon);
    rest.remove_prefix(colon);
    auto num = [](std::string_view v) {
      int n = 0;
      for (char c : v) {
        if (c < '0' || c > '9' || n > 10'000'000) return 0;
        n = n * 10 + (c - '0');
      }
      return n;
    };
    out.line = num(line);
    out.column = num(col);
  }
  if (!rest.starts_with(": ")) return out;
  rest.remove_prefix(2);
  size_t colon = rest.find(": ");
  if (colon == std::string_view::npos) return out;  // a syntax error: no key path
  std::string_view key = rest.substr(0, colon);
  // The key is named in the document either way ("document.integrity.paths[0]"), whether the
  // document came as an object or as text.
  if (key != "(root)") out.error.field = fmt::format("document.{}", key);
  return out;
}

// Validates a policy document with the agent's own parser (so the manager never accepts a
// document an agent would refuse); the error names the key.
std::optional<DocError> ValidateNode(ConfigNode node, std::string_view source) {
  auto p = agent::Policy::FromNode(std::move(node), agent::ModuleSchemas());
  if (!p) return FromValidatorMessage(p.error().message(), source);
  return std::nullopt;
}

// `lists`: the tenant's IP lists, merged into the firewall section where it names lists it does
// not define (services/ip_lists.h), as the agent will receive it.
std::optional<DocError> ValidatePolicyDocument(const json& doc, const std::vector<IpList>& lists) {
  auto node = ConfigNode::FromJson(WithTenantIpLists(doc, lists), "document");
  if (!node) return DocError{BadRequest("invalid_policy", "document", node.error().message())};
  return ValidateNode(std::move(*node), "document");
}

// Strict JSON syntax check without exceptions: the byte offset of the first error.
class JsonSyntax final : public nlohmann::json_sax<json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t position, const std::string& last_token,
                   const nlohmann::detail::exception&) override {
    error_at = position;
    token = last_token;
    return false;
  }
  std::optional<size_t> error_at;
  std::string token;
};

// The document of a policy sent as text (YAML, or JSON — which is YAML too), parsed and
// validated with the agent's own parser: errors name the key and the line. The document stored
// is the parsed tree as JSON (comments are not kept).
ApiResult<json> DocumentFromText(const std::string& text, std::string_view format,
                                 const std::vector<IpList>& lists,
                                 std::optional<DocError>& failure) {
  constexpr std::string_view kSource = "document_text";
  if (format == "json") {
    JsonSyntax sax;
    bool ok = json::sax_parse(text, &sax, json::input_format_t::json, true, false);
    if (!ok || sax.error_at) {
      size_t at = std::min(sax.error_at.value_or(text.size()), text.size());
      int line = 1, column = 1;
      for (size_t i = 0; i + 1 < at; ++i) {
        if (text[i] == '\n') {
          ++line;
          column = 1;
        } else {
          ++column;
        }
      }
      failure = DocError{BadRequest("invalid_policy", std::string(kSource),
                                    fmt::format("{}:{}:{}: not valid JSON near '{}'", kSource, line,
                                                column, sax.token.substr(0, 40))),
                         line, column};
      return json();
    }
  }
  auto node = ConfigNode::FromYaml(text, kSource);
  if (!node) {
    if (format == "json") {
      // Valid JSON the YAML reader refuses (tabs as indentation, ...): validate without lines.
      json doc = json::parse(text, nullptr, false);
      if (auto e = ValidatePolicyDocument(doc, lists)) {
        failure = e;
        return json();
      }
      return doc;
    }
    failure = FromValidatorMessage(node.error().message(), kSource);
    return json();
  }
  if (!node->IsMap()) {
    failure =
        DocError{BadRequest("invalid_policy", std::string(kSource),
                            fmt::format("{}: expected a mapping of module sections", kSource)),
                 1, 1};
    return json();
  }
  json doc = node->ToJson();
  if (!ExternalIpListNames(doc).empty()) {
    // Tenant lists merged in: validated as the agent will get it (errors name the key, without
    // the line).
    if (auto e = ValidatePolicyDocument(doc, lists)) {
      failure = e;
      return json();
    }
    return doc;
  }
  if (auto e = ValidateNode(std::move(*node), kSource)) {
    failure = e;
    return json();
  }
  return doc;
}

// The document of a create/update body: "document" (a JSON object) or "document_text" (YAML or
// JSON text, "document_format": "yaml" (default) or "json"). nullopt: neither was given.
std::optional<json> BodyDocument(const json& body, const std::vector<IpList>& lists,
                                 std::optional<DocError>& failure) {
  const bool has_doc = body.contains("document");
  const bool has_text = body.contains("document_text");
  if (has_doc && has_text) {
    failure = DocError{BadRequest("invalid_field", "document_text",
                                  "document_text: give document or document_text, not both")};
    return std::nullopt;
  }
  if (has_text) {
    std::string format = body.value("document_format", std::string("yaml"));
    if (format != "yaml" && format != "json") {
      failure = DocError{
          BadRequest("invalid_field", "document_format", "document_format: expected yaml or json")};
      return std::nullopt;
    }
    auto doc = DocumentFromText(body["document_text"].get<std::string>(), format, lists, failure);
    if (failure) return std::nullopt;
    return *doc;
  }
  if (body.contains("document_format")) {
    failure = DocError{
        BadRequest("invalid_field", "document_format", "document_format: only with document_text")};
    return std::nullopt;
  }
  if (has_doc) {
    if (auto e = ValidatePolicyDocument(body["document"], lists)) {
      failure = e;
      return std::nullopt;
    }
    return body["document"];
  }
  return std::nullopt;
}

json VersionJson(const PolicyVersion& v, bool with_document) {
  json out = {{"policy_id", v.policy_id},
              {"version", v.version},
              {"name", v.name},
              {"saved_at", TimeJson(v.saved_at)}};
  if (with_document) out["document"] = v.document;
  return out;
}

}  // namespace

void AddPolicyRoutes(RouteTable& table, RouteDeps deps) {
  table.Add("GET", "/api/v1/policies", Access::kAny,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto list = deps.store.ListPolicies(p.tenant.id);
              if (!list) return Err(list.error());
              json items = json::array();
              for (const auto& pol : *list) items.push_back(PolicyJson(pol));
              return JsonResponse(200, {{"items", items}});
            });
  table.Add("POST", "/api/v1/policies", Access::kWrite,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              auto body = ParseObjectBody(req.body);
              if (!body) return Err(body.error());
              if (auto e = CheckFields(*body, {{"name", JsonType::kString, true, false, 1, 200},
                                               {"document", JsonType::kObject},
                                               {"document_text", JsonType::kString, false, false, 0,
                                                kMaxDocumentText},
                                               {"document_format", JsonType::kString}})) {
                return Err(*e);
              }
              auto lists = deps.store.ListIpLists(p.tenant.id);
              if (!lists) return Err(lists.error());
              std::optional<DocError> failure;
              auto doc = BodyDocument(*body, *lists, failure);
              if (failure) return DocErr(*failure);
              if (!doc) {
                return Err(ApiError{400, "missing_field", "document: required", "document"});
              }
              Policy pol;
              pol.id = NewId();
              pol.tenant_id = p.tenant.id;
              pol.name = (*body)["name"];
              pol.version = 1;
              pol.document = std::move(*doc);
              pol.created_at = pol.updated_at = deps.clock.Now();
              if (Status s = deps.store.CreatePolicy(pol); !s.ok()) return Err(s);
              p.audit["object_id"] = pol.id;
              return JsonResponse(201, PolicyJson(pol));
            });
  table.Add("GET", "/api/v1/policies/{id}", Access::kAny,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto pol = deps.store.GetPolicy(p.tenant.id, path.at("id"));
              if (!pol) return LookupError(pol.error(), "policy");
              return JsonResponse(200, PolicyJson(*pol));
            });
  auto update_policy = [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
    auto pol = deps.store.GetPolicy(p.tenant.id, path.at("id"));
    if (!pol) return LookupError(pol.error(), "policy");
    auto body = ParseObjectBody(req.body);
    if (!body) return Err(body.error());
    const bool put = req.method == "PUT";
    if (auto e = CheckFields(
            *body, {{"name", JsonType::kString, put, false, 1, 200},
                    {"document", JsonType::kObject},
                    {"document_text", JsonType::kString, false, false, 0, kMaxDocumentText},
                    {"document_format", JsonType::kString}})) {
      return Err(*e);
    }
    std::string name = body->contains("name") ? (*body)["name"].get<std::string>() : pol->name;
    auto lists = deps.store.ListIpLists(p.tenant.id);
    if (!lists) return Err(lists.error());
    std::optional<DocError> failure;
    auto new_doc = BodyDocument(*body, *lists, failure);
    if (failure) return DocErr(*failure);
    if (put && !new_doc) {
      return Err(ApiError{400, "missing_field", "document: required", "document"});
    }
    json doc = new_doc ? std::move(*new_doc) : pol->document;
    auto updated = deps.store.UpdatePolicy(p.tenant.id, pol->id, name, doc, deps.clock.Now());
    if (!updated) return LookupError(updated.error(), "policy");
    p.audit["object_id"] = pol->id;
    p.audit["version"] = updated->version;
    return JsonResponse(200, PolicyJson(*updated));
  };
  table.Add("GET", "/api/v1/policies/{id}/versions", Access::kAny,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto list = deps.store.ListPolicyVersions(p.tenant.id, path.at("id"));
              if (!list) return LookupError(list.error(), "policy");
              json items = json::array();
              for (const auto& v : *list) items.push_back(VersionJson(v, false));
              return JsonResponse(200, {{"items", items}});
            });
  table.Add("GET", "/api/v1/policies/{id}/versions/{version}", Access::kAny,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto pol = deps.store.GetPolicy(p.tenant.id, path.at("id"));
              if (!pol) return LookupError(pol.error(), "policy");
              const std::string& v = path.at("version");
              int version = 0;
              bool ok = !v.empty() && v.size() <= 9;
              for (char c : v) {
                if (c < '0' || c > '9') ok = false;
                if (ok) version = version * 10 + (c - '0');
              }
              if (!ok || version < 1) {
                return Err(BadRequest("invalid_query", "version",
                                      "version: expected a positive version number"));
              }
              auto found = deps.store.GetPolicyVersion(p.tenant.id, pol->id, version);
              if (!found) return LookupError(found.error(), "policy version");
              return JsonResponse(200, VersionJson(*found, true));
            });
  table.Add("PATCH", "/api/v1/policies/{id}", Access::kWrite, update_policy);
  table.Add("PUT", "/api/v1/policies/{id}", Access::kWrite, update_policy);
  table.Add("DELETE", "/api/v1/policies/{id}", Access::kWrite,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              if (Status s = deps.store.DeletePolicy(p.tenant.id, path.at("id")); !s.ok()) {
                return LookupError(s, "policy");
              }
              p.audit["object_id"] = path.at("id");
              return EmptyResponse();
            });
}

}  // namespace ward::manager
