// Where an agent keeps the update bundles the manager sends (docs/updates.md), and how a policy
// refers to them: "managed:<kind>" (e.g. in antimalware.databases) names the directory of the
// bundle of that kind in force. Header-only so that policy schemas (linked by the manager) can
// check such references without linking anything.
//   <state_dir>/updates/<kind>/v<version>/   one installed version's files
//   <state_dir>/updates/<kind>/current       a symbolic link to the version in force
// Thread-safety: pure functions.
#pragma once

#include <algorithm>
#include <array>
#include <filesystem>
#include <string>
#include <string_view>

namespace ward::updates {

inline constexpr std::string_view kManagedPrefix = "managed:";

// The kinds of bundle: "clamav" (ClamAV databases), "yara" (YARA rule files), "crs" (the OWASP
// Core Rule Set's files), "rules" (custom and Ward rule files).
inline constexpr std::array<std::string_view, 4> kKinds = {"clamav", "yara", "crs", "rules"};

inline bool IsKind(std::string_view kind) {
  return std::find(kKinds.begin(), kKinds.end(), kind) != kKinds.end();
}

inline std::filesystem::path UpdatesRoot(const std::filesystem::path& state_dir) {
  return state_dir / "updates";
}

// <state_dir>/updates/<kind>/current: what "managed:<kind>" resolves to.
inline std::filesystem::path ManagedDir(const std::filesystem::path& state_dir,
                                        std::string_view kind) {
  return UpdatesRoot(state_dir) / std::string(kind) / "current";
}

// "managed:<kind>" -> the kind, or "" when `value` is not such a reference.
inline std::string_view ManagedKind(std::string_view value) {
  if (!value.starts_with(kManagedPrefix)) return {};
  std::string_view kind = value.substr(kManagedPrefix.size());
  return IsKind(kind) ? kind : std::string_view{};
}

}  // namespace ward::updates
