// Paths seen by the antimalware module come from the file system (file names are
// attacker-chosen): exclusion matching, normalisation and container detection must terminate and
// never crash. Input: exclusion '\0' path.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/modules/antimalware/config.h"
#include "agent/modules/antimalware/container.h"
#include "common/text.h"

using namespace ward::agent::antimalware;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nul = in.find('\0');
  if (nul == std::string_view::npos) return 0;
  Exclusions x;
  x.paths = {ward::NormalizeAbsolutePath("/" + std::string(in.substr(0, nul)))};
  x.extensions = {std::string(in.substr(0, std::min<size_t>(nul, 8)))};
  // Keep container lookups away from the real /var/lib/docker.
  std::string path = "/nonexistent-fuzz-root/" + std::string(in.substr(nul + 1));
  (void)x.Excludes(path);
  (void)ward::NormalizeAbsolutePath(path);
  (void)ContainerOf(path);
  return 0;
}
