// ClamAV database containers and cdiff scripts (agent/updates/cdiff.h) reach the agent from the
// manager, and the manager reads what an operator's freshclam directory holds: both parsers and
// the interpreter must survive any bytes. Properties: a container that parses has only safe
// names and its canonical form reads back to the same files; a script only ever creates safe
// names; a script made between two parsed databases reproduces the second one.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "agent/updates/cdiff.h"

using namespace ward::updates::cdiff;

namespace {

bool SafeName(const std::string& n) {
  return !n.empty() && n.front() != '.' && n.find('/') == std::string::npos &&
         n.find("..") == std::string::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  constexpr uint64_t kLimit = 4 << 20;
  if (auto db = ReadDatabase(in, kLimit)) {
    for (const auto& [name, content] : db->files) {
      if (!SafeName(name)) std::abort();
    }
    if (auto c = WriteCanonical(db->files)) {
      auto back = ReadDatabase(*c, kLimit * 2);
      if (!back || back->files != db->files) std::abort();
    }
  }
  // The input as a script (plain or .cdiff) over a small database.
  std::map<std::string, std::string> files = {
      {"daily.info", "ClamAV-VDB:x:1:2:216:X:X:t:1\ndaily.ndb:9:abc\n"},
      {"daily.ndb", "A:0:*:41\nB:0:*:42\nC:0:*:43\n"},
      {"daily.hdb", "44d88612fea8a8f36de82e1278abb02f:68:E\n"}};
  if (auto script = ScriptOf(in, kLimit)) {
    std::map<std::string, std::string> edited = files;
    if (ApplyScript(*script, edited, kLimit).ok()) {
      for (const auto& [name, content] : edited) {
        if (!SafeName(name)) std::abort();
      }
      // What a manager would do with the result: a script back from the original.
      if (auto back = MakeScript(files, edited)) {
        std::map<std::string, std::string> again = files;
        if (!ApplyScript(*back, again).ok() || again != edited) std::abort();
      }
    }
  }
  return 0;
}
