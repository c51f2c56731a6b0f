// Request bodies are attacker-controlled: Ward's processors must never crash and must give
// libmodsecurity 3.0.9's arguments, files, flags and errors (docs/ips.md, "Request bodies").
// Input: [selector][content-type line '\n'][body] for multipart, [selector][body] for JSON and
// XML (body_cases.h, CaseFromBytes). Both run on every input; a difference aborts — except
// the two documented deliberate differences: where 3.0.9 reads past an unterminated quote (its
// undefined behaviour) and XML whose entities expand beyond the bound.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "agent/modules/ips/seclang/body/body_cases.h"
#include "agent/modules/ips/seclang/body/body_oracle.h"

using namespace ward::seclang::body;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  static BodyProcessor proc;
  static BodyResult result;
  const test::BodyCase c = test::CaseFromBytes(data, size);
  if (c.kind == BodyProcessorKind::kNone) return 0;
  const test::Observed w = test::RunWard(c, &proc, &result);
  if (result.multipart_unterminated_quote || result.xml_amplification) return 0;
  const test::Observed m = test::RunModsec(c);
  if (!(m == w)) {
    std::fprintf(stderr, "difference from libmodsecurity:\n%s\n", test::Diff(m, w).c_str());
    std::abort();
  }
  return 0;
}
