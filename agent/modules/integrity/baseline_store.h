// BaselineStore: the integrity baseline in the agent's state database (SQLite, WAL), made
// tamper-evident with a per-agent key.
//
// Each row carries an HMAC-SHA-256 of its content under the agent's key (state_dir/keys/
// integrity.key, 0600), so an edited row is detected; the XOR of all row MACs, itself
// authenticated together with the row count, detects rows that were removed or added.
// Replace() writes the new rows beside the old ones, then swaps them in with one short
// transaction: readers see the old baseline until then, and a crash mid-way leaves it. The old
// rows' pages stay in the file, free, for the next replacement to reuse: the database holds up to
// twice the baseline. Row MACs are computed on several threads (one HMAC context each).
// Thread-safety: not thread-safe; one user at a time (the module's own thread or a CLI command).
// Another process may read or write the same database concurrently (WAL, busy timeout).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/modules/integrity/record.h"
#include "common/hash.h"
#include "common/sqlite.h"

namespace ward::agent::integrity {

class BaselineStore;

// A Replace() built up in steps, for a caller that has most rows well before the last ones (a
// baseline scan, while it hashes its largest files): each Add() writes rows, MACs computed, to a
// new table of their own in a short transaction of its own, next to the stored baseline, which
// readers keep seeing; Commit() then swaps the new table in (with the summary) in one short
// transaction. Destroyed without Commit(), it drops its table and leaves the stored baseline as
// it was. Of two replacements writing at once, the one that started writing last wins; the
// other fails. The store must outlive it; same thread-safety as the store.
class BaselineReplacement {
 public:
  ~BaselineReplacement();
  BaselineReplacement(const BaselineReplacement&) = delete;
  BaselineReplacement& operator=(const BaselineReplacement&) = delete;

  // Paths must be unique over all calls. Fastest in path order. REQUIRES: not committed.
  Status Add(const std::vector<const FileRecord*>& rows);
  // REQUIRES: not committed.
  Status Commit(const std::vector<std::string>& roots, int64_t now_ns);

 private:
  friend class BaselineStore;
  BaselineReplacement(BaselineStore& store, std::string table)
      : store_(store), table_(std::move(table)) {}
  // Creates table_, dropping those of other replacements. REQUIRES: in a write transaction.
  Status CreateTable();
  BaselineStore& store_;
  std::string table_;  // where the rows go until Commit()
  bool created_ = false;
  Sha256Digest agg_{};  // XOR of the MACs of the rows added
  int64_t count_ = 0;
  bool committed_ = false;
};

struct LoadedBaseline {
  bool exists = false;                     // a baseline was ever recorded
  std::vector<std::string> roots;          // roots covered when it was recorded / extended
  RecordSet records;                       // only rows whose MAC verified
  std::vector<std::string> tampered_rows;  // paths whose row failed verification
  bool set_intact = true;                  // false: rows were removed or added behind our back
  int64_t recorded_at_ns = 0;
};

// Evidence kept outside state.db that a baseline existed (issue #13: deleting or truncating the
// database must not make the agent re-baseline silently). Stored as JSON with an HMAC under the
// agent key in state_dir/keys/integrity.anchor; see docs/integrity.md.
struct BaselineAnchor {
  int64_t count = 0;          // rows of the baseline when the anchor was written
  std::string aggregate_hex;  // XOR of the row MACs then (the baseline's digest)
  std::vector<std::string> roots;
  int64_t recorded_at_ns = 0;  // when that baseline was recorded
  int64_t saved_at_ns = 0;     // when the anchor (and the copy) were written
  std::string incident;        // non-empty: a baseline was lost or unreadable, not re-recorded
  int64_t incident_at_ns = 0;
};

// The stored baseline's authenticated summary, without reading its rows.
struct BaselineSummary {
  bool exists = false;
  int64_t count = 0;
  std::string aggregate_hex;
  int64_t recorded_at_ns = 0;
};

class BaselineStore {
 public:
  // Opens (creating) state_dir/state.db and the key (creating it on first use).
  static Result<std::unique_ptr<BaselineStore>> Open(const std::filesystem::path& state_dir);
  // The same for another database file (the copy), with state_dir's key.
  static Result<std::unique_ptr<BaselineStore>> OpenFile(const std::filesystem::path& state_dir,
                                                         const std::filesystem::path& db_file);

  Result<BaselineSummary> Summary();
  // Writes a consistent copy of the whole database to `file` (VACUUM INTO a temporary file,
  // fsync, rename), 0600.
  Status SaveCopy(const std::filesystem::path& file);
  // The anchor, MAC'd with the agent key; written atomically (temporary file, fsync, rename).
  Status WriteAnchor(const std::filesystem::path& file, const BaselineAnchor& anchor);
  // nullopt when the file does not exist; DataLoss when it is damaged or its MAC fails.
  Result<std::optional<BaselineAnchor>> ReadAnchor(const std::filesystem::path& file);

  // `rows`, when given, is called with each verified row in path order instead of the row going
  // into LoadedBaseline::records, which stays empty: for a caller that streams through them.
  Result<LoadedBaseline> Load(const std::function<void(FileRecord&&)>& rows = {});
  // Replaces the whole baseline atomically. Paths must be unique.
  Status Replace(const std::vector<FileRecord>& records, const std::vector<std::string>& roots,
                 int64_t now_ns);
  // The same from records held elsewhere, without a copy of them; fastest sorted by path.
  Status ReplaceRows(const std::vector<const FileRecord*>& rows,
                     const std::vector<std::string>& roots, int64_t now_ns);
  // The same in steps; see BaselineReplacement.
  Result<std::unique_ptr<BaselineReplacement>> BeginReplace();
  // Upserts and deletes rows in one transaction; `add_roots` joins the recorded root list.
  Status Apply(const std::vector<FileRecord>& upserts, const std::vector<std::string>& deletes,
               const std::vector<std::string>& add_roots = {});

 private:
  BaselineStore(std::unique_ptr<SqliteDb> db, std::vector<uint8_t> key,
                std::unique_ptr<HmacSha256> mac)
      : db_(std::move(db)), key_(std::move(key)), mac_(std::move(mac)) {}
  // The MACs of many rows, computed on several threads.
  Result<std::vector<Sha256Digest>> RowMacs(const std::vector<const FileRecord*>& rows);
  Sha256Digest RowMac(const FileRecord& r);
  Sha256Digest SetMac(const Sha256Digest& xor_of_rows, int64_t count,
                      const std::string& roots_json);
  Status WriteMeta(const Sha256Digest& agg, int64_t count, const std::string& roots_json);
  Result<std::string> ReadMeta(const std::string& key);

  friend class BaselineReplacement;
  std::unique_ptr<SqliteDb> db_;
  std::vector<uint8_t> key_;  // for the extra HMAC contexts of RowMacs()
  std::unique_ptr<HmacSha256> mac_;
};

// Loads state_dir/keys/<name>.key, creating 32 random bytes (0600, in a 0700 dir) if absent.
Result<std::vector<uint8_t>> LoadOrCreateKey(const std::filesystem::path& state_dir,
                                             std::string_view name);

}  // namespace ward::agent::integrity
