// The loaded OSSEC/Wazuh ruleset (decoders, rules, CDB lists) and the per-source session that
// runs lines through it: pre-decoding (syslog header), decoding, rule matching with Wazuh 4.14's
// semantics (docs/loginspect.md). A source hands a Session lines with their location; nothing
// here reads files other than the ruleset itself or knows about the agent runtime.
//
// Thread-safety: a Ruleset is immutable once loaded and may be shared by many Sessions
// (shared_ptr). A Session is single-threaded (it holds frequency/if_matched state).
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "agent/modules/loginspect/expression.h"
#include "agent/modules/loginspect/geoip.h"
#include "common/status.h"

namespace ward::agent::loginspect {

// What to load, like Wazuh's <ruleset> section: directories in order (files sorted by name),
// extra single files, excluded file names, and where `etc/lists/...` paths of <list> resolve.
struct RulesetConfig {
  std::vector<std::filesystem::path> decoder_dirs;
  std::vector<std::filesystem::path> decoder_files;
  std::vector<std::string> decoder_excludes;
  std::vector<std::filesystem::path> rule_dirs;
  std::vector<std::filesystem::path> rule_files;
  std::vector<std::string> rule_excludes;
  std::filesystem::path lists_dir;  // "etc/lists/x" -> lists_dir/x
  // Applied after loading, before the tree is built: replaces rule 60000's decoded_as/category
  // (runtests.py's Windows eventchannel rewrite). Empty: no change.
  std::string rewrite_60000_decoded_as;
  // A MaxMind City database (geoip.h) for srcgeoip/dstgeoip; empty: those fields never exist
  // (rules that test them do not match), as in analysisd without a <geoipdb>.
  std::filesystem::path geoip_db;
};

struct Decoder {
  std::string name;
  std::string parent;
  std::string display_name;  // name reported and matched by decoded_as
  std::optional<Expression> program_name;
  std::optional<Expression> prematch;
  std::optional<Expression> regex;
  int prematch_offset = 0;  // kAfterParent...
  int regex_offset = 0;
  std::vector<std::string> order;
  std::string type = "syslog";
  std::vector<std::string> fts;
  bool json = false;
  int json_offset = 0;
  std::string json_null = "string";  // discard, empty, string ("null")
  std::string json_array = "array";  // array | csv
  bool get_next = false;
  std::string file;
  int line = 0;
};

struct DecoderNode {
  const Decoder* decoder = nullptr;
  std::vector<const Decoder*> children;
};

struct ListLookup {
  std::string field;
  std::string lookup = "match_key";
  std::optional<Expression> check_value;
  std::shared_ptr<const std::map<std::string, std::string>> list;
};

// A field named by a same_*/different_* option, resolved when the rule is loaded so the context
// search compares values without looking names up.
struct FieldRef {
  enum Kind : uint8_t { kStatic, kHostname, kProgramName, kLocation, kDynamic };
  Kind kind = kDynamic;
  int id = -1;  // kStatic: Event::StaticId(name)
  std::string name;
  static FieldRef Resolve(std::string_view name);
};

struct FieldCheck {
  std::string name;
  Expression expression;
  // Static checks: `name` resolved once by the loader (`user` stays a lookup by name: dstuser,
  // else srcuser).
  bool resolved = false;
  FieldRef ref;
};

struct Rule {
  int id = 0;
  int level = 0;
  int frequency = 0;
  int timeframe = 0;
  int ignore = 0;
  int maxsize = 0;  // matches only lines at least this long
  bool noalert = false;
  bool no_log = false;  // options no_log: matches and feeds the histories, logs no alert
  std::string description;
  std::vector<std::string> groups;
  std::vector<std::string> options;
  std::vector<std::string> mitre;
  std::string info;
  std::optional<Expression> match;
  std::optional<Expression> regex;
  std::string decoded_as;
  std::string category;
  std::vector<FieldCheck> static_checks;  // srcip, user, url, ... (names as in Event fields)
  std::vector<FieldCheck> fields;
  std::vector<ListLookup> lists;
  std::vector<int> if_sid;
  std::vector<std::string> if_group;
  int if_level = 0;
  std::vector<int> if_matched_sid;
  std::string if_matched_group;
  std::vector<std::string> same;       // field names that must equal the previous events'
  std::vector<std::string> different;  // ... must differ
  std::vector<FieldRef> same_refs;     // `same` and `different`, resolved
  std::vector<FieldRef> different_refs;
  bool same_needs_dynamic = false;       // some `same` name is neither static nor location
  bool different_needs_dynamic = false;  // ... `different`
  bool if_fts = false;
  std::string compiled_rule;                // one of analysisd's built-in checks (compiled_rules/)
  std::optional<std::pair<int, int>> time;  // minutes of the day [from, to)
  int weekdays = 0;                         // bit per tm_wday; 0: any
  std::string file;
  int line = 0;

