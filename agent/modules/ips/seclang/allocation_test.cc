// Counts C++ heap allocations (operator new) in this test binary to prove the per-transaction
// promise of the parts built so far: once warm, transformation chains and operator evaluations
// allocate nothing. (PCRE2's match data lives in the OperatorScratch; its JIT runs on the
// machine stack.)
#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "agent/modules/ips/seclang/operators.h"
#include "agent/modules/ips/seclang/transformations.h"

namespace {
thread_local size_t g_allocations = 0;
void* Allocate(std::size_t n) {
  ++g_allocations;
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) std::abort();
  return p;
}
}  // namespace

void* operator new(std::size_t n) { return Allocate(n); }
void* operator new[](std::size_t n) { return Allocate(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace ward::seclang {
namespace {

using T = Transformation;

TEST(SeclangAllocation, WarmChainsAndOperatorsDoNotAllocate) {
  const std::vector<std::vector<Transformation>> chains = {
      {T::kUrlDecodeUni},
      {T::kUtf8ToUnicode, T::kUrlDecodeUni, T::kHtmlEntityDecode, T::kJsDecode, T::kCssDecode,
       T::kRemoveNulls},
      {T::kLowercase, T::kCompressWhitespace, T::kRemoveWhitespace},
      {T::kCmdLine, T::kNormalisePathWin, T::kReplaceComments, T::kRemoveCommentsChar},
      {T::kBase64Decode, T::kBase64DecodeExt, T::kHexDecode, T::kHexEncode, T::kSqlHexDecode},
      {T::kEscapeSeqDecode, T::kTrim, T::kUppercase, T::kLength, T::kSha1, T::kMd5},
      {T::kNormalisePath, T::kReplaceNulls, T::kParityEven7bit, T::kUrlEncode, T::kBase64Encode},
  };
  const std::vector<std::string> inputs = {
      "",
      "/index.php?id=1%27%20UNION%20SELECT%20password%20FROM%20users--",
      "<ScRiPt>alert(String.fromCharCode(88,83,83))</sCrIpT>&lt;img src=x onerror=alert(1)&gt;",
      "C:\\\\Windows\\\\..\\\\system32\\\\cmd.exe /c \"dir\" ^& whoami",
      std::string(3000, 'A') + "%u0041\\x41\\u0041&#x41;\xc3\xa9\xe2\x82\xac" +
          std::string(1, '\0'),
  };
  std::vector<std::unique_ptr<Operator>> ops;
  const std::pair<const char*, const char*> specs[] = {
      {"rx", "(?i)(union)(\\s+)(all\\s+)?(select)"},
      {"rx",
       "^[\\w/.+-]+(?:\\s?;\\s?(?:action|boundary|charset)\\s?=\\s?['\\\"\\w.()+,/:=?<>@-]+)*$"},
      {"pm", "select union insert update delete drop script alert"},
      {"within", "GET HEAD POST OPTIONS"},
      {"detectSQLi", ""},
      {"detectXSS", ""},
      {"validateByteRange", "9,10,13,32-126,128-255"},
      {"validateUtf8Encoding", ""},
      {"ipMatch", "127.0.0.1,10.0.0.0/8,::1"},
      {"ge", "5"},
      {"containsWord", "select"},
  };
  for (const auto& [name, param] : specs) {
    auto op = Operator::Create(name, param, "/");
    ASSERT_TRUE(op.has_value()) << name;
    ops.push_back(std::move(*op));
  }
  TransformScratch scratch;
  OperatorScratch op_scratch;
  size_t matches = 0;
  auto run = [&] {
    for (const auto& chain : chains) {
      for (const auto& in : inputs) {
        const std::string_view v = scratch.Run(chain, in);
        for (const auto& op : ops) matches += op->Evaluate(v, op_scratch) ? 1 : 0;
      }
    }
  };
  g_allocations = 0;
  std::vector<std::string> probe(3, std::string(100, 'x'));  // the counter does count
  EXPECT_GE(g_allocations, 4u);
  run();  // warm-up: buffers and match data reach their sizes
  run();
  g_allocations = 0;
  run();
  EXPECT_EQ(g_allocations, 0u);
  EXPECT_GT(matches, 0u);
}

}  // namespace
}  // namespace ward::seclang
