#include "agent/updates/cdiff.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <vector>

namespace ward::updates::cdiff {
namespace {

constexpr std::string_view kVdbMagic = "ClamAV-VDB:";
constexpr std::string_view kDiffMagic = "ClamAV-Diff:";
constexpr size_t kBlock = 512;
constexpr size_t kMaxNameBytes = 99;  // a ustar name field without the terminating NUL

bool EndsWith(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i]) {
      return false;
    }
  }
  return true;
}

// One path component of [A-Za-z0-9._-], not starting with '.' or '-', without "..".
Status CheckDbName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) {
    return InvalidArgument(
        fmt::format("database name of {} bytes (1-{})", name.size(), kMaxNameBytes));
  }
  if (name.front() == '.' || name.front() == '-' || name.find("..") != std::string_view::npos) {
    return InvalidArgument("a database name may not start with '.' or '-' nor hold '..'");
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return InvalidArgument("a database name is one component of [A-Za-z0-9._-]");
  }
  return Status::Ok();
}

// Inflates a gzip stream from the start of `in`; `consumed` is set to the bytes the stream took.
Result<std::string> Gunzip(std::string_view in, uint64_t limit, size_t* consumed) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return Internal("inflateInit2 failed");
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(std::min<size_t>(in.size(), UINT32_MAX));
  char buf[65536];
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out.append(buf, sizeof buf - z.avail_out);
    if (out.size() > limit) {
      inflateEnd(&z);
      return InvalidArgument(fmt::format("gzip data inflates to more than {} bytes", limit));
    }
    if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
      rc = Z_BUF_ERROR;  // input ended inside the stream
      break;
    }
  }
  const size_t used = in.size() - z.avail_in;
  inflateEnd(&z);
  if (rc != Z_STREAM_END) return InvalidArgument("truncated or corrupt gzip data");
  if (consumed != nullptr) *consumed = used;
  return out;
}

std::string Gzip(std::string_view in) {
  z_stream z{};
  // windowBits 15 + 16: a gzip wrapper with a zero time stamp, so the output is deterministic.
  deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, in.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// A tar numeric field: octal digits, leading spaces allowed, ended by NUL or space.
bool ParseOctal(std::string_view field, uint64_t* value) {
  size_t i = 0;
  while (i < field.size() && field[i] == ' ') ++i;
  uint64_t v = 0;
  size_t digits = 0;
  for (; i < field.size() && field[i] >= '0' && field[i] <= '7'; ++i, ++digits) {
    if (v > (uint64_t{1} << 60)) return false;
    v = v * 8 + static_cast<uint64_t>(field[i] - '0');
  }
  if (digits == 0) return false;
  for (; i < field.size(); ++i) {
    if (field[i] != '\0' && field[i] != ' ') return false;
  }
  *value = v;
  return true;
}

void PutOctal(char* field, size_t width, uint64_t value) {
  // width - 1 digits, then NUL.
  for (size_t i = width - 1; i-- > 0;) {
    field[i] = static_cast<char>('0' + (value & 7));
    value >>= 3;
  }
  field[width - 1] = '\0';
}

// Lines of a file as fgets reads them: every piece ends with '\n' but perhaps the last.
std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
    out.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  return out;
}

std::string_view Chomp(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  return line;
}

// freshclam's cdiff_token: the token-th space-separated word, or (last) everything from it on.
std::optional<std::string_view> Token(std::string_view line, unsigned token, bool last) {
  size_t i = 0;
  for (unsigned counter = 0; i < line.size() && counter != token; ++i) {
    if (line[i] == ' ') ++counter;
  }
  if (i >= line.size()) return std::nullopt;
  if (last) return line.substr(i);
  size_t j = line.find(' ', i);
  if (j == std::string_view::npos) j = line.size();
  if (i == j) return std::nullopt;
  return line.substr(i, j - i);
}

std::optional<uint64_t> LineNumber(std::string_view s) {
  if (s.empty() || s.size() > 12) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v == 0) return std::nullopt;
  return v;
}

struct Edit {
  std::string prefix;
  bool del = true;
  std::string replacement;  // XCHG
};

struct Interpreter {
  Interpreter(std::map<std::string, std::string>& f, uint64_t l) : files(f), limit(l) {}
  std::map<std::string, std::string>& files;
  uint64_t limit;
  uint64_t total = 0;
  std::optional<std::string> open;
  std::vector<std::string> adds;
  std::map<uint64_t, Edit> edits;

  Status Fail(size_t lineno, std::string_view what) const {
    return InvalidArgument(fmt::format("cdiff line {}: {}", lineno, what));
  }

