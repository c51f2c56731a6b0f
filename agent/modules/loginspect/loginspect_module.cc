#include "agent/modules/loginspect/loginspect_module.h"

#include <fmt/format.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "agent/core/health.h"
#include "agent/core/watch/path_filter.h"
#include "agent/core/watch/watcher.h"
#include "agent/modules/loginspect/bookmark_store.h"
#include "agent/modules/loginspect/config.h"
#include "agent/modules/loginspect/file_source.h"
#include "agent/modules/loginspect/journal_source.h"
#include "agent/modules/loginspect/ruleset.h"
#include "common/log.h"

#ifndef WARD_INSTALL_DATADIR
#define WARD_INSTALL_DATADIR "/usr/share"
#endif

namespace ward::agent::loginspect {

std::filesystem::path DefaultRulesetDir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto dir = exe.parent_path().parent_path() / "share" / "ward" / "loginspect";
    if (std::filesystem::is_directory(dir / "rules", ec)) return dir;
  }
  return std::filesystem::path(WARD_INSTALL_DATADIR) / "ward" / "loginspect";
}

Severity SeverityOfLevel(int level) {
  if (level >= 13) return Severity::kCritical;
  if (level >= 10) return Severity::kHigh;
  if (level >= 7) return Severity::kMedium;
  if (level >= 4) return Severity::kLow;
  return Severity::kInfo;
}

namespace {

constexpr size_t kBatch = 1000;
constexpr const char* kJournalCursor = "journal";

Compat CompatOf(const LoginspectConfig& c) {
  Compat out = Compat::kWazuh;
  ParseCompat(c.compat, &out);  // validated by ParseLoginspectConfig
  return out;
}

struct Loaded {
  LoginspectConfig config;
  std::shared_ptr<const Ruleset> ruleset;
};

Result<std::shared_ptr<const Ruleset>> LoadRuleset(const LoginspectConfig& c) {
  RulesetConfig rc;
  if (c.default_ruleset) {
    auto dir = DefaultRulesetDir();
    std::error_code ec;
    if (!std::filesystem::is_directory(dir / "rules", ec)) {
      return NotFound(fmt::format("Ward's default ruleset is not installed at {}", dir.string()));
    }
    rc.decoder_dirs.push_back(dir / "decoders");
    rc.rule_dirs.push_back(dir / "rules");
    rc.lists_dir = dir / "lists";
  }
  for (const auto& d : c.decoder_dirs) rc.decoder_dirs.emplace_back(d);
  for (const auto& d : c.rule_dirs) rc.rule_dirs.emplace_back(d);
  if (!c.lists_dir.empty()) rc.lists_dir = c.lists_dir;
  rc.geoip_db = c.geoip_db;
  rc.rule_excludes = c.rule_excludes;
  rc.decoder_excludes = c.decoder_excludes;
  return Ruleset::Load(rc);
}

class LoginspectModule final : public Module, public HealthReporter {
 public:
  explicit LoginspectModule(const ModuleContext& ctx) : ctx_(ctx) {}

  std::string_view Name() const override { return "loginspect"; }

  ModuleHealth Health() const override {
    std::lock_guard lock(mu_);
    ModuleHealth h;
    for (const auto& r : degraded_) h.Degrade(r);
    h.counters = {{"files", files_},
                  {"lines", lines_},
                  {"journal_entries", journal_entries_},
                  {"alerts", alerts_},
                  {"truncated_lines", truncated_},
                  {"dropped_bytes", dropped_bytes_},
                  {"rotations", rotations_},
                  {"rules", rules_}};
    return h;
  }

  Status Configure(const PolicySection& section, const ConfigNode& /*document*/) override {
    WARD_ASSIGN_OR_RETURN(LoginspectConfig c, ParseLoginspectConfig(section));
    auto rs = LoadRuleset(c);
    if (!rs) {
      Emit(ward::Event::Make(ctx_.clock, "loginspect", "error", "ruleset_rejected",
                             Severity::kMedium)
               .Set("error.message", rs.error().message())
               .Set("message", "the new rules did not load; the previous rules stay in force"));
      spdlog::warn("loginspect: ruleset rejected: {}", rs.error().message());
      return rs.error();
    }
    std::lock_guard lock(mu_);
    next_ = Loaded{std::move(c), std::move(*rs)};
    cv_.notify_all();
    return Status::Ok();
  }

