#include "agent/modules/ips/seclang/ward_waf.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <filesystem>
#include <iterator>

#include "agent/modules/ips/modsecurity_waf.h"
#include "agent/modules/ips/seclang/parser.h"
#include "agent/modules/ips/waf_config.h"

namespace ward::agent::ips {
namespace {

class WardRules final : public WafRules, public std::enable_shared_from_this<WardRules> {
 public:
  std::unique_ptr<WafTransaction> Begin(const Endpoints& ep) const override;
  const IpsConfig& config() const override { return config_; }
  size_t rule_count() const override { return rule_count_; }

  IpsConfig config_;
  std::shared_ptr<WafLog> log_;
  std::shared_ptr<const seclang::CompiledRules> rules_;
  size_t rule_count_ = 0;
  bool ward_scoring_ = false;
};

std::string NextId() {
  static const std::string prefix =
      fmt::format("w{:x}{:x}-", static_cast<uint64_t>(std::time(nullptr)), ::getpid());
  static std::atomic<uint64_t> counter{0};
  std::string id = prefix;
  fmt::format_to(std::back_inserter(id), "{:x}", counter.fetch_add(1, std::memory_order_relaxed));
  return id;
}

int ReadInt(const std::optional<std::string>& v) {
  if (!v) return -1;
  char* end = nullptr;
  long n = std::strtol(v->c_str(), &end, 10);
  if (end == v->c_str()) return -1;
  return static_cast<int>(n);
}

class WardTransaction final : public WafTransaction {
 public:
  WardTransaction(std::shared_ptr<const WardRules> rules, const Endpoints& ep)
      : rules_(std::move(rules)), ep_(ep), tx_(rules_->rules_, NextId()) {
    tx_.ProcessConnection(ep_.src_ip, ep_.src_port, ep_.dst_ip, ep_.dst_port);
  }

  bool RequestHeaders(const RequestHead& head) override {
    request_ = head;
    request_seen_ = true;
    tx_.ProcessUri(head.uri, head.method, head.version);
    for (const auto& [k, v] : head.headers) tx_.AddRequestHeader(k, v);
    tx_.ProcessRequestHeaders();
    return CheckIntervention();
  }

  void AppendRequestBody(std::string_view bytes) override {
    const uint64_t limit = rules_->config_.limits.request_body;
    if (intervention_.disruptive || body_bytes_ >= limit) return;
    size_t take = std::min<uint64_t>(bytes.size(), limit - body_bytes_);
    body_bytes_ += take;
    tx_.AppendRequestBody(bytes.substr(0, take));
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
    Collect();
    size_t take = std::min<uint64_t>(body.size(), rules_->config_.limits.response_body);
    if (take > 0) tx_.AppendResponseBody(body.substr(0, take));
    tx_.ProcessResponseBody();
    Collect();
  }

  void Finish() override {
    if (finished_) return;
    finished_ = true;
    tx_.ProcessLogging();
    Collect();
  }

  const Intervention& intervention() const override { return intervention_; }
  std::span<const RuleMatch> matches() const override { return matches_; }
  AnomalyScores anomaly_scores() const override {
    int total = ReadInt(tx_.Tx("anomaly_score"));
    int outbound = ReadInt(tx_.Tx("outbound_anomaly_score"));
    AnomalyScores s{0, std::max(outbound, 0)};
    if (total >= 0) {
      s.inbound = std::max(total - s.outbound, 0);
    } else {
      for (const auto& m : matches_) s.inbound += CrsScore(m);
    }
    return s;
  }
  const Endpoints& endpoints() const override { return ep_; }
  const RequestHead& request() const override { return request_; }
  bool request_seen() const override { return request_seen_; }

 private:
  // Takes the evaluator's new log lines as matches (and to the policy's log).
  void Collect() {
    const auto& logs = tx_.matches();
    for (; collected_ < logs.size(); ++collected_) {
      const auto& l = logs[collected_];
      if (rules_->log_ != nullptr) rules_->log_->Write(l.line);
      RuleMatch m = ParseLogLine(l.line);
      if (m.id != 0) matches_.push_back(std::move(m));
    }
  }

  bool CheckIntervention() {
    Collect();
    if (intervention_.disruptive) return true;
    const IpsConfig& config = rules_->config_;
    const bool prevent = config.mode == Mode::kPrevent;
    const auto& it = tx_.intervention();
    if (prevent && it.disruptive) {
      intervention_ = {true, it.status, it.rule_id};
      return true;
    }
    if (prevent && rules_->ward_scoring_) {
      int score = 0;
      for (const auto& m : matches_) {
        if (config.RuleMode(m.id) == Mode::kPrevent) score += CrsScore(m);
      }
      if (score >= config.crs.inbound_anomaly_threshold) {
        intervention_ = {true, 403, 0};
        return true;
      }
    }
    return false;
  }

  std::shared_ptr<const WardRules> rules_;
  Endpoints ep_;
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
  auto w = std::make_shared<WardRules>();
  w->config_ = config;
  w->log_ = std::move(log);
  w->rule_count_ = set->RuleCount();
  w->ward_scoring_ = text.ward_scoring;
  WARD_ASSIGN_OR_RETURN(w->rules_, seclang::Compile(std::move(set), options_));
  return std::shared_ptr<const WafRules>(std::move(w));
}

namespace {
class WardThreadState final : public WafThreadState {};
}  // namespace

std::unique_ptr<WafThreadState> WardWafEngine::NewThreadState() const {
  return std::make_unique<WardThreadState>();
}

}  // namespace ward::agent::ips
