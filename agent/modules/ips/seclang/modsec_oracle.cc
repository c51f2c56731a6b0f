#include "agent/modules/ips/seclang/modsec_oracle.h"

#include <memory>
#include <stdexcept>
#include <string>

#include "modsecurity/actions/action.h"
#include "modsecurity/modsecurity.h"
#include "modsecurity/rule_with_operator.h"
#include "modsecurity/rules_set.h"
#include "modsecurity/transaction.h"

// libmodsecurity installs no header for these two classes; it exports their symbols. The
// declarations repeat the parts of 3.0.9's src/actions/transformations/transformation.h and
// src/operators/operator.h that are used here, virtual functions in their order.
namespace modsecurity {
class RuleMessage;
namespace actions::transformations {
class Transformation : public Action {
 public:
  static Transformation* instantiate(std::string a);
};
}  // namespace actions::transformations
namespace operators {
class Operator {
 public:
  virtual ~Operator();
  static Operator* instantiate(const std::string& op, const std::string& param);
  virtual bool init(const std::string& arg, std::string* error);
  virtual std::string resolveMatchMessage(Transaction* t, std::string key, std::string value);
  virtual bool evaluate(Transaction* transaction, const std::string& str);
  virtual bool evaluate(Transaction* transaction, RuleWithActions* rule, const std::string& str);
  virtual bool evaluate(Transaction* transaction, RuleWithActions* rule, const std::string& str,
                        std::shared_ptr<RuleMessage> rule_message);

  // The data members, in 3.0.9's order (read, never constructed here).
  std::string m_match_message;
  bool m_negation;
  std::string m_op;
  std::string m_param;
};
}  // namespace operators
}  // namespace modsecurity

namespace ward::seclang::test {
namespace {

// RuleWithOperator::m_operator is private; an explicit instantiation may name it (the standard
// waives access checking there), which gives the tests the operator libmodsecurity parsed.
struct OperatorMember {
  using type = modsecurity::operators::Operator* modsecurity::RuleWithOperator::*;
};
template <typename Tag, typename Tag::type Member>
struct Expose {
  friend typename Tag::type MemberOf(Tag) { return Member; }
};
template struct Expose<OperatorMember, &modsecurity::RuleWithOperator::m_operator>;
OperatorMember::type MemberOf(OperatorMember);

}  // namespace

std::string ModsecTransform(std::string_view name, std::string_view input) {
  // Transformation::instantiate knows cmdLine by its class file's name.
  const std::string tname = name == "cmdLine" ? "cmd_line" : std::string(name);
  std::unique_ptr<modsecurity::actions::Action> t(
      modsecurity::actions::transformations::Transformation::instantiate("t:" + tname));
  return t->evaluate(std::string(input), nullptr);
}

std::string ModsecTransformWithMap(std::string_view name, std::string_view input,
                                   const std::string& map_file, int code_page) {
  modsecurity::ModSecurity ms;
  modsecurity::RulesSet rules;
  const std::string conf = "SecUnicodeMapFile " + map_file + " " + std::to_string(code_page) + "\n";
  if (rules.load(conf.c_str()) < 0) return "<libmodsecurity refused the map>";
  modsecurity::Transaction t(&ms, &rules, nullptr);
  std::unique_ptr<modsecurity::actions::Action> tfn(
      modsecurity::actions::transformations::Transformation::instantiate("t:" + std::string(name)));
  return tfn->evaluate(std::string(input), &t);
}

std::optional<bool> ModsecOperator(std::string_view name, std::string_view param,
                                   std::string_view input, std::string_view config_file) {
  try {
    std::unique_ptr<modsecurity::operators::Operator> op(
        modsecurity::operators::Operator::instantiate(std::string(name), std::string(param)));
    std::string error;
    if (!op->init(std::string(config_file), &error)) return std::nullopt;
    return op->evaluate(nullptr, nullptr, std::string(input), nullptr);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::unique_ptr<ModsecOperatorHandle> ModsecOperatorHandle::Create(std::string_view name,
                                                                   std::string_view param,
                                                                   std::string_view config_file) {
  try {
    std::unique_ptr<modsecurity::operators::Operator> op(
        modsecurity::operators::Operator::instantiate(std::string(name), std::string(param)));
    std::string error;
    if (!op->init(std::string(config_file), &error)) return nullptr;
    std::unique_ptr<ModsecOperatorHandle> h(new ModsecOperatorHandle());
    h->op_ = op.release();
    return h;
  } catch (const std::exception&) {
    return nullptr;
  }
}

ModsecOperatorHandle::~ModsecOperatorHandle() {
  delete static_cast<modsecurity::operators::Operator*>(op_);
}

bool ModsecOperatorHandle::Evaluate(std::string_view input) {
  return static_cast<modsecurity::operators::Operator*>(op_)->evaluate(nullptr, nullptr,
                                                                       std::string(input), nullptr);
}

std::vector<ModsecRuleOperator> ModsecRuleOperators(const std::vector<std::string>& files,
                                                    std::string* error) {
  std::vector<ModsecRuleOperator> out;
  modsecurity::RulesSet rules;
  for (const auto& f : files) {
    if (rules.loadFromUri(f.c_str()) < 0) {
      *error = rules.getParserError();
      return {};
    }
  }
  for (int phase = 0; phase < 8; ++phase) {
    modsecurity::Rules* list = rules.m_rulesSetPhases[phase];
    for (size_t i = 0; i < list->size(); ++i) {
      auto* head = dynamic_cast<modsecurity::RuleWithActions*>(list->at(static_cast<int>(i)).get());
      int index = 0;
      for (modsecurity::RuleWithActions* r = head; r != nullptr;
           r = r->m_chainedRuleChild.get(), ++index) {
        auto* with_op = dynamic_cast<modsecurity::RuleWithOperator*>(r);
        if (with_op == nullptr) continue;
        const modsecurity::operators::Operator* op = with_op->*MemberOf(OperatorMember{});
        if (op == nullptr) continue;
        out.push_back({head->m_ruleId, index, op->m_op, op->m_param, op->m_negation});
      }
    }
  }
  return out;
}

int ModsecLoadRules(const std::vector<std::string>& files, std::string* error) {
  modsecurity::RulesSet rules;
  int total = 0;
  for (const auto& f : files) {
    const int n = rules.loadFromUri(f.c_str());
    if (n < 0) {
      *error = rules.getParserError();
      return -1;
    }
    total += n;
  }
  return total;
}

}  // namespace ward::seclang::test