  void Run(std::stop_token stop) override {
    auto store = BookmarkStore::Open(ctx_.state_dir);
    if (!store) {
      std::string why = fmt::format("bookmarks cannot be kept: {}", store.error().message());
      spdlog::warn("loginspect: {}", why);
      Degraded(why);
    } else {
      store_ = std::move(*store);
    }
    std::stop_callback wake(stop, [this] {
      std::lock_guard lock(mu_);
      cv_.notify_all();
    });
    bool quiet = false;
    while (!stop.stop_requested()) {
      Apply();
      if (!cur_) {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(200));
        continue;
      }
      bool more = false;
      bool any = false;
      for (auto& s : files_src_) {
        std::vector<SourceLine> lines;
        more = s.source->Poll(kBatch, lines, quiet) || more;
        any = any || !lines.empty();
        for (auto& l : lines) HandleFileLine(*s.session, l);
        for (auto& n : s.source->TakeNotices()) Notice(n);
        TakeLimits(*s.session);
      }
      if (journal_) {
        std::vector<JournalEntry> entries;
        auto r = journal_->Poll(kBatch, entries);
        if (!r) {
          // Once per failing stretch, not at every look.
          if (!journal_failing_) Notice(fmt::format("journal: {}", r.error().message()));
          journal_failing_ = true;
        } else {
          journal_failing_ = false;
          more = *r || more;
        }
        any = any || !entries.empty();
        for (auto& e : entries) HandleJournalEntry(e);
        TakeLimits(*journal_session_);
      }
      if (any) SaveBookmarks();
      UpdateCounters();
      if (announce_) {
        Emit(std::move(*announce_));
        announce_.reset();
      }
      if (more) continue;
      quiet = !any;
      Wait(stop);
    }
    SaveBookmarks();
    StopWatcher();
  }

 private:
  struct FileSrc {
    std::unique_ptr<FileSource> source;
    std::unique_ptr<Session> session;
  };

  void Emit(ward::Event e) { ctx_.events.Emit(std::move(e)); }

  void Degraded(const std::string& why) {
    std::lock_guard lock(mu_);
    degraded_.push_back(why);
  }

  void Notice(const std::string& text) {
    spdlog::warn("loginspect: {}", text);
    Emit(ward::Event::Make(ctx_.clock, "loginspect", "info", "source_notice", Severity::kLow)
             .SetBytes("message", text));
  }

