// Logging: spdlog to stderr. Log where a decision is made, not where an error is born.
// Under systemd (stderr connected to the journal, $JOURNAL_STREAM) each line starts with its
// syslog priority ("<3>error ...", sd-daemon(3)) instead of a timestamp the journal adds itself,
// so `journalctl -p warning` filters by level. docs/packaging.md, "Logs".
#pragma once

#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <string_view>

namespace ward {
// Sets up the default logger ("info", "debug", "warn", ...). Safe to call more than once.
void InitLogging(std::string_view level);

// Whether file descriptor fd is the journal's stream ($JOURNAL_STREAM names its device:inode).
bool IsJournalStream(int fd);

// The line format: journal = "<priority>level message", else "timestamp level message".
std::unique_ptr<spdlog::formatter> MakeLogFormatter(bool journal);
}  // namespace ward
