// seclang_restart_test: Ward's persistent collections across agent restarts
// (agent/modules/ips/waf_state_file.h): an engine thread's state saved to the state directory and
// restored by a new process's thread (new rules, new thread state, a later wall clock), through
// the WAF seam with the real engine and files; a corrupt file set aside without losing anything
// else; fewer engine threads taking over the files of the threads that no longer exist.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "agent/modules/ips/seclang/equality.h"
#include "agent/modules/ips/waf.h"
#include "agent/modules/ips/waf_state_file.h"
#include "common/file_system.h"
#include "testing/temp_dir.h"

namespace ward::agent::ips {
namespace {

// Each client's 5th request is refused (429); every request counts.
constexpr std::string_view kRules = R"(SecRuleEngine On
SecAction "id:100,phase:1,pass,nolog,initcol:ip=%{REMOTE_ADDR}"
SecAction "id:101,phase:1,pass,nolog,setvar:ip.hits=+1"
SecRule IP:hits "@ge 5" "id:120,phase:1,deny,status:429,log"
)";

constexpr int64_t kWall = 1'800'000'000;

class RestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rules_file_ = dir_.Sub("counters.conf");
    std::ofstream(rules_file_) << kRules;
    state_dir_ = dir_.Sub("state/ips");
  }
  // A process's view: the rule set loaded anew.
  std::shared_ptr<const WafRules> Load() {
    IpsConfig config;
    config.mode = Mode::kPrevent;
    config.crs.enabled = false;
    config.custom_rules = {rules_file_};
    auto r = WafEngineFor(WafEngineKind::kWard).Load(config, nullptr);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r.has_value() ? *r : nullptr;
  }
  // One request from `client`; its HTTP status (200 when not refused).
  static int Request(const WafRules& rules, const std::string& client) {
    auto c = seclang::equality::ParseRequest("GET / HTTP/1.1\r\nHost: example\r\n\r\n");
    EXPECT_TRUE(c.has_value());
    auto o = seclang::equality::Run(rules, *c, Endpoints{client, 40000, "192.0.2.1", 80});
    return o.intervention.disruptive ? o.intervention.status : 200;
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  ward::test::TempDir dir_;
  std::string rules_file_;
  std::string state_dir_;
  FileSystem& fs_ = RealFileSystem();
};

TEST_F(RestartTest, CountersContinueAfterARestart) {
  {
    auto rules = Load();
    auto state = WafEngineFor(WafEngineKind::kWard).NewThreadState();
    ASSERT_TRUE(state->persists());
    for (int i = 0; i < 3; ++i) EXPECT_EQ(Request(*rules, "192.0.2.10"), 200);
    EXPECT_EQ(Request(*rules, "192.0.2.20"), 200);
    ASSERT_TRUE(SaveWafState(fs_, state_dir_, 0, *state, kWall).ok());
  }
  const std::string path = WafStatePath(state_dir_, 0);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(state_dir_)) ++files;
  EXPECT_EQ(files, 1u);  // no temporary file left beside it

  // The next process, 30 s later.
  auto rules = Load();
  auto state = WafEngineFor(WafEngineKind::kWard).NewThreadState();
  auto restored = RestoreWafState(fs_, state_dir_, 0, 1, *state, kWall + 30);
  ASSERT_TRUE(restored.has_value()) << restored.error().ToString();
  EXPECT_EQ(restored->files, 1);
  EXPECT_EQ(restored->entries, 2u);  // ip.hits of both clients
  EXPECT_TRUE(restored->corrupt.empty());
  EXPECT_EQ(Request(*rules, "192.0.2.10"), 200);  // its 4th
  EXPECT_EQ(Request(*rules, "192.0.2.10"), 429);  // its 5th, counted over the restart
  EXPECT_EQ(Request(*rules, "192.0.2.20"), 200);  // the other client's 2nd
  EXPECT_EQ(Request(*rules, "192.0.2.30"), 200);

  // Without the saved state the same requests start from zero (what the file is for).
  auto fresh = WafEngineFor(WafEngineKind::kWard).NewThreadState();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Request(*rules, "192.0.2.40"), 200);
  EXPECT_EQ(Request(*rules, "192.0.2.10"), 200);  // counted in `fresh` now: its 1st
}