  Status Close(size_t lineno) {
    if (!open) return Fail(lineno, "CLOSE with no database open");
    auto it = files.find(*open);
    if (!edits.empty()) {
      if (it == files.end()) return Fail(lineno, fmt::format("no database {} to edit", *open));
      std::string out;
      out.reserve(it->second.size());
      uint64_t n = 0;
      auto e = edits.begin();
      for (std::string_view l : Lines(it->second)) {
        ++n;
        if (e != edits.end() && e->first == n) {
          if (!l.starts_with(e->second.prefix)) {
            return Fail(lineno, fmt::format("can't apply {} at line {} of {}",
                                            e->second.del ? "DEL" : "XCHG", n, *open));
          }
          if (!e->second.del) {
            out += e->second.replacement;
            out += '\n';
          }
          ++e;
          continue;
        }
        out += l;
      }
      if (e != edits.end()) {
        return Fail(lineno, fmt::format("line {} of {} does not exist", e->first, *open));
      }
      total -= it->second.size();
      it->second = std::move(out);
      total += it->second.size();
    }
    if (!adds.empty()) {
      if (it == files.end()) {
        if (files.size() >= kMaxFiles) return Fail(lineno, "too many database files");
        it = files.emplace(*open, std::string()).first;
      }
      for (const auto& a : adds) {
        it->second += a;
        it->second += '\n';
        total += a.size() + 1;
      }
    }
    if (total > limit) return Fail(lineno, fmt::format("database larger than {} bytes", limit));
    open.reset();
    adds.clear();
    edits.clear();
    return Status::Ok();
  }

  Status Move(size_t lineno, std::string_view line) {
    if (open) return Fail(lineno, fmt::format("MOVE while {} is open", *open));
    auto src = Token(line, 1, false), dst = Token(line, 2, false);
    auto start = Token(line, 3, false), start_prefix = Token(line, 4, false);
    auto end = Token(line, 5, false), end_prefix = Token(line, 6, false);
    if (!src || !dst || !start || !start_prefix || !end || !end_prefix) {
      return Fail(lineno, "MOVE needs src dst start first-bytes end first-bytes");
    }
    WARD_RETURN_IF_ERROR(CheckDbName(*src).WithContext(fmt::format("cdiff line {}", lineno)));
    WARD_RETURN_IF_ERROR(CheckDbName(*dst).WithContext(fmt::format("cdiff line {}", lineno)));
    auto first = LineNumber(*start), last = LineNumber(*end);
    if (!first || !last || *last < *first) return Fail(lineno, "MOVE: bad line numbers");
    if (*src == *dst) return Fail(lineno, "MOVE within one database");
    auto s = files.find(std::string(*src));
    if (s == files.end()) return Fail(lineno, fmt::format("no database {} to move from", *src));
    std::vector<std::string_view> lines = Lines(s->second);
    if (*last > lines.size()) return Fail(lineno, "MOVE past the end of the database");
    if (!lines[*first - 1].starts_with(*start_prefix) ||
        !lines[*last - 1].starts_with(*end_prefix)) {
      return Fail(lineno, "can't apply MOVE: the lines differ");
    }
    std::string moved, kept;
    for (size_t i = 0; i < lines.size(); ++i) {
      (i + 1 >= *first && i + 1 <= *last ? moved : kept) += lines[i];
    }
    auto d = files.find(std::string(*dst));
    if (d == files.end()) {
      if (files.size() >= kMaxFiles) return Fail(lineno, "too many database files");
      d = files.emplace(std::string(*dst), std::string()).first;
    }
    d->second += moved;
    s->second = std::move(kept);
    return Status::Ok();
  }

