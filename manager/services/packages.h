// PackageCatalog: the agent packages a manager serves to the hosts it deploys
// (GET /agent/v1/packages/..., docs/deployment.md): the Debian packages (`make package` output)
// of one directory given at start (`ward-manager serve --packages-dir`), read once into memory
// with their SHA-256, so a download never sees a half-replaced file and the deployment script
// can carry each package's hash.
//
// Thread-safety: immutable after Load; share it as a const object across threads.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ward::manager {

struct AgentPackage {
  std::string file;     // "ward-agent_0.1.0_amd64.deb" (Debian's <name>_<version>_<arch>.deb)
  std::string name;     // "ward-agent"
  std::string version;  // "0.1.0"
  std::string arch;     // "amd64"
  std::string sha256;   // 64 lowercase hex digits
  std::shared_ptr<const std::string> bytes;
};

class PackageCatalog {
 public:
  // Every *.deb of `dir` (not its subdirectories) named <name>_<version>_<arch>.deb with only
  // [A-Za-z0-9.+~_-] in its name and starting with an ar archive's magic; other files are
  // skipped with a warning. kNotFound: no such directory; kInvalidArgument: a file larger than
  // 512 MiB; an empty directory is an empty catalog.
  static Result<PackageCatalog> Load(const std::filesystem::path& dir);

  const std::vector<AgentPackage>& packages() const { return packages_; }
  // The package with this file name, or nullptr.
  const AgentPackage* Find(std::string_view file) const;
  // The ward-agent package to deploy for each architecture: of `preferred_version` (the
  // manager's own) where the directory has it, else the last file name in sort order.
  std::vector<const AgentPackage*> AgentPackages(std::string_view preferred_version) const;

 private:
  std::vector<AgentPackage> packages_;  // sorted by file name
};

// Whether `file` is a name Load accepts and Find can look up (no '/', no "..", the charset
// above, ends in .deb). Untrusted input (the request path) goes through this first.
bool IsPackageFileName(std::string_view file);

}  // namespace ward::manager
