// FileSource: tails the log files one policy entry names (a path, or a glob in the file name),
// following rotation, and hands out complete records with where they came from
// (docs/loginspect.md, "File source").
//
// - Rotation by rename and re-creation: when the path names another inode, the old file is read
//   to its end through the descriptor still open, then the new one from its start.
// - Copy-truncate: when the file is shorter than what was read (or its first bytes changed), the
//   copy beside it (same first bytes, at least as long) is read from where reading stopped, then
//   the truncated file from its start.
// - Bookmarks: Bookmarks() says, per path, {inode, offset, hash of the first bytes} of the next
//   record not yet handed out; Restore() resumes there, also when the file was rotated while the
//   agent was down (the bookmarked inode or first bytes are looked for among the path's siblings).
// - Compressed files (by name: .gz .bz2 .xz .zst .lz4 .zip .Z, or by magic bytes) are never read.
// - A file first seen at the source's first poll, with no bookmark, is read from its end when
//   `from_end_at_start` (Wazuh's only-future-events); files that appear later, from their start.
// - max_backlog > 0: when more than that is unread in a file, the oldest part is skipped; the
//   skipped bytes are counted (dropped_bytes) and reported once per occurrence (TakeNotices).
// Poll() reads at most about `budget` records per call: the caller processes them before it
// polls again, so a burst slows reading down instead of filling memory (back-pressure).
// Thread-safety: not thread-safe; the module's run thread only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/modules/loginspect/bookmark_store.h"
#include "agent/modules/loginspect/config.h"
#include "agent/modules/loginspect/line_splitter.h"

namespace ward::agent::loginspect {

// How many of a file's first bytes identify it (bookmark head hash).
inline constexpr uint64_t kHeadBytes = 1024;

struct SourceLine {
  std::string text;
  bool truncated = false;
  std::string path;     // the watched path (not the rotated name it was read from)
  uint64_t offset = 0;  // where the record started in the file it was read from
};

struct FileSourceCounters {
  uint64_t lines = 0;
  uint64_t bytes = 0;
  uint64_t truncated = 0;
  uint64_t dropped_bytes = 0;
  uint64_t rotations = 0;
  uint64_t truncations = 0;
};

class FileSource {
 public:
  FileSource(FileSpec spec, uint64_t max_backlog, bool from_end_at_start);
  ~FileSource();
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  const FileSpec& spec() const { return spec_; }

  // Bookmarks loaded from the state database, applied when each path is first opened.
  void Restore(std::map<std::string, FileBookmark> bookmarks);
  // Reads what is new; returns true when more is ready to read right away.
  // `quiet` says the caller's wait passed without new data: pending multi-line records are
  // complete.
  bool Poll(size_t budget, std::vector<SourceLine>& out, bool quiet = false);
  // Where each path stands after the records handed out so far.
  std::map<std::string, FileBookmark> Bookmarks() const;
  // Human-readable notes of what happened (rotation seen, bytes dropped, file unreadable).
  std::vector<std::string> TakeNotices();
  // Paths currently tailed (for the watcher).
  std::vector<std::string> Paths() const;
  const FileSourceCounters& counters() const { return counters_; }

 private:
  struct Reader;
  struct Tail;
  void Discover();
  void OpenTail(Tail& t);
  bool ReadTail(Tail& t, size_t budget, std::vector<SourceLine>& out, bool quiet);
  bool ReadFrom(Reader& r, Tail& t, size_t budget, std::vector<SourceLine>& out);
  // `join`: lines go through the multi-line joiner (false: they are whole records already).
  void Emit(Tail& t, std::vector<Line>& lines, std::vector<SourceLine>& out, bool join = true);
  void CheckRotation(Tail& t);
  // A file read to its end (a rotated one): a glob that matches its new name starts there.
  void Remember(const Reader& r);
  std::unique_ptr<Reader> FindSibling(const std::string& path, const FileBookmark& want,
                                      bool match_inode);

  FileSpec spec_;
  uint64_t max_backlog_;
  bool from_end_at_start_;
  bool first_poll_ = true;
  std::map<std::string, FileBookmark> restored_;
  std::map<std::string, std::unique_ptr<Tail>> tails_;
  std::vector<std::string> notices_;
  std::vector<FileBookmark> finished_;  // the last files read to their end (inode, dev, offset)
  FileSourceCounters counters_;
};

// True for names of compressed files (.gz .bz2 .xz .zst .lz4 .zip .Z).
bool IsCompressedName(const std::string& name);
// True when the bytes start with a gzip, bzip2, xz, zstd, lz4 or zip magic number.
bool HasCompressedMagic(std::string_view head);

}  // namespace ward::agent::loginspect
