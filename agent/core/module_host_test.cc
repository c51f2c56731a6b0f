#include "agent/core/module_host.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>

#include "testing/fake_clock.h"
#include "testing/recording_sink.h"

namespace ward::agent {
namespace {

// A module that records the `value` of every section it was configured with; `value: bad` fails.
struct Log {
  std::mutex mu;
  std::map<std::string, std::vector<std::string>> configured;
  std::map<std::string, int> running;
};
Log& TheLog() {
  static Log log;
  return log;
}

template <const char* kName>
class Probe final : public Module {
 public:
  std::string_view Name() const override { return kName; }
  Status Configure(const PolicySection& section, const ConfigNode&) override {
    std::string v = section.Find("value") ? section.Find("value")->scalar() : "";
    if (v == "bad") return InvalidArgument("value: bad");
    std::lock_guard lock(TheLog().mu);
    TheLog().configured[kName].push_back(v);
    return Status::Ok();
  }
  void Run(std::stop_token stop) override {
    {
      std::lock_guard lock(TheLog().mu);
      ++TheLog().running[kName];
    }
    while (!stop.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::lock_guard lock(TheLog().mu);
    --TheLog().running[kName];
  }
};

constexpr char kA[] = "alpha";
constexpr char kB[] = "beta";
Status AnyOk(const PolicySection&, const ConfigNode&) { return Status::Ok(); }
bool On(const PolicySection& s) {
  return !(s.Find("enabled") && s.Find("enabled")->scalar() == "false");
}

const ModuleSpec kSpecs[] = {
    {{"alpha", &AnyOk, &On},
     [](const ModuleContext&) -> std::unique_ptr<Module> { return std::make_unique<Probe<kA>>(); }},
    {{"beta", &AnyOk, &On},
     [](const ModuleContext&) -> std::unique_ptr<Module> { return std::make_unique<Probe<kB>>(); }},
};

Policy Parse(const std::string& yaml) {
  auto node = ConfigNode::FromYaml(yaml, "test.yaml");
  EXPECT_TRUE(node.has_value());
  auto p = Policy::FromNode(std::move(*node), kSpecs);
  EXPECT_TRUE(p.has_value()) << (p ? "" : p.error().ToString());
  return std::move(*p);
}

// Stop() and Apply() join the module threads, so the count is final when they return.
int Running(const std::string& name) {
  std::lock_guard lock(TheLog().mu);
  return TheLog().running[name];
}

TEST(ModuleHostApply, ReconfiguresStartsAndStopsModules) {
  TheLog().configured.clear();
  test::RecordingSink sink;
  test::FakeClock clock;
  ModuleContext ctx{sink, RealFileSystem(), clock, "/nonexistent", nullptr, nullptr};
  ModuleHost host(ctx, kSpecs);
  ASSERT_TRUE(host.Start(Parse("alpha: {value: one}\n")).ok());
  EXPECT_EQ(host.Running(), std::vector<std::string>{"alpha"});

  // alpha re-configured in place, beta started.
  ASSERT_TRUE(host.Apply(Parse("alpha: {value: two}\nbeta: {value: b1}\n")).ok());
  EXPECT_EQ(host.Running(), (std::vector<std::string>{"alpha", "beta"}));
  {
    std::lock_guard lock(TheLog().mu);
    EXPECT_EQ(TheLog().configured["alpha"], (std::vector<std::string>{"one", "two"}));
    EXPECT_EQ(TheLog().configured["beta"], std::vector<std::string>{"b1"});
  }

  // A module that refuses its new section keeps the old one; the error names it; others apply.
  Status s = host.Apply(Parse("alpha: {value: bad}\nbeta: {value: b2}\n"));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("alpha"), std::string::npos) << s.ToString();
  EXPECT_EQ(host.Running(), (std::vector<std::string>{"alpha", "beta"}));
  {
    std::lock_guard lock(TheLog().mu);
    EXPECT_EQ(TheLog().configured["alpha"].back(), "two");
    EXPECT_EQ(TheLog().configured["beta"].back(), "b2");
  }

  // beta disabled: stopped and joined.
  ASSERT_TRUE(host.Apply(Parse("alpha: {value: three}\nbeta: {enabled: false}\n")).ok());
  EXPECT_EQ(host.Running(), std::vector<std::string>{"alpha"});
  EXPECT_EQ(Running("beta"), 0);
  host.Stop();
  EXPECT_EQ(Running("alpha"), 0);
}

}  // namespace
}  // namespace ward::agent
