// Event JSON (what agents send and outputs re-read) and arbitrary file-name bytes in events.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/event.h"
#include "common/text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto e = ward::Event::FromJson(text);
  if (e) {
    std::string again = e->ToJson();
    auto back = ward::Event::FromJson(again);
    if (!back) __builtin_trap();
  }
  ward::Event f;
  f.SetBytes("file.path", text);
  auto parsed = ward::Event::FromJson(f.Set("event.id", "x").ToJson());
  if (!parsed) __builtin_trap();
  std::string b64 = parsed->GetString("file.path_base64");
  if (!b64.empty()) {
    auto raw = ward::Base64Decode(b64);
    if (!raw || *raw != text) __builtin_trap();
  } else if (parsed->GetString("file.path") != text) {
    __builtin_trap();
  }
  return 0;
}
