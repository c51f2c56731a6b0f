// ClamAV database containers and .cdiff incremental updates (docs/updates.md, "Incremental
// ClamAV updates"), without libclamav, so that the manager (which links no engine) and the agent
// share one implementation.
//
// A container (.cvd/.cld/.cud) is a 512-byte text header ("ClamAV-VDB:...") followed by a tar
// archive, gzip-compressed or not, of the database files (daily.info first, daily.ndb, ...).
// A cdiff is the script of edits freshclam applies to such a database once unpacked: OPEN db,
// ADD line, DEL n first-bytes, XCHG n first-bytes new-line, MOVE src dst n first n first, CLOSE,
// UNLINK db, '#' comments. It comes plain (a `.script`, what `sigtool --diff` writes) or as a
// .cdiff container: "ClamAV-Diff:<version>:<script bytes>:" + gzip(script) [+ ":" + signature].
// The container's RSA signature (Talos's) is not checked here: Ward's cdiffs travel inside a
// bundle whose Ed25519-signed manifest pins their SHA-256, and the result of applying one is
// checked against the SHA-256 the manifest gives for the whole file.
//
// Everything here reads hostile bytes. Nothing touches the file system: the database is edited
// in memory, so a script cannot name a path outside it (a database name is one component of
// [A-Za-z0-9._-], as freshclam's interpreter also requires); sizes are bounded (limits below);
// errors name the command's line. Nothing throws.
//
// Canonical form: WriteCanonical() writes a container deterministically from its files (the
// header is the first line of the .info file, padded with spaces to 512 bytes as freshclam's own
// CLD builder does; then an uncompressed ustar archive with the .info file first, the others in
// name order, every mode/owner/time field fixed). The manager publishes .cld/.cud files in this
// form, so an agent that applies a cdiff and writes the canonical form gets the very bytes the
// manifest names.
// Thread-safety: pure functions and plain values.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ward::updates::cdiff {

inline constexpr size_t kHeaderBytes = 512;
// Largest database (all files, uncompressed) and largest script read.
inline constexpr uint64_t kMaxDatabaseBytes = uint64_t{2} << 30;
inline constexpr uint64_t kMaxScriptBytes = uint64_t{512} << 20;
inline constexpr size_t kMaxFiles = 4096;

struct Database {
  std::string header;                        // the 512-byte header as read
  std::map<std::string, std::string> files;  // name -> content
};

// Parses a .cvd/.cld/.cud container (header + tar or tar.gz). `limit` bounds the uncompressed
// size. Errors (kInvalidArgument) say what is wrong: header, gzip, tar entry, name.
Result<Database> ReadDatabase(std::string_view bytes, uint64_t limit = kMaxDatabaseBytes);
// The canonical container of `files` (see above). kInvalidArgument when there is no .info file
// (its first line is the header) or a name does not fit a tar header.
Result<std::string> WriteCanonical(const std::map<std::string, std::string>& files);

// The script of a .cdiff container, or `bytes` itself when it is a plain script.
Result<std::string> ScriptOf(std::string_view bytes, uint64_t limit = kMaxScriptBytes);
// Applies a script (plain text) to `files` in memory, as freshclam's interpreter would to a
// directory. Errors (kInvalidArgument) name the script's line and what did not apply; `files` is
// then unspecified (apply to a copy).
Status ApplyScript(std::string_view script, std::map<std::string, std::string>& files,
                   uint64_t limit = kMaxDatabaseBytes);
// A script that turns `from` into `to` (lines deleted from a file are DEL, lines added are ADD at
// its end; a file that cannot be expressed so is rewritten: UNLINK, then OPEN/ADD.../CLOSE).
// kFailedPrecondition when some file of `to` cannot be written by a script (non-empty without a
// final newline, a line the interpreter would read differently).
Result<std::string> MakeScript(const std::map<std::string, std::string>& from,
                               const std::map<std::string, std::string>& to);
// A .cdiff container (no signature part) holding `script` for database version `version`.
std::string WriteCdiff(std::string_view script, int64_t version);

// The version number in a container's header ("ClamAV-VDB:<date>:<version>:..."), or 0.
int64_t HeaderVersion(std::string_view header);
// True for names of containers whose canonical form the manager publishes (.cld, .cud): their
// bytes carry no signature of their own (a .cvd's header does, so it is never rewritten).
bool IsRewritableContainer(std::string_view name);
// True for .cvd/.cld/.cud.
bool IsContainer(std::string_view name);

}  // namespace ward::updates::cdiff
