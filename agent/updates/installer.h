// Installer: the agent's store of update bundles (layout in agent/updates/layout.h). It stages a
// verified manifest's files into <kind>/v<version>.partial (a file the version in force already
// holds, by SHA-256, is copied locally instead of fetched), checks every file's size and SHA-256
// against the manifest and its format, renames the directory to v<version>, and only then
// points <kind>/current at it (a symbolic link replaced atomically with rename(2)). A failure at
// any step leaves the version in force untouched and removes what was staged.
//
// A file with a delta (a ClamAV cdiff, agent/updates/cdiff.h) whose `from_sha256` the version in
// force holds is made by fetching the cdiff, applying it in memory to the held file and writing
// the canonical container; it must come out with the manifest's size and SHA-256 exactly. Any
// failure (fetch, a hash, a script that does not apply, another result) falls back to fetching
// the whole file and is listed in StageReport::delta_fallbacks.
// File names come from the network: each is checked again here (CheckFileName) and written with
// O_EXCL|O_NOFOLLOW inside the staging directory, so nothing is ever written outside
// <state_dir>/updates.
// The manager's update key is pinned on first sight (<state_dir>/updates/update_key); a
// different key offered later is refused.
// Thread-safety: one thread at a time (the agent's heartbeat thread).
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/updates/bundle.h"
#include "common/status.h"

namespace ward::updates {

// Returns a file's bytes (any error is passed on: kUnavailable when the manager cannot be reached).
using FetchFn = std::function<Result<std::string>(const FileEntry&)>;
// Checks a staged file's format before its version goes live (e.g. libclamav's CVD verification).
using FormatCheck = std::function<Status(std::string_view kind, const std::filesystem::path&)>;

struct StageReport {
  std::filesystem::path dir;  // <root>/<kind>/v<version>
  int files_fetched = 0;
  int files_reused = 0;   // held already (same SHA-256 in the version in force)
  int files_patched = 0;  // made from a held file and a fetched ClamAV cdiff (FileEntry::delta)
  uint64_t bytes_fetched = 0;
  uint64_t bytes_patched = 0;  // the size of the files made from cdiffs (what they saved)
  // Cdiffs that could not be used ("daily.cld: <why>"); each of those files was fetched whole.
  std::vector<std::string> delta_fallbacks;
};

class Installer {
 public:
  explicit Installer(std::filesystem::path state_dir);

  // The version in force of `kind` (0 = none).
  int64_t Current(std::string_view kind) const;
  // The key to verify manifests with: the pinned one; `offered_b64` is pinned when none is yet.
  // kPermissionDenied when the offered key differs from the pinned one.
  Result<PublicKey> PinKey(std::string_view offered_b64);

  // Fetches, verifies and stages `m` (already signature-checked). Errors: kDataLoss for a file
  // whose size or SHA-256 differs from the manifest (truncated, corrupted), the format check's
  // error naming the file, the fetch's error, kUnavailable for local I/O.
  Result<StageReport> Stage(const Manifest& m, const FetchFn& fetch, const FormatCheck& check);
  // Points <kind>/current at v<version> (which Stage made); returns the version it pointed at
  // before (0 = none).
  Result<int64_t> Activate(std::string_view kind, int64_t version);
  // Points current back at `version` (0: removes the link), as after a failed reload.
  Status Restore(std::string_view kind, int64_t version);
  // Removes every version directory of `kind` but the one in force and `keep`.
  void Prune(std::string_view kind, int64_t keep);

 private:
  std::filesystem::path KindDir(std::string_view kind) const;
  std::filesystem::path root_;
};

}  // namespace ward::updates
