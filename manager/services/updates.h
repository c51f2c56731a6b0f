// UpdateRepository: the manager's update bundles (docs/updates.md): ClamAV databases, YARA rule
// files, CRS and custom rule files, each kind versioned 1, 2, ... and every version's manifest
// signed with the manager's Ed25519 update key (derived from manager.key, so every node sharing
// that file signs with the same key; agents pin its public half).
//
// Storage, under one directory (default <state-dir>/updates; nodes of one manager share it, e.g.
// on NFS, or each imports the same freshclam directory):
//   blobs/<sha256>            every file's bytes, by content (written to a temporary name,
//                             fsynced and renamed: a reader never sees half a file)
//   <kind>/<version>.json     the signed manifest {"manifest": "...", "signature": "..."};
//                             created with link(2), so two nodes never make the same version
// ClamAV .cld/.cud files are stored in canonical form (agent/updates/cdiff.h), and a new one
// whose version before held a .cvd/.cld/.cud of the same stem also gets a cdiff from it
// (FileEntry::delta), offered only when applying it reproduces the published bytes.
// A new version starts from the latest one's files (Publish adds or replaces files, or replaces
// the set; ImportDirectory mirrors a directory such as the one freshclam maintains, and makes a
// version only when something changed).
// Thread-safety: all methods may be called from many threads.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/updates/bundle.h"
#include "common/status.h"

namespace ward::manager {

struct UpdateBundle {
  updates::Manifest manifest;
  updates::SignedManifest signed_manifest;
};

class UpdateRepository {
 public:
  static Result<std::unique_ptr<UpdateRepository>> Open(std::filesystem::path dir,
                                                        const updates::KeyPair& key);

  std::string PublicKeyBase64() const;
  // `text` signed with the update key (agent package manifests, docs/updates.md "Agent upgrades").
  updates::SignedManifest SignText(std::string text) const;
  const std::filesystem::path& dir() const { return dir_; }
  const updates::KeyPair& key() const { return key_; }
  // The latest version of every kind that has one.
  std::vector<UpdateBundle> Latest();
  // Every version of `kind` ("" = every kind), oldest first.
  std::vector<UpdateBundle> List(std::string_view kind = "");
  Result<UpdateBundle> Get(std::string_view kind, int64_t version);

  // A new version of `kind`: the latest one's files with `files` (name, bytes) added or replaced,
  // or only `files` when replace_all. Names are checked (updates::CheckFileName). Errors:
  // kInvalidArgument naming the file; kUnavailable for I/O.
  Result<UpdateBundle> Publish(std::string_view kind,
                               const std::vector<std::pair<std::string, std::string>>& files,
                               bool replace_all, std::chrono::system_clock::time_point now);
  // Mirrors the files of `dir` that a bundle of `kind` may hold (other names are skipped and
  // listed in `skipped`) as a new version, when they differ from the latest; nullopt when
  // nothing changed.
  Result<std::optional<UpdateBundle>> ImportDirectory(std::string_view kind,
                                                      const std::filesystem::path& dir,
                                                      std::chrono::system_clock::time_point now,
                                                      std::vector<std::string>* skipped = nullptr);
  // The file with this SHA-256, when a version of `kind` lists it; kNotFound otherwise (also for
  // anything that is not 64 lowercase hex digits).
  Result<std::filesystem::path> FilePath(std::string_view kind, std::string_view sha256);

 private:
  UpdateRepository(std::filesystem::path dir, const updates::KeyPair& key)
      : dir_(std::move(dir)), key_(key) {}
  // Re-reads <kind>/ when it changed on disk (another node published).
  void Refresh(std::string_view kind);
  Result<UpdateBundle> Commit(updates::Manifest m, std::chrono::system_clock::time_point now);
  Status StoreBlob(std::string_view bytes, std::string* sha256);
  // A cdiff from the file of `previous` with entry's stem to `bytes` (canonical), stored as a
  // blob; nullopt when none can be made that reproduces `bytes` exactly.
  std::optional<updates::Delta> MakeDelta(const std::vector<updates::FileEntry>& previous,
                                          const updates::FileEntry& entry, std::string_view bytes);

  std::filesystem::path dir_;
  updates::KeyPair key_;
  std::mutex mu_;
  struct KindState {
    std::filesystem::file_time_type mtime{};
    std::map<int64_t, UpdateBundle> versions;
  };
  std::map<std::string, KindState, std::less<>> kinds_;
};

}  // namespace ward::manager
