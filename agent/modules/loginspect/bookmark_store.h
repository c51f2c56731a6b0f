// BookmarkStore: where each log source stopped, in the agent's state directory
// (state_dir/loginspect.db, SQLite in WAL mode), so a restart resumes exactly there.
//
// A file's bookmark is {inode, device, offset, length and SHA-256 of its first bytes}: the
// offset is where the next unread line starts; inode and head hash let the source find the file
// again after a rotation that happened while the agent was down (docs/loginspect.md,
// "Bookmarks"). The journal's bookmark is its cursor. Bookmarks are written after the lines
// before them were processed and their events handed to the sink (at-least-once).
// Thread-safety: not thread-safe; the module's run thread only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/sqlite.h"
#include "common/status.h"

namespace ward::agent::loginspect {

struct FileBookmark {
  uint64_t inode = 0;
  uint64_t dev = 0;
  uint64_t offset = 0;
  uint64_t head_len = 0;  // bytes hashed (the file's first bytes, at most kHeadBytes)
  std::string head_hash;  // SHA-256 of those bytes (32 raw bytes); empty when head_len is 0
  bool operator==(const FileBookmark&) const = default;
};

class BookmarkStore {
 public:
  // Opens (creating) state_dir/loginspect.db.
  static Result<std::unique_ptr<BookmarkStore>> Open(const std::filesystem::path& state_dir);

  // Every file bookmark, by path.
  Result<std::map<std::string, FileBookmark>> LoadFiles();
  // Writes the given bookmarks in one transaction.
  Status SaveFiles(const std::map<std::string, FileBookmark>& bookmarks);
  Status RemoveFile(const std::string& path);

  Result<std::optional<std::string>> LoadCursor(const std::string& name);
  Status SaveCursor(const std::string& name, const std::string& cursor);

 private:
  explicit BookmarkStore(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}
  std::unique_ptr<SqliteDb> db_;
};

}  // namespace ward::agent::loginspect