  Status Run(std::string_view script) {
    for (const auto& [name, content] : files) total += content.size();
    size_t lineno = 0;
    for (std::string_view raw : Lines(script)) {
      ++lineno;
      std::string_view line = Chomp(raw);
      if (line.empty() || line.front() == '#') continue;
      std::string_view cmd = line.substr(0, line.find(' '));
      if (cmd == "OPEN") {
        auto name = Token(line, 1, true);
        if (!name) return Fail(lineno, "OPEN needs a database name");
        if (open) return Fail(lineno, fmt::format("{} not closed before OPEN", *open));
        WARD_RETURN_IF_ERROR(CheckDbName(*name).WithContext(fmt::format("cdiff line {}", lineno)));
        open = std::string(*name);
      } else if (cmd == "ADD") {
        auto sig = Token(line, 1, true);
        if (!sig) return Fail(lineno, "ADD needs a line");
        if (!open) return Fail(lineno, "ADD with no database open");
        adds.emplace_back(*sig);
        if (adds.size() + total > limit) return Fail(lineno, "too many lines added");
      } else if (cmd == "DEL" || cmd == "XCHG") {
        const bool del = cmd == "DEL";
        if (!open) return Fail(lineno, fmt::format("{} with no database open", cmd));
        auto n = Token(line, 1, false);
        auto prefix = Token(line, 2, del);
        auto replacement = del ? std::optional<std::string_view>("") : Token(line, 3, true);
        auto number = n ? LineNumber(*n) : std::nullopt;
        if (!number || !prefix || !replacement) {
          return Fail(lineno, del ? "DEL needs a line number and its first bytes"
                                  : "XCHG needs a line number, its first bytes and a new line");
        }
        if (edits.size() >= (uint64_t{1} << 24)) return Fail(lineno, "too many edits");
        if (!edits.emplace(*number, Edit{std::string(*prefix), del, std::string(*replacement)})
                 .second) {
          return Fail(lineno, fmt::format("line {} edited twice", *number));
        }
      } else if (cmd == "CLOSE") {
        WARD_RETURN_IF_ERROR(Close(lineno));
      } else if (cmd == "MOVE") {
        WARD_RETURN_IF_ERROR(Move(lineno, line));
      } else if (cmd == "UNLINK") {
        auto name = Token(line, 1, true);
        if (!name) return Fail(lineno, "UNLINK needs a database name");
        if (open) return Fail(lineno, fmt::format("UNLINK while {} is open", *open));
        WARD_RETURN_IF_ERROR(CheckDbName(*name).WithContext(fmt::format("cdiff line {}", lineno)));
        auto it = files.find(std::string(*name));
        if (it == files.end()) return Fail(lineno, fmt::format("no database {} to unlink", *name));
        total -= it->second.size();
        files.erase(it);
      } else {
        return Fail(lineno, fmt::format("unknown command '{}'", cmd.substr(0, 32)));
      }
    }
    if (open) return InvalidArgument(fmt::format("cdiff: {} was not closed", *open));
    return Status::Ok();
  }
};

// Whether `line` (without its newline) can be written by ADD / XCHG: non-empty, no CR at its end
// (the interpreter strips it), no newline.
bool Addable(std::string_view line) {
  return !line.empty() && line.back() != '\r' && line.find('\n') == std::string_view::npos;
}

// The first bytes of `line` that DEL (rest of line) / XCHG (one word) can name, or "".
std::string_view DelPrefix(std::string_view line) {
  return Chomp(line.substr(0, std::min<size_t>(line.size(), 32)));
}
std::string_view XchgPrefix(std::string_view line) {
  line = line.substr(0, std::min<size_t>(line.size(), 32));
  return line.substr(0, line.find(' '));
}

// Script for one file present on both sides; "" when it is better or only possible to rewrite.
std::optional<std::string> EditScript(const std::string& name, std::string_view from,
                                      std::string_view to) {
  if (!from.empty() && from.back() != '\n') return std::nullopt;
  std::vector<std::string_view> old_lines = Lines(from), new_lines = Lines(to);
  for (auto& l : old_lines) l.remove_suffix(1);
  for (auto& l : new_lines) l = l.back() == '\n' ? l.substr(0, l.size() - 1) : l;
  std::unordered_map<std::string_view, std::vector<size_t>> where;
  for (size_t i = 0; i < old_lines.size(); ++i) where[old_lines[i]].push_back(i);
  std::string body;
  size_t i = 0, j = 0;
  for (; j < new_lines.size(); ++j) {
    auto w = where.find(new_lines[j]);
    if (w != where.end()) {
      auto p = std::lower_bound(w->second.begin(), w->second.end(), i);
      if (p != w->second.end()) {
        for (; i < *p; ++i) {
          std::string_view pre = DelPrefix(old_lines[i]);
          if (pre.empty()) return std::nullopt;
          body += fmt::format("DEL {} {}\n", i + 1, pre);
        }
        ++i;
        continue;
      }
    }
    // Not found further on: exchange the next old line for it when possible.
    if (i < old_lines.size() && Addable(new_lines[j]) && !XchgPrefix(old_lines[i]).empty()) {
      body += fmt::format("XCHG {} {} {}\n", i + 1, XchgPrefix(old_lines[i]), new_lines[j]);
      ++i;
      continue;
    }
    break;
  }
  for (; i < old_lines.size(); ++i) {
    std::string_view pre = DelPrefix(old_lines[i]);
    if (pre.empty()) return std::nullopt;
    body += fmt::format("DEL {} {}\n", i + 1, pre);
  }
  for (; j < new_lines.size(); ++j) {
    if (!Addable(new_lines[j])) return std::nullopt;
    body += fmt::format("ADD {}\n", new_lines[j]);
  }
  return fmt::format("OPEN {}\n{}CLOSE\n", name, body);
}

