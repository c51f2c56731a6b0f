#include "agent/modules/ips/modsecurity_waf.h"

#include <fmt/format.h>
#include <modsecurity/intervention.h>
#include <modsecurity/modsecurity.h>
#include <modsecurity/rules_set.h>
#include <modsecurity/transaction.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "agent/modules/ips/waf_config.h"

namespace ward::agent::ips {
namespace {

std::string Token(std::string_view line, std::string_view name) {
  std::string open = fmt::format("[{} \"", name);
  size_t at = line.find(open);
  if (at == std::string_view::npos) return {};
  at += open.size();
  std::string out;
  for (size_t i = at; i < line.size(); ++i) {
    if (line[i] == '\\' && i + 1 < line.size()) {
      out.push_back(line[++i]);
      continue;
    }
    if (line[i] == '"' && i + 1 < line.size() && line[i + 1] == ']') break;
    out.push_back(line[i]);
  }
  return out;
}

std::string VariableOf(std::string_view line) {
  constexpr std::string_view kOpen = "against variable `";
  size_t at = line.find(kOpen);
  if (at == std::string_view::npos) return {};
  at += kOpen.size();
  size_t end = line.find('\'', at);
  if (end == std::string_view::npos) return {};
  return std::string(line.substr(at, std::min<size_t>(end - at, 200)));
}

}  // namespace

RuleMatch ParseLogLine(std::string_view line) {
  RuleMatch m;
  std::string id = Token(line, "id");
  if (!id.empty()) m.id = std::strtoll(id.c_str(), nullptr, 10);
  m.message = Token(line, "msg");
  m.data = Token(line, "data");
  std::string sev = Token(line, "severity");
  if (!sev.empty() && sev.size() == 1 && sev[0] >= '0' && sev[0] <= '7') m.severity = sev[0] - '0';
  m.variable = VariableOf(line);
  m.line = std::string(line);
  return m;
}

namespace {

class ModSecurityThreadState;
class ModSecurityTransaction;

void LogCallback(void* self, const void* message);

// The calling thread's state, while one lives (innermost).
thread_local ModSecurityThreadState* tls_state = nullptr;

std::unique_ptr<modsecurity::ModSecurity> NewModSecurity() {
  auto m = std::make_unique<modsecurity::ModSecurity>();
  m->setConnectorInformation("ward-agent ips");
  m->setServerLogCb(&LogCallback, modsecurity::TextLogProperty);
  return m;
}

class ModSecurityThreadState final : public WafThreadState {
 public:
  ModSecurityThreadState() : modsec_(NewModSecurity()), prev_(tls_state) { tls_state = this; }
  ~ModSecurityThreadState() override { tls_state = prev_; }
  ModSecurityThreadState(const ModSecurityThreadState&) = delete;
  ModSecurityThreadState& operator=(const ModSecurityThreadState&) = delete;

  modsecurity::ModSecurity* modsec() const { return modsec_.get(); }

 private:
  std::unique_ptr<modsecurity::ModSecurity> modsec_;
  ModSecurityThreadState* prev_;
};

class ModSecurityRules final : public WafRules,
                               public std::enable_shared_from_this<ModSecurityRules> {
 public:
  ~ModSecurityRules() override {
    rules_.reset();
    modsec_.reset();
  }

  // WafRules
  std::unique_ptr<WafTransaction> Begin(const Endpoints& ep) const override;
  const IpsConfig& config() const override { return config_; }
  size_t rule_count() const override { return rule_count_; }

  IpsConfig config_;
  std::shared_ptr<WafLog> log_;
  std::unique_ptr<modsecurity::ModSecurity> modsec_;
  std::unique_ptr<modsecurity::RulesSet> rules_;
  size_t rule_count_ = 0;
  bool ward_scoring_ = false;
};

int ReadScore(modsecurity::Transaction& tx, const std::string& var) {
  auto v = tx.m_collections.m_tx_collection->resolveFirst(var);
  return v ? ParseScore(*v) : -1;
}

class ModSecurityTransaction final : public WafTransaction {
 public:
  ModSecurityTransaction(std::shared_ptr<const ModSecurityRules> rules, const Endpoints& ep,
                         modsecurity::ModSecurity* engine)
      : rules_(std::move(rules)), ep_(ep), id_(NextTransactionId("")) {
    tx_ =
        std::make_unique<modsecurity::Transaction>(engine, rules_->rules_.get(), id_.data(), this);
    tx_->processConnection(ep_.src_ip.c_str(), ep_.src_port, ep_.dst_ip.c_str(), ep_.dst_port);
  }
  ~ModSecurityTransaction() override { tx_.reset(); }

  // WafTransaction
  bool RequestHeaders(const RequestHead& head) override {
    request_ = head;
    request_seen_ = true;
    tx_->processURI(head.uri.c_str(), head.method.c_str(), head.version.c_str());
    for (const Exclusion* e : PrefixExclusions(rules_->config_, head.uri)) {
      tx_->m_ruleRemoveTargetById.emplace_back(static_cast<int>(e->id), e->target);
    }
    for (const auto& [k, v] : head.headers) tx_->addRequestHeader(k, v);
    tx_->processRequestHeaders();
    return CheckIntervention();
  }