TEST_F(RestartTest, ACorruptFileIsSetAsideAndLosesNothingElse) {
  {
    auto rules = Load();
    auto state = WafEngineFor(WafEngineKind::kWard).NewThreadState();
    for (int i = 0; i < 4; ++i) EXPECT_EQ(Request(*rules, "192.0.2.10"), 200);
    ASSERT_TRUE(SaveWafState(fs_, state_dir_, 1, *state, kWall).ok());
  }
  // Thread 0's file: cut short (a disk full, an editor) — not a saved state.
  std::string saved = Read(WafStatePath(state_dir_, 1));
  const std::string bad = saved.substr(0, saved.size() / 2);
  std::ofstream(WafStatePath(state_dir_, 0), std::ios::binary) << bad;

  auto rules = Load();
  {
    auto state = WafEngineFor(WafEngineKind::kWard).NewThreadState();
    auto r = RestoreWafState(fs_, state_dir_, 0, 2, *state, kWall + 1);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    ASSERT_EQ(r->corrupt.size(), 1u);
    EXPECT_EQ(r->corrupt[0].code(), StatusCode::kDataLoss);
    EXPECT_NE(r->corrupt[0].ToString().find(WafStatePath(state_dir_, 0)), std::string::npos)
        << r->corrupt[0].ToString();
    EXPECT_NE(r->corrupt[0].ToString().find("at byte"), std::string::npos);
    EXPECT_EQ(r->entries, 0u);
    // Set aside as it was, for whoever looks; the thread starts empty and works.
    EXPECT_FALSE(std::filesystem::exists(WafStatePath(state_dir_, 0)));
    EXPECT_EQ(Read(WafStatePath(state_dir_, 0) + ".corrupt"), bad);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(Request(*rules, "192.0.2.10"), 200);
    EXPECT_EQ(Request(*rules, "192.0.2.10"), 429);
  }
  // Thread 1's file is untouched and restores whole.
  auto state = WafEngineFor(WafEngineKind::kWard).NewThreadState();
  auto r = RestoreWafState(fs_, state_dir_, 1, 2, *state, kWall + 1);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->corrupt.empty());
  EXPECT_EQ(r->entries, 1u);
  EXPECT_EQ(Request(*rules, "192.0.2.10"), 429);
  // A missing file is a first start.
  auto first = WafEngineFor(WafEngineKind::kWard).NewThreadState();
  auto none = RestoreWafState(fs_, dir_.Sub("nothing-here"), 0, 1, *first, kWall);
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->files, 0);
}

TEST_F(RestartTest, FewerThreadsTakeOverTheFilesOfThreadsThatNoLongerExist) {
  // Four engine threads, each having counted one client four times.
  for (int t = 0; t < 4; ++t) {
    auto rules = Load();
    auto state = WafEngineFor(WafEngineKind::kWard).NewThreadState();
    for (int i = 0; i < 4; ++i) Request(*rules, fmt::format("192.0.2.{}", 10 + t));
    ASSERT_TRUE(SaveWafState(fs_, state_dir_, t, *state, kWall).ok());
  }
  // Two threads now: thread 1 takes files 1 and 3 (3 is removed once taken).
  auto rules = Load();
  auto state = WafEngineFor(WafEngineKind::kWard).NewThreadState();
  auto r = RestoreWafState(fs_, state_dir_, 1, 2, *state, kWall + 1);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->files, 2);
  EXPECT_EQ(r->entries, 2u);
  EXPECT_FALSE(std::filesystem::exists(WafStatePath(state_dir_, 3)));
  EXPECT_TRUE(std::filesystem::exists(WafStatePath(state_dir_, 1)));
  EXPECT_TRUE(std::filesystem::exists(WafStatePath(state_dir_, 2)));  // thread 0's to take
  EXPECT_EQ(Request(*rules, "192.0.2.11"), 429);
  EXPECT_EQ(Request(*rules, "192.0.2.13"), 429);
  EXPECT_EQ(Request(*rules, "192.0.2.10"), 200);  // thread 0's client: not in this thread
  ASSERT_TRUE(SaveWafState(fs_, state_dir_, 1, *state, kWall + 2).ok());
  auto again = WafEngineFor(WafEngineKind::kWard).NewThreadState();
  auto r2 = RestoreWafState(fs_, state_dir_, 1, 2, *again, kWall + 3);
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->files, 1);     // taken over once, not twice
  EXPECT_EQ(r2->entries, 3u);  // .11, .13 and .10
}

// libmodsecurity keeps nothing across restarts (as in nginx): nothing is written or read.
TEST_F(RestartTest, LibmodsecurityStateIsNotKept) {
  auto state = WafEngineFor(WafEngineKind::kLibModSecurity).NewThreadState();
  EXPECT_FALSE(state->persists());
  ASSERT_TRUE(SaveWafState(fs_, state_dir_, 0, *state, kWall).ok());
  EXPECT_FALSE(std::filesystem::exists(state_dir_));
}

}  // namespace
}  // namespace ward::agent::ips
