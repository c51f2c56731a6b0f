#include "manager/services/packages.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>

#include "common/hash.h"
#include "common/log.h"

namespace ward::manager {
namespace {

constexpr uintmax_t kMaxPackageBytes = 512ull * 1024 * 1024;
constexpr std::string_view kArMagic = "!<arch>\n";

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '+' || c == '~' || c == '_' || c == '-';
}

// <name>_<version>_<arch>.deb: three non-empty parts.
bool SplitDebName(std::string_view file, AgentPackage& out) {
  if (!IsPackageFileName(file)) return false;
  std::string_view stem = file.substr(0, file.size() - 4);
  size_t a = stem.find('_');
  size_t b = stem.rfind('_');
  if (a == std::string_view::npos || a == b || a == 0 || b + 1 == stem.size() || b == a + 1) {
    return false;
  }
  out.name = std::string(stem.substr(0, a));
  out.version = std::string(stem.substr(a + 1, b - a - 1));
  out.arch = std::string(stem.substr(b + 1));
  return true;
}

}  // namespace

bool IsPackageFileName(std::string_view file) {
  if (file.size() < 5 || file.size() > 255 || !file.ends_with(".deb")) return false;
  if (file.front() == '.' || file.find("..") != std::string_view::npos) return false;
  return std::all_of(file.begin(), file.end(), IsNameChar);
}

Result<PackageCatalog> PackageCatalog::Load(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return NotFound(fmt::format("--packages-dir {}: not a directory", dir.string()));
  }
  PackageCatalog catalog;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return ErrnoStatus(ec.value(), fmt::format("read {}", dir.string()));
  for (const auto& entry : it) {
    const std::string file = entry.path().filename().string();
    if (!file.ends_with(".deb") || !entry.is_regular_file(ec)) continue;
    AgentPackage p;
    p.file = file;
    if (!SplitDebName(file, p)) {
      spdlog::warn("packages: {} skipped: not named <name>_<version>_<arch>.deb", file);
      continue;
    }
    const uintmax_t size = entry.file_size(ec);
    if (ec) return ErrnoStatus(ec.value(), fmt::format("stat {}", entry.path().string()));
    if (size > kMaxPackageBytes) {
      return InvalidArgument(fmt::format("{}: larger than 512 MiB", entry.path().string()));
    }
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      return Internal(fmt::format("read {}", entry.path().string()));
    }
    if (!bytes.starts_with(kArMagic)) {
      spdlog::warn("packages: {} skipped: not a Debian package (no ar archive)", file);
      continue;
    }
    p.sha256 = DigestHex(Sha256::Of(bytes));
    p.bytes = std::make_shared<const std::string>(std::move(bytes));
    catalog.packages_.push_back(std::move(p));
  }
  std::sort(catalog.packages_.begin(), catalog.packages_.end(),
            [](const AgentPackage& a, const AgentPackage& b) { return a.file < b.file; });
  return catalog;
}

const AgentPackage* PackageCatalog::Find(std::string_view file) const {
  for (const auto& p : packages_) {
    if (p.file == file) return &p;
  }
  return nullptr;
}

std::vector<const AgentPackage*> PackageCatalog::AgentPackages(
    std::string_view preferred_version) const {
  std::map<std::string, const AgentPackage*> by_arch;
  for (const auto& p : packages_) {
    if (p.name != "ward-agent") continue;
    auto& slot = by_arch[p.arch];
    if (slot != nullptr && slot->version == preferred_version) continue;
    slot = &p;  // sorted by file name: a later one replaces an earlier one
  }
  std::vector<const AgentPackage*> out;
  for (const auto& [arch, p] : by_arch) out.push_back(p);
  return out;
}

}  // namespace ward::manager
