// The OpenAPI 3 description of /api/v1, served at GET /api/v1/openapi.json (no key needed).
#pragma once

#include <nlohmann/json.hpp>

namespace ward::manager {
const nlohmann::json& OpenApiDocument();
}
