// The answer of a `ward-agent scan` worker process (scan_worker.h) comes from a process that has
// just parsed hostile files: decoding must never crash, and what decodes must re-encode to an
// answer that decodes to the same result.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "agent/modules/antimalware/scan_worker.h"

using namespace ward::agent::antimalware;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  ScanResult r;
  if (!DecodeScanReply(in, &r)) return 0;
  ScanResult again;
  if (!DecodeScanReply(EncodeScanReply(r), &again)) std::abort();
  if (again.verdict != r.verdict || again.engine != r.engine || again.signature != r.signature ||
      again.reason != r.reason) {
    std::abort();
  }
  return 0;
}
