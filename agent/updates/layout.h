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
#include <utility>

namespace ward::updates {

inline constexpr std::string_view kManagedPrefix = "managed:";

// The kinds of bundle: "clamav" (ClamAV databases), "yara" (YARA rule files), "crs" (the OWASP
// Core Rule Set's files), "rules" (custom and Ward rule files), "feeds" (egress reputation feeds;
// unlike the others a bundle of each tenant's own, built by the manager from the feeds uploaded
// through /api/v1/feeds: docs/egress.md "Managed feeds").
inline constexpr std::array<std::string_view, 5> kKinds = {"clamav", "yara", "crs", "rules",
                                                           "feeds"};

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

// "managed:<kind>" -> the kind, or "" when `value` is not such a reference. A feed reference
// ("managed:feeds/<name>", ManagedFeed) counts as the kind "feeds".
inline std::string_view ManagedKind(std::string_view value) {
  if (!value.starts_with(kManagedPrefix)) return {};
  std::string_view kind = value.substr(kManagedPrefix.size());
  if (kind.starts_with("feeds/")) return kind.size() > 6 ? kind.substr(0, 5) : std::string_view{};
  return IsKind(kind) ? kind : std::string_view{};
}

// Egress reputation feeds in a "feeds" bundle: one file per feed, named <feed name>.<extension>,
// the extension saying the feed's format (the agent checks and parses each by it).
struct FeedFormatExtension {
  std::string_view format;  // the egress list format (docs/egress.md "Lists")
  std::string_view extension;
};
inline constexpr std::array<FeedFormatExtension, 5> kFeedExtensions = {{{"hosts", "hosts"},
                                                                        {"domains", "domains"},
                                                                        {"urlhaus_csv", "csv"},
                                                                        {"spamhaus_drop", "drop"},
                                                                        {"custom", "list"}}};

// A feed name: 1-64 of [a-z0-9_-], starting with a letter or digit.
inline bool ValidFeedName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '_' || name.front() == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// "urlhaus_csv" -> "csv"; "" for an unknown format.
inline std::string_view FeedExtension(std::string_view format) {
  for (const auto& f : kFeedExtensions) {
    if (f.format == format) return f.extension;
  }
  return {};
}

// "urlhaus.csv" -> {"urlhaus", "urlhaus_csv"}; {"", ""} when the name is not a feed file.
inline std::pair<std::string_view, std::string_view> FeedOfFile(std::string_view file) {
  size_t dot = file.rfind('.');
  if (dot == std::string_view::npos) return {};
  std::string_view name = file.substr(0, dot);
  std::string_view ext = file.substr(dot + 1);
  if (!ValidFeedName(name)) return {};
  for (const auto& f : kFeedExtensions) {
    if (f.extension == ext) return {name, f.format};
  }
  return {};
}

// "managed:feeds/<name>" -> the feed's name, or "" when `value` is not such a reference.
inline std::string_view ManagedFeed(std::string_view value) {
  constexpr std::string_view kPrefix = "managed:feeds/";
  if (!value.starts_with(kPrefix)) return {};
  std::string_view name = value.substr(kPrefix.size());
  return ValidFeedName(name) ? name : std::string_view{};
}

}  // namespace ward::updates
