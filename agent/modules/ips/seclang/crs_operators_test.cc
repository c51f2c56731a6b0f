// CRS 3.3.4 as Debian installs it, operator by operator: Ward's parser reads each rule's
// operator, parameter and negation as libmodsecurity 3.0.9 does, and every operator gives the
// library's verdict on the payloads of the CRS regression tests.
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <string>

#include "agent/modules/ips/seclang/modsec_oracle.h"
#include "agent/modules/ips/seclang/parser.h"
#include "agent/modules/ips/seclang/test_vectors.h"

namespace ward::seclang {
namespace {

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Loaded {
  std::unique_ptr<RuleSet> set;
  std::map<std::pair<int64_t, int>, test::ModsecRuleOperator> reference;
};

const Loaded& Crs() {
  static const Loaded loaded = [] {
    Loaded l;
    RuleParser parser;
    for (const auto& f : test::CrsFiles()) {
      if (Status s = parser.LoadFile(f); !s.ok()) {
        ADD_FAILURE() << s.ToString();
        return l;
      }
    }
    auto set = parser.Finish();
    if (!set.has_value()) return l;
    l.set = std::move(*set);
    std::string error;
    for (auto& r : test::ModsecRuleOperators(test::CrsFiles(), &error)) {
      l.reference[{r.id, r.chain_index}] = r;
    }
    EXPECT_TRUE(error.empty()) << error;
    return l;
  }();
  return loaded;
}

// Ward's operator names against the library's class names (@pmf is PmFromFile, ...).
std::string ModsecName(OperatorKind k) {
  switch (k) {
    case OperatorKind::kRblHttpBl:
      return "rbl";
    case OperatorKind::kStrEq:
      return "streq";
    default:
      return Lower(std::string(OperatorName(k)));
  }
}

TEST(SeclangCrs, EveryOperatorIsReadAsLibmodsecurityReadsIt) {
  const Loaded& crs = Crs();
  ASSERT_NE(crs.set, nullptr);
  size_t compared = 0;
  for (const auto& head : crs.set->rules) {
    int index = 0;
    for (const Rule* r = head.get(); r != nullptr; r = r->chained.get(), ++index) {
      if (r->op == nullptr) continue;
      const auto it = crs.reference.find({head->id, index});
      ASSERT_NE(it, crs.reference.end()) << "rule " << head->id << " #" << index;
      const auto& ref = it->second;
      EXPECT_EQ(ModsecName(r->op->kind()), Lower(ref.name)) << "rule " << head->id;
      EXPECT_EQ(r->negated, ref.negated) << "rule " << head->id;
      if (!r->op->param_has_macro()) {
        EXPECT_EQ(r->op->param(), ref.param) << "rule " << head->id << " #" << index;
      }
      ++compared;
    }
  }
  EXPECT_EQ(compared, crs.reference.size());
  std::cout << compared << " CRS operators read as libmodsecurity reads them\n";
}

TEST(SeclangCrs, EveryOperatorGivesLibmodsecurityVerdictsOnCrsPayloads) {
  const Loaded& crs = Crs();
  ASSERT_NE(crs.set, nullptr);
  // The payloads as written and URL-decoded + lower-cased (what most CRS chains see), sampled.
  const auto raw = test::CrsPayloads();
  ASSERT_GT(raw.size(), 1000u);
  std::vector<std::string> inputs;
  std::string out;
  const Transformation chain[] = {Transformation::kUrlDecodeUni, Transformation::kLowercase};
  TransformScratch scratch;
  for (size_t i = 0; i < raw.size(); i += raw.size() / 250) {
    inputs.push_back(raw[i]);
    inputs.emplace_back(scratch.Run(chain, raw[i]));
  }
  size_t operators = 0, evaluations = 0, matches = 0;
  OperatorScratch op_scratch;
  for (const auto& head : crs.set->rules) {
    int index = 0;
    for (const Rule* r = head.get(); r != nullptr; r = r->chained.get(), ++index) {
      if (r->op == nullptr || r->op->param_has_macro()) continue;
      const auto& ref = crs.reference.at({head->id, index});
      auto handle = test::ModsecOperatorHandle::Create(ref.name, ref.param, r->where.file);
      ASSERT_NE(handle, nullptr) << "rule " << head->id;
      ++operators;
      for (const auto& in : inputs) {
        const bool got = r->op->Evaluate(in, op_scratch);
        EXPECT_EQ(got, handle->Evaluate(in))
            << "rule " << head->id << " #" << index << " on '" << in << "'";
        ++evaluations;
        matches += got ? 1 : 0;
      }
    }
  }
  std::cout << operators << " CRS operators x " << inputs.size() << " payloads: " << evaluations
            << " verdicts equal to libmodsecurity's (" << matches << " matches)\n";
}

}  // namespace
}  // namespace ward::seclang
