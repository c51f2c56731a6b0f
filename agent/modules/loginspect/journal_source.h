// JournalSource: reads systemd's journal through sd-journal (libsystemd) and turns each entry
// into the syslog-style line the OSSEC/Wazuh decoders expect (docs/loginspect.md, "journald").
//
// Filters: entries of any of `units` (_SYSTEMD_UNIT) or any of `identifiers`
// (SYSLOG_IDENTIFIER); none given: every entry. The bookmark is the journal cursor of the last
// entry handed out; with no cursor, the system journal is read from its end (only new entries)
// and a journal `directory` (journal files copied or received from elsewhere) from its start.
// Thread-safety: not thread-safe; the module's run thread only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/modules/loginspect/config.h"
#include "common/status.h"

namespace ward::agent::loginspect {

struct JournalEntry {
  std::string line;                           // "Mmm dd HH:MM:SS host ident[pid]: message"
  std::string cursor;                         // the entry's journal cursor
  std::map<std::string, std::string> fields;  // every field of the entry (bytes as stored)
};

// The syslog line of an entry: `realtime_us` (microseconds since the epoch) in local time,
// _HOSTNAME (else "localhost"), SYSLOG_IDENTIFIER (else _COMM, else "journal"), SYSLOG_PID
// (else _PID) and MESSAGE. Total: any bytes in, a line out (no '\n': newlines in MESSAGE become
// spaces, so a decoder sees one line).
std::string FormatJournalLine(const std::map<std::string, std::string>& fields,
                              int64_t realtime_us);

class JournalSource {
 public:
  // Opens the journal (the system's, or spec.directory) and positions it after `cursor`.
  static Result<std::unique_ptr<JournalSource>> Open(const JournaldSpec& spec,
                                                     const std::optional<std::string>& cursor);
  ~JournalSource();
  JournalSource(const JournalSource&) = delete;
  JournalSource& operator=(const JournalSource&) = delete;

  // Up to `budget` new entries; true when more are ready right away.
  Result<bool> Poll(size_t budget, std::vector<JournalEntry>& out);
  // The cursor of the last entry handed out ("" before the first).
  const std::string& cursor() const { return cursor_; }
  uint64_t entries() const { return entries_; }

 private:
  JournalSource() = default;
  struct Handle;
  std::unique_ptr<Handle> handle_;
  std::string cursor_;
  uint64_t entries_ = 0;
};

}  // namespace ward::agent::loginspect
