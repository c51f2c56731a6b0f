// `ward-manager init`: the schema, the primary tenant and its first admin API key.
#pragma once

#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "manager/store/store.h"

namespace ward::manager {

struct Bootstrap {
  std::string tenant_id;
  std::string api_key_id;
  std::string api_key;  // the secret: shown once, stored only as its hash
};

// Migrates the schema and creates the primary tenant with one admin key. kFailedPrecondition when
// a primary tenant exists already. Nothing is left behind when a step fails.
Result<Bootstrap> InitPrimaryTenant(Store& store, const Clock& clock, const std::string& name);

}  // namespace ward::manager
