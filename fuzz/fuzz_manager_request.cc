// The manager's request front door without a database: the router (method + raw path), the query
// validators (pagination, cursors, timestamps), the JSON body validators and the conditional
// request header (If-None-Match, from the body bytes), on arbitrary bytes.
// Input: "METHOD PATH?QUERY\n<body>".
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "manager/api/json_body.h"
#include "manager/api/router.h"

namespace {

const ward::manager::Router& TheRouter() {
  static const ward::manager::Router r = [] {
    ward::manager::Router r;
    int id = 0;
    for (const char* p :
         {"/api/v1/tenants", "/api/v1/tenants/{id}", "/api/v1/settings", "/api/v1/apikeys",
          "/api/v1/apikeys/{id}", "/api/v1/agents/{id}", "/api/v1/agents/{id}/commands",
          "/api/v1/events/counts", "/api/v1/events", "/api/v1/policies/{id}"}) {
      r.Add("GET", p, id++);
      r.Add("PATCH", p, id++);
    }
    return r;
  }();
  return r;
}

std::string Decode(std::string_view s) {  // %XX and '+' as a query string would be decoded
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      auto hex = [](char c) { return c >= 'a' ? c - 'a' + 10 : c >= 'A' ? c - 'A' + 10 : c - '0'; };
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ward::manager;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  std::string_view line = in.substr(0, nl);
  std::string_view body = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  size_t sp = line.find(' ');
  HttpRequest req;
  req.method = std::string(line.substr(0, sp));
  std::string_view target = sp == std::string_view::npos ? "" : line.substr(sp + 1);
  size_t q = target.find('?');
  req.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) {
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
      size_t amp = query.find('&');
      std::string_view kv = query.substr(0, amp);
      size_t eq = kv.find('=');
      req.query.emplace_back(Decode(kv.substr(0, eq)),
                             eq == std::string_view::npos ? "" : Decode(kv.substr(eq + 1)));
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  auto m = TheRouter().Route(req.method, req.path);
  (void)m;
  (void)CheckQuery(req, {"from", "to", "limit", "cursor", "order"});
  (void)ReadLimit(req, 100, 1000);
  if (auto c = QueryParam(req, "cursor")) {
    auto d = DecodeCursor(*c);
    if (d) {
      auto again = DecodeCursor(EncodeCursor(d->first, d->second));
      if (!again || again->second != d->second) __builtin_trap();
    }
  }
  if (auto f = QueryParam(req, "from")) (void)ParseTimestamp(*f);
  req.headers.Add("If-None-Match", std::string(body.substr(0, 4096)));
  static const StaticAsset kAsset = MakeAsset("text/plain", "x", false);
  HttpResponse asset = AssetResponse(req, kAsset);
  if (asset.status == 304 && !IfNoneMatchMatches(body.substr(0, 4096), kAsset.etag)) {
    __builtin_trap();
  }
  auto obj = ParseObjectBody(body);
  if (obj) {
    (void)CheckFields(*obj, {{"name", JsonType::kString, true, false, 1, 200},
                             {"role", JsonType::kString},
                             {"expires_at", JsonType::kTimestamp, false, true},
                             {"max_uses", JsonType::kInt, false, true, 1, 1000000000},
                             {"settings", JsonType::kObject},
                             {"document", JsonType::kObject},
                             {"disabled", JsonType::kBool},
                             {"paths", JsonType::kArray}});
    if (obj->contains("settings")) {
      (void)CheckFields((*obj)["settings"],
                        {{"event_retention_days", JsonType::kInt, false, false, 1, 3650}},
                        "settings.");
    }
  }
  return 0;
}