std::optional<std::string> CreateScript(const std::string& name, std::string_view to) {
  if (to.empty()) return std::nullopt;
  std::string body;
  for (std::string_view l : Lines(to)) {
    if (l.back() != '\n') return std::nullopt;
    l.remove_suffix(1);
    if (!Addable(l)) return std::nullopt;
    body += fmt::format("ADD {}\n", l);
  }
  return fmt::format("OPEN {}\n{}CLOSE\n", name, body);
}

}  // namespace

Result<Database> ReadDatabase(std::string_view bytes, uint64_t limit) {
  if (bytes.size() < kHeaderBytes || !bytes.starts_with(kVdbMagic)) {
    return InvalidArgument("not a ClamAV database container (no ClamAV-VDB header)");
  }
  Database db;
  db.header = std::string(bytes.substr(0, kHeaderBytes));
  std::string_view body = bytes.substr(kHeaderBytes);
  std::string inflated;
  if (body.size() >= 2 && static_cast<unsigned char>(body[0]) == 0x1f &&
      static_cast<unsigned char>(body[1]) == 0x8b) {
    WARD_ASSIGN_OR_RETURN(inflated, Gunzip(body, limit, nullptr));
    body = inflated;
  }
  if (body.size() > limit) return InvalidArgument("database larger than the limit");
  size_t pos = 0;
  while (pos + kBlock <= body.size()) {
    std::string_view h = body.substr(pos, kBlock);
    if (h.find_first_not_of('\0') == std::string_view::npos) break;  // end of archive
    std::string_view name = h.substr(0, 100);
    name = name.substr(0, name.find('\0'));
    if (h[345] != '\0') return InvalidArgument("tar entry with a name prefix");
    const std::string where = fmt::format("tar entry {}", db.files.size() + 1);
    if (Status s = CheckDbName(name); !s.ok()) return s.WithContext(where);
    if (h[156] != '0' && h[156] != '\0') {
      return InvalidArgument(fmt::format("{} ({}): not a regular file", where, name));
    }
    uint64_t size = 0;
    if (!ParseOctal(h.substr(124, 12), &size)) {
      return InvalidArgument(fmt::format("{} ({}): bad size field", where, name));
    }
    pos += kBlock;
    if (size > body.size() - pos) {
      return InvalidArgument(fmt::format("{} ({}): truncated", where, name));
    }
    if (db.files.size() >= kMaxFiles) return InvalidArgument("too many files in the archive");
    if (!db.files.emplace(std::string(name), std::string(body.substr(pos, size))).second) {
      return InvalidArgument(fmt::format("{} ({}): twice in the archive", where, name));
    }
    pos += (size + kBlock - 1) / kBlock * kBlock;
  }
  if (pos > body.size() || (pos + kBlock > body.size() && pos != body.size())) {
    return InvalidArgument("truncated tar archive");
  }
  return db;
}

Result<std::string> WriteCanonical(const std::map<std::string, std::string>& files) {
  const std::string* info_name = nullptr;
  for (const auto& [name, content] : files) {
    if (EndsWith(name, ".info")) {
      if (info_name != nullptr) return InvalidArgument("two .info files");
      info_name = &name;
    }
  }
  if (info_name == nullptr) return InvalidArgument("no .info file (its first line is the header)");
  std::string_view info = files.at(*info_name);
  std::string_view first = info.substr(0, info.find('\n'));
  if (!first.starts_with(kVdbMagic) || first.size() > kHeaderBytes) {
    return InvalidArgument(fmt::format("{}: first line is not a ClamAV-VDB header", *info_name));
  }
  std::string out(first);
  out.resize(kHeaderBytes, ' ');
  auto entry = [&](const std::string& name, const std::string& content) -> Status {
    WARD_RETURN_IF_ERROR(CheckDbName(name));
    char h[kBlock] = {};
    std::memcpy(h, name.data(), name.size());
    PutOctal(h + 100, 8, 0644);
    PutOctal(h + 108, 8, 0);
    PutOctal(h + 116, 8, 0);
    PutOctal(h + 124, 12, content.size());
    PutOctal(h + 136, 12, 0);
    h[156] = '0';
    std::memcpy(h + 257, "ustar", 6);
    std::memcpy(h + 263, "00", 2);
    std::memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (char c : h) sum += static_cast<unsigned char>(c);
    PutOctal(h + 148, 7, sum);
    h[155] = ' ';
    out.append(h, kBlock);
    out += content;
    out.resize((out.size() + kBlock - 1) / kBlock * kBlock, '\0');
    return Status::Ok();
  };
  WARD_RETURN_IF_ERROR(entry(*info_name, files.at(*info_name)));
  for (const auto& [name, content] : files) {
    if (&name != info_name) WARD_RETURN_IF_ERROR(entry(name, content));
  }
  out.resize(out.size() + 2 * kBlock, '\0');
  return out;
}

