#include "agent/modules/ips/seclang/ward_waf.h"

#include <algorithm>
#include <filesystem>

#include "agent/modules/ips/modsecurity_waf.h"
#include "agent/modules/ips/seclang/parser.h"
#include "agent/modules/ips/seclang/persistent.h"
#include "agent/modules/ips/waf_config.h"

namespace ward::agent::ips {
namespace {

// The persistent collections of the calling thread's WardThreadState, or null.
seclang::PersistentCollections* ThreadCollections();

class WardRules final : public WafRules, public std::enable_shared_from_this<WardRules> {
 public:
  std::unique_ptr<WafTransaction> Begin(const Endpoints& ep) const override;
  const IpsConfig& config() const override { return config_; }
  size_t rule_count() const override { return rule_count_; }

  IpsConfig config_;
  std::shared_ptr<WafLog> log_;
  std::shared_ptr<const seclang::CompiledRules> rules_;
  // Persistent collections of transactions begun without a thread state (one thread only, as
  // libmodsecurity's rule set's own engine object).
  mutable seclang::PersistentCollections collections_;
  size_t rule_count_ = 0;
  bool ward_scoring_ = false;
};

int ReadInt(const std::optional<std::string>& v) { return v ? ParseScore(*v) : -1; }

class WardTransaction final : public WafTransaction {
 public:
  WardTransaction(std::shared_ptr<const WardRules> rules, const Endpoints& ep)
      : rules_(std::move(rules)), ep_(ep), id_(NextTransactionId("w")), tx_(rules_->rules_, id_) {
    seclang::PersistentCollections* own = ThreadCollections();
    tx_.UsePersistentCollections(own != nullptr ? own : &rules_->collections_);
    tx_.ProcessConnection(ep_.src_ip, ep_.src_port, ep_.dst_ip, ep_.dst_port);
  }

  bool RequestHeaders(const RequestHead& head) override {
    request_ = head;
    request_seen_ = true;
    tx_.ProcessUri(head.uri, head.method, head.version);
    for (const Exclusion* e : PrefixExclusions(rules_->config_, head.uri)) {
      tx_.RemoveTargetById(e->id, e->target);
    }
    for (const auto& [k, v] : head.headers) tx_.AddRequestHeader(k, v);
    tx_.ProcessRequestHeaders();
    return CheckIntervention();
  }

  void AppendRequestBody(std::string_view bytes) override {
    if (intervention_.disruptive) return;
    auto take = WithinBodyLimit(bytes, rules_->config_.limits.request_body, &body_bytes_);
    if (take) tx_.AppendRequestBody(*take);
  }

  bool RequestBody() override {
    if (intervention_.disruptive) return true;
    tx_.ProcessRequestBody();
    return CheckIntervention();
  }

  void Response(const ResponseHead& head, std::string_view body) override {
    if (intervention_.disruptive) return;
    for (const auto& [k, v] : head.headers) tx_.AddResponseHeader(k, v);
    tx_.ProcessResponseHeaders(head.status, "HTTP/" + head.version);
    size_t take = std::min<uint64_t>(body.size(), rules_->config_.limits.response_body);
    if (take > 0) tx_.AppendResponseBody(body.substr(0, take));
    tx_.ProcessResponseBody();
    // Responses are not blocked (waf.h); a disruptive rule's own line comes with the
    // intervention only, which nothing reads here (as for libmodsecurity).
    Collect(false);
  }

  void Finish() override {
    if (finished_) return;
    finished_ = true;
    tx_.ProcessLogging();
    Collect(false);
  }

  const Intervention& intervention() const override { return intervention_; }
  std::span<const RuleMatch> matches() const override { return matches_; }
  AnomalyScores anomaly_scores() const override {
    return AnomalyScoresOf(ReadInt(tx_.Tx("anomaly_score")),
                           ReadInt(tx_.Tx("outbound_anomaly_score")), matches_);
  }
  const Endpoints& endpoints() const override { return ep_; }
  const std::string& id() const override { return id_; }
  const RequestHead& request() const override { return request_; }
  bool request_seen() const override { return request_seen_; }

 private:
  // Takes the evaluator's new log lines as matches (and to the policy's log). The line of a
  // disruptive rule is libmodsecurity's intervention log: taken only when the intervention is
  // read (`with_disruptive`).
  void Collect(bool with_disruptive) {
    const auto& logs = tx_.matches();
    for (; collected_ < logs.size(); ++collected_) {
      const auto& l = logs[collected_];
      if (l.disruptive && !with_disruptive) continue;
      if (rules_->log_ != nullptr) rules_->log_->Write(l.line);
      RuleMatch m = ParseLogLine(l.line);
      if (m.id != 0) matches_.push_back(std::move(m));
    }
  }

  bool CheckIntervention() {
    Collect(true);
    if (intervention_.disruptive) return true;
    const auto& it = tx_.intervention();
    intervention_ = DecideIntervention(rules_->config_, rules_->ward_scoring_,
                                       {it.disruptive, it.status, it.rule_id}, matches_);
    return intervention_.disruptive;
  }