  // Tree (set by the loader): children in evaluation order (level descending, load order).
  std::vector<Rule*> children;
  bool keeps_sid_history = false;  // some rule says if_matched_sid this
  // Set by the loader for a rule with many children, some with decoded_as (the category
  // templates hold every decoder's base rule): per decoded_as name, the children an event of that
  // decoder can match (that name, or none) in `children`'s order; `children_undecoded` the ones
  // without decoded_as (for any other decoder, or none). A child whose decoded_as differs fails
  // first thing, so skipping it changes no verdict.
  bool children_indexed = false;
  std::unordered_map<std::string, std::vector<Rule*>> children_by_decoder;
  std::vector<Rule*> children_undecoded;
};

// One line through the engine.
struct Event {
  std::string location;
  std::string full_log;
  std::string log;  // after the pre-decoder
  std::string timestamp;
  std::string hostname;
  std::optional<std::string> program_name;
  const Decoder* decoder = nullptr;
  struct DecodedField {
    std::string name;
    std::string value;
    bool is_static = false;  // one of Eventinfo's fixed members (srcip, dstuser, ...)
  };
  std::vector<DecodedField> fields;  // decoding order (add through Decoded / AddDynamic)
  static constexpr int kStaticCount = 16;
  int8_t static_slot[kStaticCount] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                      -1, -1, -1, -1, -1, -1, -1, -1};
  int dynamic_count = 0;
  int64_t time = 0;  // seconds (session clock)
  const Rule* rule = nullptr;
  int matched = 0;  // level of the context rule that consumed this event (OSSEC's lf->matched)
  int firedtimes = 0;

  // A dynamic field (OSSEC's FindField: the first one decoded with that name, any case).
  const std::string* Field(std::string_view name) const;
  // A static field: srcip dstip srcport dstport protocol action srcuser dstuser id status url
  // data extra_data system_name srcgeoip dstgeoip (the last value decoded).
  const std::string* Static(std::string_view name) const;
  // Stores `value` under `name`: a static field when the name is one, else a dynamic one.
  void Decoded(std::string_view name, std::string value);
  // Stores a dynamic field even when `name` is a static one.
  void AddDynamic(std::string name, std::string value);
  static bool IsStaticName(std::string_view name) { return StaticId(name) >= 0; }
  // 0..kStaticCount-1 for srcip dstip srcport dstport protocol action srcuser dstuser id status
  // url data extra_data system_name srcgeoip dstgeoip, -1 otherwise.
  static int StaticId(std::string_view name);
  const std::string* StaticById(int id) const {
    int8_t slot = static_slot[id];
    return slot < 0 ? nullptr : &fields[static_cast<size_t>(slot)].value;
  }
};

class Ruleset {
 public:
  // Errors: InvalidArgument "file:line:column: rule N: what" for the first bad file; nothing is
  // half-loaded.
  static Result<std::shared_ptr<const Ruleset>> Load(const RulesetConfig& config);

  const std::vector<std::unique_ptr<Decoder>>& decoders() const { return decoders_; }
  const std::vector<DecoderNode>& pname_roots() const { return pname_roots_; }
  const std::vector<DecoderNode>& nopname_roots() const { return nopname_roots_; }
  const std::vector<Rule*>& root_rules() const { return roots_; }
  const Rule* FindRule(int id) const;
  size_t rule_count() const { return rules_.size(); }
  // Rules that an if_matched_group names, by group.
  bool GroupKeepsHistory(const std::string& group) const {
    return history_groups_.count(group) != 0;
  }
  const std::vector<std::string>& warnings() const { return warnings_; }
  // The GeoIP database of RulesetConfig::geoip_db, or nullptr.
  const GeoIpDatabase* geoip() const { return geoip_.get(); }

 private:
  friend class RulesetLoader;
  std::vector<std::unique_ptr<Decoder>> decoders_;
  std::vector<DecoderNode> pname_roots_;
  std::vector<DecoderNode> nopname_roots_;
  std::vector<std::unique_ptr<Rule>> rules_;
  std::map<int, Rule*> by_id_;
  std::vector<Rule*> roots_;
  std::map<std::string, bool> history_groups_;
  std::vector<std::string> warnings_;
  std::shared_ptr<const GeoIpDatabase> geoip_;
};

// The result of one line.
struct Verdict {
  std::shared_ptr<Event> event;
  const Rule* rule = nullptr;  // last rule matched (any level); nullptr: none
  bool alert = false;          // rule and level > 0, not ignored, no options no_log
};

