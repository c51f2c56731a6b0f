// Quarantine metadata is read back from disk, where anything may have been written: the parser
// must reject garbage with an error and never crash; what it accepts must round-trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "agent/modules/antimalware/quarantine.h"

using ward::agent::antimalware::ParseQuarantineRecord;
using ward::agent::antimalware::SerializeQuarantineRecord;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto r = ParseQuarantineRecord(in);
  if (!r.has_value()) return 0;
  auto again = ParseQuarantineRecord(SerializeQuarantineRecord(*r));
  if (!again.has_value() || again->original_path != r->original_path || again->key != r->key ||
      again->sha256 != r->sha256 || again->mode != r->mode || again->size != r->size) {
    std::abort();
  }
  return 0;
}
