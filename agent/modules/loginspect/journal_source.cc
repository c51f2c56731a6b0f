#include "agent/modules/loginspect/journal_source.h"

#include <fmt/format.h>
#include <systemd/sd-journal.h>
#include <time.h>

#include <cstring>

namespace ward::agent::loginspect {
namespace {

Status FromSd(int rc, std::string_view call) {
  if (rc >= 0) return Status::Ok();
  return ErrnoStatus(-rc, std::string(call));
}

const std::string* Get(const std::map<std::string, std::string>& f, const char* name) {
  auto it = f.find(name);
  return it == f.end() || it->second.empty() ? nullptr : &it->second;
}

}  // namespace

std::string FormatJournalLine(const std::map<std::string, std::string>& fields,
                              int64_t realtime_us) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  time_t secs = static_cast<time_t>(realtime_us / 1000000);
  struct tm tm {};
  if (localtime_r(&secs, &tm) == nullptr || tm.tm_mon < 0 || tm.tm_mon > 11) {
    secs = 0;
    gmtime_r(&secs, &tm);
  }
  const std::string* host = Get(fields, "_HOSTNAME");
  const std::string* ident = Get(fields, "SYSLOG_IDENTIFIER");
  if (ident == nullptr) ident = Get(fields, "_COMM");
  const std::string* pid = Get(fields, "SYSLOG_PID");
  if (pid == nullptr) pid = Get(fields, "_PID");
  const std::string* msg = Get(fields, "MESSAGE");
  std::string line = fmt::format(
      "{} {:2d} {:02d}:{:02d}:{:02d} {} {}", kMonths[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min,
      tm.tm_sec, host ? *host : std::string("localhost"), ident ? *ident : std::string("journal"));
  if (pid != nullptr) line += fmt::format("[{}]", *pid);
  line += ": ";
  if (msg != nullptr) line += *msg;
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return line;
}

struct JournalSource::Handle {
  sd_journal* j = nullptr;
  ~Handle() {
    if (j != nullptr) sd_journal_close(j);
  }
};

JournalSource::~JournalSource() = default;

Result<std::unique_ptr<JournalSource>> JournalSource::Open(
    const JournaldSpec& spec, const std::optional<std::string>& cursor) {
  std::unique_ptr<JournalSource> s(new JournalSource());
  s->handle_ = std::make_unique<Handle>();
  int rc = spec.directory.empty()
               ? sd_journal_open(&s->handle_->j, SD_JOURNAL_LOCAL_ONLY)
               : sd_journal_open_directory(&s->handle_->j, spec.directory.c_str(), 0);
  WARD_RETURN_IF_ERROR(FromSd(
      rc, spec.directory.empty() ? std::string("sd_journal_open")
                                 : fmt::format("sd_journal_open_directory {}", spec.directory)));
  sd_journal* j = s->handle_->j;
  bool any = false;
  for (const auto& u : spec.units) {
    std::string m = "_SYSTEMD_UNIT=" + u;
    WARD_RETURN_IF_ERROR(FromSd(sd_journal_add_match(j, m.data(), m.size()), "add_match"));
    any = true;
  }
  if (any && !spec.identifiers.empty()) {
    WARD_RETURN_IF_ERROR(FromSd(sd_journal_add_disjunction(j), "add_disjunction"));
  }
  for (const auto& i : spec.identifiers) {
    std::string m = "SYSLOG_IDENTIFIER=" + i;
    WARD_RETURN_IF_ERROR(FromSd(sd_journal_add_match(j, m.data(), m.size()), "add_match"));
  }
  bool positioned = false;
  if (cursor && !cursor->empty() && sd_journal_seek_cursor(j, cursor->c_str()) >= 0) {
    // The cursor's own entry was handed out before: step past it.
    if (sd_journal_next(j) > 0 && sd_journal_test_cursor(j, cursor->c_str()) <= 0) {
      sd_journal_previous(j);
    }
    s->cursor_ = *cursor;
    positioned = true;
  }
  // No cursor, or one sd-journal cannot parse: the default start.
  if (!positioned && spec.directory.empty()) {
    WARD_RETURN_IF_ERROR(FromSd(sd_journal_seek_tail(j), "seek_tail"));
    // seek_tail positions after the last entry only once a step was taken.
    sd_journal_previous(j);
  } else if (!positioned) {
    WARD_RETURN_IF_ERROR(FromSd(sd_journal_seek_head(j), "seek_head"));
  }
  return s;
}

Result<bool> JournalSource::Poll(size_t budget, std::vector<JournalEntry>& out) {
  sd_journal* j = handle_->j;
  sd_journal_process(j);
  size_t taken = 0;
  while (taken < budget) {
    int rc = sd_journal_next(j);
    if (rc < 0) return ErrnoStatus(-rc, "sd_journal_next");
    if (rc == 0) return false;
    JournalEntry e;
    const void* data = nullptr;
    size_t len = 0;
    SD_JOURNAL_FOREACH_DATA(j, data, len) {
      std::string_view kv(static_cast<const char*>(data), len);
      size_t eq = kv.find('=');
      if (eq == std::string_view::npos) continue;
      e.fields.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
    }
    uint64_t usec = 0;
    sd_journal_get_realtime_usec(j, &usec);
    char* c = nullptr;
    if (sd_journal_get_cursor(j, &c) >= 0 && c != nullptr) {
      e.cursor = c;
      free(c);
    }
    e.line = FormatJournalLine(e.fields, static_cast<int64_t>(usec));
    cursor_ = e.cursor;
    ++entries_;
    ++taken;
    out.push_back(std::move(e));
  }
  return true;
}

}  // namespace ward::agent::loginspect