Result<std::string> ScriptOf(std::string_view bytes, uint64_t limit) {
  if (!bytes.starts_with(kDiffMagic)) {
    if (bytes.size() > limit) return InvalidArgument("script larger than the limit");
    return std::string(bytes);
  }
  // "ClamAV-Diff:<version>:<script bytes>:"
  std::string_view rest = bytes.substr(kDiffMagic.size());
  uint64_t fields[2] = {0, 0};
  for (uint64_t& f : fields) {
    size_t colon = rest.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 12) {
      return InvalidArgument("cdiff: bad header");
    }
    for (char c : rest.substr(0, colon)) {
      if (c < '0' || c > '9') return InvalidArgument("cdiff: bad header");
      f = f * 10 + static_cast<uint64_t>(c - '0');
    }
    rest.remove_prefix(colon + 1);
  }
  if (fields[1] > limit) return InvalidArgument("cdiff: script larger than the limit");
  size_t used = 0;
  WARD_ASSIGN_OR_RETURN(std::string script, Gunzip(rest, fields[1], &used));
  if (script.size() != fields[1]) {
    return InvalidArgument(
        fmt::format("cdiff: {} script bytes where the header says {}", script.size(), fields[1]));
  }
  std::string_view tail = rest.substr(used);
  if (!tail.empty()) {
    // The publisher's signature (":<base64-ish>"), not checked here (see the header).
    if (tail.front() != ':' || tail.size() > 1024) return InvalidArgument("cdiff: trailing data");
  }
  return script;
}

Status ApplyScript(std::string_view script, std::map<std::string, std::string>& files,
                   uint64_t limit) {
  Interpreter in{files, limit};
  return in.Run(script);
}

Result<std::string> MakeScript(const std::map<std::string, std::string>& from,
                               const std::map<std::string, std::string>& to) {
  std::string script;
  for (const auto& [name, content] : from) {
    if (!to.contains(name)) script += fmt::format("UNLINK {}\n", name);
  }
  for (const auto& [name, content] : to) {
    if (Status s = CheckDbName(name); !s.ok()) return FailedPrecondition(s.message());
    auto f = from.find(name);
    if (f != from.end() && f->second == content) continue;
    std::optional<std::string> create = CreateScript(name, content);
    std::optional<std::string> edit;
    if (f != from.end()) edit = EditScript(name, f->second, content);
    if (edit && (!create || edit->size() <= create->size() + name.size() + 8)) {
      script += *edit;
    } else if (create) {
      if (f != from.end()) script += fmt::format("UNLINK {}\n", name);
      script += *create;
    } else {
      return FailedPrecondition(fmt::format("{} cannot be written by a cdiff script", name));
    }
  }
  // What the script does is checked: it must turn `from` into `to`.
  std::map<std::string, std::string> check = from;
  if (Status s = ApplyScript(script, check); !s.ok() || check != to) {
    return FailedPrecondition("the script made does not reproduce the new database");
  }
  return script;
}

std::string WriteCdiff(std::string_view script, int64_t version) {
  return fmt::format("ClamAV-Diff:{}:{}:", version, script.size()) + Gzip(script);
}

int64_t HeaderVersion(std::string_view header) {
  if (!header.starts_with(kVdbMagic)) return 0;
  std::string_view rest = header.substr(kVdbMagic.size());
  size_t c1 = rest.find(':');
  if (c1 == std::string_view::npos) return 0;
  rest.remove_prefix(c1 + 1);
  int64_t v = 0;
  size_t i = 0;
  for (; i < rest.size() && i < 12 && rest[i] >= '0' && rest[i] <= '9'; ++i) {
    v = v * 10 + (rest[i] - '0');
  }
  return i > 0 && i < rest.size() && rest[i] == ':' ? v : 0;
}

bool IsRewritableContainer(std::string_view name) {
  return EndsWith(name, ".cld") || EndsWith(name, ".cud");
}

bool IsContainer(std::string_view name) {
  return IsRewritableContainer(name) || EndsWith(name, ".cvd");
}

}  // namespace ward::updates::cdiff
