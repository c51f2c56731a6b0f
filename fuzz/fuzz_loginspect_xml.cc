// OSSEC/Wazuh rule and decoder files into the loader: half of the input as a decoder file, half
// as a rule file. Loading must succeed or fail with a message, never crash or hang.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "agent/modules/loginspect/ruleset.h"
#include "agent/modules/loginspect/xml.h"

namespace {
std::filesystem::path Dir() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() /
             ("ward-fuzz-loginspect-xml-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d / "decoders");
    std::filesystem::create_directories(d / "rules");
    return d;
  }();
  return dir;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  (void)ward::agent::loginspect::ParseXml(in);
  size_t half = in.find("\n\n");
  if (half == std::string::npos) half = in.size() / 2;
  std::ofstream(Dir() / "decoders/d.xml", std::ios::trunc) << in.substr(0, half);
  std::ofstream(Dir() / "rules/r.xml", std::ios::trunc) << in.substr(half);
  ward::agent::loginspect::RulesetConfig c;
  c.decoder_dirs = {Dir() / "decoders"};
  c.rule_dirs = {Dir() / "rules"};
  c.lists_dir = Dir();
  auto rs = ward::agent::loginspect::Ruleset::Load(c);
  if (rs.has_value()) {
    ward::agent::loginspect::Session s(*rs);
    (void)s.Process("Feb  9 11:44:56 host sshd[1]: Failed password for root from 1.2.3.4", "fuzz",
                    1);
  }
  return 0;
}