  void AppendRequestBody(std::string_view bytes) override {
    if (intervention_.disruptive) return;
    auto take = WithinBodyLimit(bytes, rules_->config_.limits.request_body, &body_bytes_);
    if (take) {
      tx_->appendRequestBody(reinterpret_cast<const unsigned char*>(take->data()), take->size());
    }
  }

  bool RequestBody() override {
    if (intervention_.disruptive) return true;
    tx_->processRequestBody();
    return CheckIntervention();
  }

  void Response(const ResponseHead& head, std::string_view body) override {
    if (intervention_.disruptive) return;
    for (const auto& [k, v] : head.headers) tx_->addResponseHeader(k, v);
    tx_->processResponseHeaders(head.status, "HTTP/" + head.version);
    size_t take = std::min<uint64_t>(body.size(), rules_->config_.limits.response_body);
    if (take > 0) {
      tx_->appendResponseBody(reinterpret_cast<const unsigned char*>(body.data()), take);
    }
    tx_->processResponseBody();
  }

  void Finish() override {
    if (finished_) return;
    finished_ = true;
    tx_->processLogging();
  }

  const Intervention& intervention() const override { return intervention_; }
  std::span<const RuleMatch> matches() const override { return matches_; }
  AnomalyScores anomaly_scores() const override {
    return AnomalyScoresOf(ReadScore(*tx_, "anomaly_score"),
                           ReadScore(*tx_, "outbound_anomaly_score"), matches_);
  }
  const Endpoints& endpoints() const override { return ep_; }
  const std::string& id() const override { return id_; }
  const RequestHead& request() const override { return request_; }
  bool request_seen() const override { return request_seen_; }

  void Log(std::string_view line) {
    if (rules_->log_ != nullptr) rules_->log_->Write(line);
    RuleMatch m = ParseLogLine(line);
    if (m.id != 0) matches_.push_back(std::move(m));
  }

 private:
  bool CheckIntervention() {
    if (intervention_.disruptive) return true;
    modsecurity::ModSecurityIntervention it{};
    it.status = 200;
    bool disrupt = tx_->intervention(&it);
    int64_t disrupting_rule = 0;
    if (it.log != nullptr) {
      // The disruptive rule's own message comes with the intervention, not the log callback.
      const size_t before = matches_.size();
      Log(it.log);
      if (matches_.size() > before) disrupting_rule = matches_.back().id;
      std::free(it.log);
    }
    if (it.url != nullptr) std::free(it.url);
    intervention_ = DecideIntervention(rules_->config_, rules_->ward_scoring_,
                                       {disrupt, it.status, disrupting_rule}, matches_);
    return intervention_.disruptive;
  }

  std::shared_ptr<const ModSecurityRules> rules_;
  std::unique_ptr<modsecurity::Transaction> tx_;
  Endpoints ep_;
  std::string id_;
  RequestHead request_;
  bool request_seen_ = false;
  Intervention intervention_;
  bool finished_ = false;
  uint64_t body_bytes_ = 0;
  std::vector<RuleMatch> matches_;
};

void LogCallback(void* self, const void* message) {
  if (self == nullptr || message == nullptr) return;
  static_cast<ModSecurityTransaction*>(self)->Log(static_cast<const char*>(message));
}

std::unique_ptr<WafTransaction> ModSecurityRules::Begin(const Endpoints& ep) const {
  modsecurity::ModSecurity* engine = tls_state != nullptr ? tls_state->modsec() : modsec_.get();
  return std::make_unique<ModSecurityTransaction>(shared_from_this(), ep, engine);
}

}  // namespace

Result<std::shared_ptr<const WafRules>> ModSecurityEngine::Load(const IpsConfig& config,
                                                                std::shared_ptr<WafLog> log) const {
  WARD_ASSIGN_OR_RETURN(WafConfigText text, GenerateWafConfig(config));
  auto w = std::make_shared<ModSecurityRules>();
  w->config_ = config;
  w->log_ = std::move(log);
  w->modsec_ = NewModSecurity();
  w->rules_ = std::make_unique<modsecurity::RulesSet>();
  auto add = [&](const std::string& rules_text, std::string_view what) -> Status {
    int n = w->rules_->load(rules_text.c_str(), std::string(what));
    if (n < 0) {
      std::string err = w->rules_->getParserError();
      while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.pop_back();
      return InvalidArgument(fmt::format("{}: libmodsecurity: {}", what, err));
    }
    return Status::Ok();
  };
  WARD_RETURN_IF_ERROR(add(text.before, "ips (generated settings)"));
  for (const auto& f : text.files) {
    WARD_ASSIGN_OR_RETURN(std::string body, ReadRuleFile(f));
    WARD_RETURN_IF_ERROR(add(body, f));
  }
  if (!text.after.empty()) WARD_RETURN_IF_ERROR(add(text.after, "ips (generated overrides)"));
  w->ward_scoring_ = text.ward_scoring;
  size_t count = 0;
  for (int p = 0; p < modsecurity::Phases::NUMBER_OF_PHASES; ++p) {
    count += w->rules_->m_rulesSetPhases[p]->size();
  }
  w->rule_count_ = count;
  return std::shared_ptr<const WafRules>(std::move(w));
}

std::unique_ptr<WafThreadState> ModSecurityEngine::NewThreadState() const {
  return std::make_unique<ModSecurityThreadState>();
}

}  // namespace ward::agent::ips
