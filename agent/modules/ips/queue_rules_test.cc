#include "agent/modules/ips/queue_rules.h"

#include <gtest/gtest.h>

#include <string>

namespace ward::agent::ips {
namespace {

std::string Join(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += (s.empty() ? "" : " ") + a;
  return s;
}

TEST(IpsQueueRules, EachPortAndDirectionSkipsPureAcksThenQueues) {
  IpsConfig c;
  c.ports = {80};
  c.queue = 5;
  c.threads = 1;
  c.fail = FailMode::kOpen;
  auto rules = QueueRules(c, false);
  // Per direction: 11 RETURN rules (TCP data offsets 5..15), then the queue.
  ASSERT_EQ(rules.size(), 24u);
  for (int dir = 0; dir < 2; ++dir) {
    const net::Hook hook = dir == 0 ? net::Hook::kInput : net::Hook::kOutput;
    const std::string port = dir == 0 ? "--dport 80" : "--sport 80";
    for (int i = 0; i < 11; ++i) {
      const auto& r = rules[dir * 12 + i];
      EXPECT_EQ(r.hook, hook);
      EXPECT_TRUE(Join(r.args).starts_with("-p tcp " + port + " --tcp-flags SYN,FIN,RST,URG NONE"))
          << Join(r.args);
      EXPECT_TRUE(Join(r.args).ends_with("-j RETURN"));
    }
    EXPECT_EQ(rules[dir * 12 + 11].hook, hook);
    EXPECT_EQ(Join(rules[dir * 12 + 11].args),
              "-p tcp " + port + " -j NFQUEUE --queue-num 5 --queue-bypass");
  }
}

TEST(IpsQueueRules, FailClosedHasNoBypassAndThreadsGetOneQueueEach) {
  IpsConfig c;
  c.ports = {443};
  c.queue = 0;
  c.threads = 4;
  c.fail = FailMode::kClosed;
  for (bool v6 : {false, true}) {
    std::string all;
    for (const auto& r : QueueRules(c, v6)) all += Join(r.args) + "\n";
    EXPECT_EQ(all.find("--queue-bypass"), std::string::npos);
    for (int q = 0; q < 4; ++q) {
      EXPECT_NE(all.find("--queue-num " + std::to_string(q) + "\n"), std::string::npos) << all;
    }
  }
}

}  // namespace
}  // namespace ward::agent::ips
