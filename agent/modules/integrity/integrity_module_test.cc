#include "agent/modules/integrity/integrity_module.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "common/clock.h"
#include "common/config_node.h"
#include "common/file_system.h"
#include "testing/fake_clock.h"
#include "testing/recording_sink.h"
#include "testing/temp_dir.h"

namespace ward::agent::integrity {
namespace {

using std::chrono::minutes;

// The module's whole Run() loop, on a FakeClock: nothing but the fake time makes the schedule due.
TEST(IntegrityModule, ScheduledCheckRunsWhenTheClockSaysItIsDue) {
  test::TempDir tmp;
  std::string www = tmp.Sub("www");
  test::WriteFile(www + "/index.html", "home");
  test::FakeClock clock;
  test::RecordingSink sink;
  std::filesystem::create_directories(tmp.Sub("state"));
  ModuleContext ctx{sink, RealFileSystem(), clock, tmp.Sub("state")};
  auto module = Create(ctx);
  auto doc = ConfigNode::FromYaml(
      "integrity: { paths: [" + www + "], realtime: false, schedule: 1h }", "policy.yaml");
  ASSERT_TRUE(doc.has_value()) << doc.error().ToString();
  ASSERT_TRUE(module->Configure(*doc->Find("integrity"), *doc).ok());
  const auto start = clock.Now();
  std::jthread run([&](std::stop_token stop) { module->Run(stop); });
  ASSERT_TRUE(
      sink.WaitFor([](const Event& e) { return e.GetString("event.action") == "started"; }));

  test::WriteFile(www + "/index.html", "defaced");
  auto changed = [&](const Event& e) {
    return e.GetString("integrity.detected_by") == "scheduled" &&
           e.GetString("file.path") == www + "/index.html";
  };
  clock.Advance(minutes(59));
  // Due at start + 1h: the check that reports the change runs then, at that (fake) time.
  clock.Advance(minutes(1));
  auto e = sink.WaitFor(changed, std::chrono::seconds(10));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->GetString("@timestamp"), FormatTimestamp(start + minutes(60)));
  for (const auto& seen : sink.Events()) {
    if (seen.GetString("integrity.detected_by") == "scheduled") {
      EXPECT_GE(seen.GetString("@timestamp"), FormatTimestamp(start + minutes(60)))
          << "a scheduled check ran before it was due";
    }
  }
  // The next one is an hour later again.
  test::WriteFile(www + "/index.html", "defaced twice");
  clock.Advance(minutes(60));
  auto again = sink.WaitFor(
      [&](const Event& ev) {
        return changed(ev) && ev.GetString("@timestamp") == FormatTimestamp(start + minutes(120));
      },
      std::chrono::seconds(10));
  EXPECT_TRUE(again.has_value());
}

}  // namespace
}  // namespace ward::agent::integrity