  std::shared_ptr<const WardRules> rules_;
  Endpoints ep_;
  std::string id_;
  seclang::Transaction tx_;
  RequestHead request_;
  bool request_seen_ = false;
  Intervention intervention_;
  bool finished_ = false;
  uint64_t body_bytes_ = 0;
  size_t collected_ = 0;
  std::vector<RuleMatch> matches_;
};

std::unique_ptr<WafTransaction> WardRules::Begin(const Endpoints& ep) const {
  return std::make_unique<WardTransaction>(shared_from_this(), ep);
}

void MergeFirstWins(const seclang::RuleSet& first, seclang::RuleSet& set) {
  if (first.engine_set) set.engine = first.engine;
  set.request_body_access = first.request_body_access || set.request_body_access;
  set.response_body_access = first.response_body_access || set.response_body_access;
  auto keep = [](const auto& from, auto& to) {
    if (from) to = from;
  };
  keep(first.request_body_limit, set.request_body_limit);
  keep(first.request_body_no_files_limit, set.request_body_no_files_limit);
  keep(first.response_body_limit, set.response_body_limit);
  keep(first.request_body_json_depth_limit, set.request_body_json_depth_limit);
  keep(first.arguments_limit, set.arguments_limit);
  keep(first.pcre_match_limit, set.pcre_match_limit);
  keep(first.pcre_match_limit_recursion, set.pcre_match_limit_recursion);
  if (!first.request_body_limit_action.empty()) {
    set.request_body_limit_action = first.request_body_limit_action;
  }
  if (!first.response_body_limit_action.empty()) {
    set.response_body_limit_action = first.response_body_limit_action;
  }
  if (!first.argument_separator.empty()) set.argument_separator = first.argument_separator;
  if (first.unicode_map != nullptr) {
    set.unicode_map = first.unicode_map;
    set.unicode_code_page = first.unicode_code_page;
  }
  for (const auto& m : first.response_body_mime_types) {
    if (std::find(set.response_body_mime_types.begin(), set.response_body_mime_types.end(), m) ==
        set.response_body_mime_types.end()) {
      set.response_body_mime_types.push_back(m);
    }
  }
}

}  // namespace

Result<std::shared_ptr<const WafRules>> WardWafEngine::Load(const IpsConfig& config,
                                                            std::shared_ptr<WafLog> log) const {
  WARD_ASSIGN_OR_RETURN(WafConfigText text, GenerateWafConfig(config));
  seclang::RuleParser parser;
  std::error_code ec;
  const std::filesystem::path cwd = std::filesystem::current_path(ec);
  WARD_RETURN_IF_ERROR(parser.LoadText(text.before, "ips (generated settings)", cwd));
  for (const auto& f : text.files) {
    WARD_ASSIGN_OR_RETURN(std::string body, ReadRuleFile(f));
    WARD_RETURN_IF_ERROR(parser.LoadText(body, f, std::filesystem::path(f).parent_path()));
  }
  if (!text.after.empty()) {
    WARD_RETURN_IF_ERROR(parser.LoadText(text.after, "ips (generated overrides)", cwd));
  }
  WARD_ASSIGN_OR_RETURN(std::unique_ptr<seclang::RuleSet> set, parser.Finish());
  // libmodsecurity loads each text separately and merges the engine settings first-set-wins
  // (RulesSetProperties::mergeProperties): what the generated settings set stays, whatever the
  // rule files say later.
  seclang::RuleParser first;
  WARD_RETURN_IF_ERROR(first.LoadText(text.before, "ips (generated settings)", cwd));
  WARD_ASSIGN_OR_RETURN(std::unique_ptr<seclang::RuleSet> before, first.Finish());
  MergeFirstWins(*before, *set);
  auto w = std::make_shared<WardRules>();
  w->config_ = config;
  w->log_ = std::move(log);
  w->rule_count_ = set->RuleCount();
  w->ward_scoring_ = text.ward_scoring;
  WARD_ASSIGN_OR_RETURN(w->rules_, seclang::Compile(std::move(set), options_));
  return std::shared_ptr<const WafRules>(std::move(w));
}

namespace {

class WardThreadState;
thread_local WardThreadState* tls_ward_state = nullptr;

// One engine thread's persistent collections (IP, GLOBAL, ...): per thread, as libmodsecurity's
// are per engine object (docs/ips.md, "engine threads").
class WardThreadState final : public WafThreadState {
 public:
  WardThreadState() : prev_(tls_ward_state) { tls_ward_state = this; }
  ~WardThreadState() override { tls_ward_state = prev_; }
  WardThreadState(const WardThreadState&) = delete;
  WardThreadState& operator=(const WardThreadState&) = delete;
  seclang::PersistentCollections collections;

  bool persists() const override { return true; }
  std::string Save(int64_t wall_now_s) const override { return collections.Serialize(wall_now_s); }
  Result<size_t> Restore(std::string_view bytes, int64_t wall_now_s) override {
    return collections.Restore(bytes, wall_now_s);
  }
  uint64_t changes() const override { return collections.changes(); }

 private:
  WardThreadState* prev_;
};

seclang::PersistentCollections* ThreadCollections() {
  return tls_ward_state != nullptr ? &tls_ward_state->collections : nullptr;
}

}  // namespace

std::unique_ptr<WafThreadState> WardWafEngine::NewThreadState() const {
  return std::make_unique<WardThreadState>();
}

}  // namespace ward::agent::ips
