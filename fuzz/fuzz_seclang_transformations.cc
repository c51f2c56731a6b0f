// Transformations decode attacker-controlled bytes: Ward's must never crash and must equal
// libmodsecurity 3.0.9's byte for byte. Input: [n][t1..tn][value]; n (mod 5) transformations
// chosen by the next bytes are applied in order, and every intermediate result is compared with
// the library's.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "agent/modules/ips/seclang/modsec_oracle.h"
#include "agent/modules/ips/seclang/transformations.h"

using namespace ward::seclang;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t n = data[0] % 5;
  if (size < 1 + n) return 0;
  std::vector<Transformation> chain;
  for (size_t i = 0; i < n; ++i) {
    chain.push_back(static_cast<Transformation>(data[1 + i] % kTransformationCount));
  }
  const std::string value(reinterpret_cast<const char*>(data + 1 + n), size - 1 - n);
  std::string expected = value;
  for (const auto t : chain) {
    expected = test::ModsecTransform(TransformationName(t), expected);
  }
  TransformScratch scratch;
  const std::string_view got = scratch.Run(chain, value);
  if (got != expected) {
    std::fprintf(stderr, "transformation chain differs from libmodsecurity\n");
    std::abort();
  }
  return 0;
}
