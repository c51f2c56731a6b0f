// The console's parsers of request headers: the session cookie (Cookie) and If-None-Match (the
// console's ETag revalidation), on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "manager/auth/sessions.h"
#include "manager/console/assets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ward::manager;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto secret = SessionFromCookieHeader(in);
  // A found secret is a substring of the header, with the prefix, bounded.
  if (secret && (!secret->starts_with("wss_") || secret->size() > 128 ||
                 in.find(*secret) == std::string_view::npos)) {
    __builtin_trap();
  }
  auto r = ServeConsole("/", in);
  if (!r || (r->status != 200 && r->status != 304) || (r->status == 304 && !r->body.empty())) {
    __builtin_trap();
  }
  return 0;
}