  int64_t NowSeconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(ctx_.clock.Now().time_since_epoch())
        .count();
  }

  void TakeLimits(Session& session) {
    for (int id : session.TakeLimitReports()) {
      Emit(ward::Event::Make(ctx_.clock, "loginspect", "info", "rule_limit_hit", Severity::kLow)
               .Set("rule.id", std::to_string(id))
               .Set("message",
                    "the rule's PCRE2 pattern hit its match limit; such lines do not "
                    "match it (reported once)"));
    }
  }

  // The common part of an alert event.
  std::optional<ward::Event> AlertEvent(Session& session, const std::string& text,
                                        std::string_view location) {
    auto v = session.Process(text, location, NowSeconds());
    if (!v.alert || v.rule == nullptr || !v.event) return std::nullopt;
    const Rule& r = *v.rule;
    const loginspect::Event& ev = *v.event;
    auto e = ward::Event::Make(ctx_.clock, "loginspect", "info", "rule_matched",
                               SeverityOfLevel(r.level));
    e.Set("event.kind", "alert");
    e.Set("rule.id", std::to_string(r.id));
    e.Set("rule.level", r.level);
    e.SetBytes("rule.description", DescribeRule(r, ev));
    e.Set("rule.groups", r.groups);
    if (!r.mitre.empty()) e.Set("rule.mitre", r.mitre);
    e.Set("loginspect.firedtimes", ev.firedtimes);
    e.SetBytes("event.original", text);
    if (ev.decoder != nullptr) e.Set("loginspect.decoder", ev.decoder->display_name);
    if (!ev.hostname.empty()) e.SetBytes("loginspect.hostname", ev.hostname);
    if (ev.program_name) e.SetBytes("loginspect.program_name", *ev.program_name);
    if (!ev.timestamp.empty()) e.SetBytes("loginspect.timestamp", ev.timestamp);
    std::set<std::string> seen;
    for (const auto& f : ev.fields) {
      if (f.name.empty() || f.name.find('.') != std::string::npos) {
        // Dotted names (JSON decoder) would nest: keep them flat under a safe key.
        std::string key = f.name;
        for (char& c : key) {
          if (c == '.') c = '_';
        }
        if (key.empty() || !seen.insert(key).second) continue;
        e.SetBytes("loginspect.fields." + key, f.value);
        continue;
      }
      if (!seen.insert(f.name).second) continue;
      e.SetBytes("loginspect.fields." + f.name, f.value);
    }
    // ECS names for what the decoders found.
    if (const auto* s = ev.Static("srcip")) e.SetBytes("source.ip", *s);
    if (const auto* s = ev.Static("dstip")) e.SetBytes("destination.ip", *s);
    if (const auto* s = ev.Static("dstuser")) {
      e.SetBytes("user.name", *s);
    } else if (const auto* s2 = ev.Static("srcuser")) {
      e.SetBytes("user.name", *s2);
    }
    if (const auto* s = ev.Static("url")) e.SetBytes("url.original", *s);
    return e;
  }

  void HandleFileLine(Session& session, const SourceLine& l) {
    auto e = AlertEvent(session, l.text, l.path);
    if (!e) return;
    e->SetBytes("log.file.path", l.path);
    e->Set("log.offset", l.offset);
    if (l.truncated) e->Set("loginspect.truncated", true);
    ++alerts_local_;
    Emit(std::move(*e));
  }

  void HandleJournalEntry(const JournalEntry& j) {
    auto e = AlertEvent(*journal_session_, j.line, "journald");
    if (!e) return;
    e->Set("loginspect.journal.cursor", j.cursor);
    for (const auto& [k, v] : j.fields) {
      if (k.empty() || k.find('.') != std::string::npos) continue;
      e->SetBytes("loginspect.journal.fields." + k, v);
    }
    ++alerts_local_;
    Emit(std::move(*e));
  }

  void SaveBookmarks() {
    if (!store_) return;
    std::map<std::string, FileBookmark> all;
    for (auto& s : files_src_) all.merge(s.source->Bookmarks());
    Status st = store_->SaveFiles(all);
    if (st.ok() && journal_ && !journal_->cursor().empty()) {
      st = store_->SaveCursor(kJournalCursor, journal_->cursor());
    }
    if (!st.ok()) spdlog::warn("loginspect: saving bookmarks failed: {}", st.message());
  }

  void UpdateCounters() {
    uint64_t files = 0, lines = 0, truncated = 0, dropped = 0, rotations = 0;
    for (auto& s : files_src_) {
      const auto& c = s.source->counters();
      files += s.source->Paths().size();
      lines += c.lines;
      truncated += c.truncated;
      dropped += c.dropped_bytes;
      rotations += c.rotations + c.truncations;
    }
    std::lock_guard lock(mu_);
    files_ = files;
    lines_ = lines_base_ + lines;
    truncated_ = truncated_base_ + truncated;
    dropped_bytes_ = dropped_base_ + dropped;
    rotations_ = rotations_base_ + rotations;
    alerts_ = alerts_local_;
    journal_entries_ = journal_ ? journal_base_ + journal_->entries() : journal_base_;
  }

  // Takes a new configuration from Configure(): sources are rebuilt (resuming at their
  // bookmarks), sessions start afresh with the new ruleset.
  void Apply() {
    std::optional<Loaded> next;
    {
      std::lock_guard lock(mu_);
      next.swap(next_);
    }
    if (!next) return;
    if (cur_) {
      SaveBookmarks();
      UpdateCounters();
      std::lock_guard lock(mu_);
      lines_base_ = lines_;
      truncated_base_ = truncated_;
      dropped_base_ = dropped_bytes_;
      rotations_base_ = rotations_;
      journal_base_ = journal_entries_;
    }
    bool first = !cur_;
    cur_ = std::move(next);
    StopWatcher();
    std::map<std::string, FileBookmark> saved;
    if (store_) {
      auto s = store_->LoadFiles();
      if (s) saved = std::move(*s);
    }
    files_src_.clear();
    for (const auto& spec : cur_->config.files) {
      FileSrc fs;
      fs.source = std::make_unique<FileSource>(spec, cur_->config.max_backlog, true);
      fs.source->Restore(saved);
      fs.session = std::make_unique<Session>(cur_->ruleset, CompatOf(cur_->config));
      files_src_.push_back(std::move(fs));
    }
    journal_.reset();
    journal_session_.reset();
    if (cur_->config.journald.enabled) {
      std::optional<std::string> cursor;
      if (store_) {
        auto c = store_->LoadCursor(kJournalCursor);
        if (c) cursor = *c;
      }
      auto j = JournalSource::Open(cur_->config.journald, cursor);
      if (!j) {
        Notice(fmt::format("the journal cannot be read: {}", j.error().message()));
        Degraded(fmt::format("journal: {}", j.error().message()));
      } else {
        journal_ = std::move(*j);
        journal_session_ = std::make_unique<Session>(cur_->ruleset, CompatOf(cur_->config));
      }
    }
    {
      std::lock_guard lock(mu_);
      rules_ = cur_->ruleset->rule_count();
    }
    // Announced once the sources were looked at (after this round's poll): from then on,
    // whatever is appended to them is read.
    announce_ = ward::Event::Make(ctx_.clock, "loginspect", "info",
                                  first ? "ruleset_loaded" : "ruleset_reloaded", Severity::kInfo);
    announce_->Set("loginspect.rules", cur_->ruleset->rule_count())
        .Set("loginspect.decoders", cur_->ruleset->decoders().size())
        .Set("loginspect.warnings", cur_->ruleset->warnings().size())
        .Set("loginspect.files", cur_->config.files.size());
    StartWatcher();
  }

  // inotify on the directories of the files: a change wakes the loop before poll_interval.
  void StartWatcher() {
    std::set<std::string> dirs;
    for (const auto& spec : cur_->config.files) {
      size_t s = spec.path.rfind('/');
      dirs.insert(s == 0 ? "/" : spec.path.substr(0, s));
    }
    if (dirs.empty()) return;
    std::vector<watch::WatchRoot> roots;
    for (const auto& d : dirs) roots.push_back({d, false, {}});
    filter_ = std::make_unique<watch::PathFilter>(std::move(roots));
    auto w = watch::CreateInotifyWatcher(*filter_, ctx_.clock);
    if (!w) {
      spdlog::warn("loginspect: no inotify ({}); polling every {} ms", w.error().message(),
                   cur_->config.poll_interval.count());
      return;
    }
    watcher_ = std::move(*w);
    watcher_thread_ = std::jthread([this](std::stop_token st) {
      watcher_->Run(st, [this](const watch::Notice&) {
        std::lock_guard lock(mu_);
        woken_ = true;
        cv_.notify_all();
      });
    });
  }

  void StopWatcher() {
    if (watcher_thread_.joinable()) {
      watcher_thread_.request_stop();
      watcher_thread_.join();
    }
    watcher_.reset();
    filter_.reset();
  }

  // Until poll_interval passed, a notice from inotify, a new policy or stop. Notices closer than
  // kCoalesce to the last look wait for it: a busy log directory (every write is a notice) costs
  // at most one look per kCoalesce.
  void Wait(const std::stop_token& stop) {
    static constexpr auto kCoalesce = std::chrono::milliseconds(20);
    auto now = ctx_.clock.SteadyNow();
    auto deadline = now + cur_->config.poll_interval;
    auto earliest = std::min(deadline, last_look_ + kCoalesce);
    std::unique_lock lock(mu_);
    while (!stop.stop_requested() && !next_) {
      now = ctx_.clock.SteadyNow();
      if (now >= deadline || (woken_ && now >= earliest)) break;
      auto until = woken_ ? earliest : deadline;
      cv_.wait_for(lock, WaitBudget(ctx_.clock, until, std::chrono::milliseconds(100)));
    }
    woken_ = false;
    last_look_ = ctx_.clock.SteadyNow();
  }

  const ModuleContext& ctx_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Loaded> next_;
  bool woken_ = false;
  std::vector<std::string> degraded_;
  uint64_t files_ = 0, lines_ = 0, journal_entries_ = 0, alerts_ = 0, truncated_ = 0,
           dropped_bytes_ = 0, rotations_ = 0, rules_ = 0;
  uint64_t lines_base_ = 0, truncated_base_ = 0, dropped_base_ = 0, rotations_base_ = 0,
           journal_base_ = 0;

  // The run thread's own.
  std::optional<Loaded> cur_;
  std::unique_ptr<BookmarkStore> store_;
  std::vector<FileSrc> files_src_;
  std::unique_ptr<JournalSource> journal_;
  std::unique_ptr<Session> journal_session_;
  uint64_t alerts_local_ = 0;
  std::optional<ward::Event> announce_;
  bool journal_failing_ = false;
  std::chrono::steady_clock::time_point last_look_{};
  std::unique_ptr<watch::PathFilter> filter_;
  std::unique_ptr<watch::Watcher> watcher_;
  std::jthread watcher_thread_;
};

}  // namespace

std::unique_ptr<Module> Create(const ModuleContext& ctx) {
  return std::make_unique<LoginspectModule>(ctx);
}

}  // namespace ward::agent::loginspect
