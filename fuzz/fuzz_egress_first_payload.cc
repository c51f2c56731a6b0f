// First payloads of outbound TCP flows as egress reads them (agent/modules/egress/first_payload.h):
// TLS ClientHellos (SNI, ECH) and HTTP request heads. A name found must be what is found again
// when more bytes follow (a longer packet never changes an answer already given).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "agent/modules/egress/first_payload.h"

using namespace ward::agent::egress;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  ClientHello ch;
  Parsed p = ParseClientHello(bytes, ch);
  if (p == Parsed::kFound && !ch.server_name.empty() && size > 1) {
    ClientHello longer;
    std::string more(bytes);
    more.append("\x00\x00", 2);
    if (ParseClientHello(more, longer) == Parsed::kFound && longer.server_name != ch.server_name) {
      std::abort();
    }
  }
  HttpRequestHead h;
  if (ParseHttpRequestHead(bytes, h) == Parsed::kFound) {
    (void)(h.url.size() + h.host.size() + h.method.size());
  }
  return 0;
}
