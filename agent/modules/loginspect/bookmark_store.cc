#include "agent/modules/loginspect/bookmark_store.h"

#include <fmt/format.h>
#include <sys/stat.h>

namespace ward::agent::loginspect {

Result<std::unique_ptr<BookmarkStore>> BookmarkStore::Open(const std::filesystem::path& state_dir) {
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) return ErrnoStatus(ec.value(), fmt::format("create state dir {}", state_dir.string()));
  auto file = state_dir / "loginspect.db";
  WARD_ASSIGN_OR_RETURN(auto db, SqliteDb::Open(file.string()));
  ::chmod(file.c_str(), 0600);
  WARD_RETURN_IF_ERROR(db->Exec(
      "CREATE TABLE IF NOT EXISTS file_bookmarks (path TEXT PRIMARY KEY, inode INTEGER NOT NULL,"
      " dev INTEGER NOT NULL, offset INTEGER NOT NULL, head_len INTEGER NOT NULL,"
      " head_hash BLOB NOT NULL);"
      "CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, cursor TEXT NOT NULL);"));
  return std::unique_ptr<BookmarkStore>(new BookmarkStore(std::move(db)));
}

Result<std::map<std::string, FileBookmark>> BookmarkStore::LoadFiles() {
  std::map<std::string, FileBookmark> out;
  WARD_ASSIGN_OR_RETURN(
      auto q,
      db_->Prepare("SELECT path, inode, dev, offset, head_len, head_hash FROM file_bookmarks"));
  while (true) {
    WARD_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    FileBookmark b;
    b.inode = static_cast<uint64_t>(q.ColumnInt(1));
    b.dev = static_cast<uint64_t>(q.ColumnInt(2));
    b.offset = static_cast<uint64_t>(q.ColumnInt(3));
    b.head_len = static_cast<uint64_t>(q.ColumnInt(4));
    b.head_hash = q.ColumnBlob(5);
    out[q.ColumnText(0)] = std::move(b);
  }
  return out;
}

Status BookmarkStore::SaveFiles(const std::map<std::string, FileBookmark>& bookmarks) {
  if (bookmarks.empty()) return Status::Ok();
  WARD_ASSIGN_OR_RETURN(auto tx, SqliteTransaction::Begin(*db_));
  WARD_ASSIGN_OR_RETURN(
      auto ins, db_->Prepare("INSERT OR REPLACE INTO file_bookmarks (path, inode, dev, offset,"
                             " head_len, head_hash) VALUES (?, ?, ?, ?, ?, ?)"));
  for (const auto& [path, b] : bookmarks) {
    ins.Bind(1, path)
        .Bind(2, static_cast<int64_t>(b.inode))
        .Bind(3, static_cast<int64_t>(b.dev))
        .Bind(4, static_cast<int64_t>(b.offset))
        .Bind(5, static_cast<int64_t>(b.head_len))
        .BindBlob(6, b.head_hash);
    WARD_RETURN_IF_ERROR(ins.Run());
  }
  return tx->Commit();
}

Status BookmarkStore::RemoveFile(const std::string& path) {
  WARD_ASSIGN_OR_RETURN(auto del, db_->Prepare("DELETE FROM file_bookmarks WHERE path = ?"));
  del.Bind(1, path);
  return del.Run();
}

Result<std::optional<std::string>> BookmarkStore::LoadCursor(const std::string& name) {
  WARD_ASSIGN_OR_RETURN(auto q, db_->Prepare("SELECT cursor FROM cursors WHERE name = ?"));
  q.Bind(1, name);
  WARD_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(q.ColumnText(0));
}

Status BookmarkStore::SaveCursor(const std::string& name, const std::string& cursor) {
  WARD_ASSIGN_OR_RETURN(
      auto ins, db_->Prepare("INSERT OR REPLACE INTO cursors (name, cursor) VALUES (?, ?)"));
  ins.Bind(1, name).Bind(2, cursor);
  return ins.Run();
}

}  // namespace ward::agent::loginspect
