// BaselineStore: the integrity baseline in the agent's state database (SQLite, WAL), made
// tamper-evident with a per-agent key.
//
// Each row carries an HMAC-SHA-256 of its content under the agent's key (state_dir/keys/
// integrity.key, 0600), so an edited row is detected; the XOR of all row MACs, itself
// authenticated together with the row count, detects rows that were removed or added.
// Replace() swaps the whole baseline in one transaction: a crash mid-way leaves the old one.
// Thread-safety: not thread-safe; one user at a time (the module's own thread or a CLI command).
// Another process may read or write the same database concurrently (WAL, busy timeout).
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/modules/integrity/record.h"
#include "common/hash.h"
#include "common/sqlite.h"

namespace ward::agent::integrity {

struct LoadedBaseline {
  bool exists = false;                       // a baseline was ever recorded
  std::vector<std::string> roots;            // roots covered when it was recorded / extended
  std::map<std::string, FileRecord> records;  // only rows whose MAC verified
  std::vector<std::string> tampered_rows;    // paths whose row failed verification
  bool set_intact = true;                    // false: rows were removed or added behind our back
  int64_t recorded_at_ns = 0;
};

class BaselineStore {
 public:
  // Opens (creating) state_dir/state.db and the key (creating it on first use).
  static Result<std::unique_ptr<BaselineStore>> Open(const std::filesystem::path& state_dir);

  Result<LoadedBaseline> Load();
  // Replaces the whole baseline atomically.
  Status Replace(const std::vector<FileRecord>& records, const std::vector<std::string>& roots,
                 int64_t now_ns);
  // Upserts and deletes rows in one transaction; `add_roots` joins the recorded root list.
  Status Apply(const std::vector<FileRecord>& upserts, const std::vector<std::string>& deletes,
               const std::vector<std::string>& add_roots = {});

 private:
  BaselineStore(std::unique_ptr<SqliteDb> db, std::unique_ptr<HmacSha256> mac)
      : db_(std::move(db)), mac_(std::move(mac)) {}
  Sha256Digest RowMac(const FileRecord& r);
  Sha256Digest SetMac(const Sha256Digest& xor_of_rows, int64_t count,
                      const std::string& roots_json);
  Status WriteMeta(const Sha256Digest& agg, int64_t count, const std::string& roots_json);
  Result<std::string> ReadMeta(const std::string& key);

  std::unique_ptr<SqliteDb> db_;
  std::unique_ptr<HmacSha256> mac_;
};

// Loads state_dir/keys/<name>.key, creating 32 random bytes (0600, in a 0700 dir) if absent.
Result<std::vector<uint8_t>> LoadOrCreateKey(const std::filesystem::path& state_dir,
                                             std::string_view name);

}  // namespace ward::agent::integrity