// Whose correlation semantics a session follows (policy `loginspect.compat`, `logtest --compat`).
// kWazuh (default): Wazuh 4.x's analysisd. kOssec: OSSEC 4.x's ossec-analysisd — a frequency
// rule fires at the (frequency + 2)-th event, an already matched event in the searched list
// ends the search before the same_* / different_* checks, the newest event of that list is
// marked matched when the rule fires, if_matched_sid lists keep 128 events
// (analysisd.sid_prev_matched_max), the global list 8192 (memory_size) and what it drops
// leaves the other lists as OSSEC's Free_Eventinfo does (ForgetOssec), and an ignore window
// restarts at the event that ends it.
enum class Compat { kWazuh, kOssec };

// "wazuh" / "ossec"; false for any other name.
bool ParseCompat(std::string_view name, Compat* out);

class Session {
 public:
  explicit Session(std::shared_ptr<const Ruleset> ruleset, Compat compat = Compat::kWazuh)
      : ruleset_(std::move(ruleset)), compat_(compat) {
    if (compat_ == Compat::kOssec) {
      events_.limit = kOssecEventListLimit;
      events_.drop = 10;
    }
  }
  // `now` is the session clock in seconds (timeframe, ignore).
  Verdict Process(std::string_view line, std::string_view location, int64_t now);
  // Ids of rules whose PCRE2 pattern hit its match/depth limit since the last call; each rule
  // is returned once per session.
  std::vector<int> TakeLimitReports();

 private:
  void PreDecode(Event& ev) const;
  void Decode(Event& ev) const;
  // srcgeoip/dstgeoip from the decoded srcip/dstip (analysisd's fillData), when a database is
  // loaded and the decoder did not set them itself.
  void AddGeoIp(Event& ev) const;
  const Rule* Check(Event& ev, const Rule& rule);
  // The rule's static-field (<id>, <url>, <srcuser>, ...) and <field> conditions.
  bool FieldsMatch(const Event& ev, const Rule& rule);
  bool CheckContext(Event& ev, const Rule& rule);
  bool Matches(const Rule& rule, const Expression& e, const char* text,
               const char* lowered = nullptr);

  // One if_matched_sid / if_matched_group / global history: the newest kHistoryLimit alerts,
  // plus, for each rule with same_* options that searches it, the events by the hash of their
  // same_* values — so a frequency rule looks only at the events that can agree with this one
  // instead of walking the whole history. An entry is live while the deque still holds it
  // (seq >= first_seq()); dead entries are swept every kHistoryLimit pushes.
  struct History {
    struct Index {
      const Rule* rule = nullptr;
      std::unordered_map<uint64_t, std::vector<std::pair<uint64_t, Event*>>> buckets;
    };
    std::deque<std::shared_ptr<Event>> events;
    uint64_t pushed = 0;    // seq of the next event
    bool monotonic = true;  // times never went backwards (else the index is not used)
    int64_t last_time = 0;
    std::vector<Index> indexes;
    size_t limit = 1024;  // events kept (the oldest are dropped beyond it)
    size_t drop = 1;      // how many are dropped then (OSSEC's global list: 10)
    uint64_t first_seq() const { return pushed - events.size(); }
  };
  void Push(History& h, const std::shared_ptr<Event>& ev);
  History::Index& IndexFor(History& h, const Rule& rule);

  bool CheckContextOssec(Event& ev, const Rule& rule, History& list, bool global);
  History& SidHistory(int id);
  History& GroupHistory(const std::string& group);
  // OSSEC's Free_Eventinfo for an event the global list drops (compat ossec).
  void ForgetOssec(const Event& e);

  static constexpr size_t kOssecSidListLimit = 128;     // analysisd.sid_prev_matched_max
  static constexpr size_t kOssecEventListLimit = 8192;  // <memory_size> default

  std::shared_ptr<const Ruleset> ruleset_;
  Compat compat_ = Compat::kWazuh;
  std::map<int, History> sid_history_;
  std::map<std::string, History> group_history_;
  std::map<int, int64_t> ignored_since_;
  std::map<int, int> fired_;
  std::set<std::string> fts_seen_;
  std::set<int> limit_reported_;
  std::vector<int> limit_new_;
  History events_;  // every alert, for frequency without if_matched
  std::shared_ptr<Event> current_;
  std::string lower_;  // the current event's log, A-Z lower-cased
  // program name -> indexes of the pname_roots() whose <program_name> matches it.
  mutable std::unordered_map<std::string, std::vector<uint32_t>> pname_cache_;
};

// wazuh-logtest's three phases for one verdict.
// A rule's description with $(field) substituted from the event, as analysisd writes it ($(user)
// is dstuser, else srcuser; static names from the static fields, others from dynamic ones).
std::string DescribeRule(const Rule& r, const Event& ev);

std::string FormatLogtest(const Verdict& v);

}  // namespace ward::agent::loginspect
