// Managed egress feeds end to end (issue #17, s9-feeds; docs/egress.md "Managed feeds"): the real
// `ward-manager` and `ward-agent run` in a network namespace of their own. A feed uploaded on the
// manager reaches the agent as the tenant's signed "feeds" bundle and blocks a name
// (NXDOMAIN); the feed replaced on the manager unblocks it and blocks another, with no restart;
// a corrupt feed (written into the manager's database behind the API's check) is refused by the
// agent naming the file and line (update_rejected), and the tables in force stay.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "agent/modules/egress/test_servers.h"
#include "testing/shell.h"
#include "testing/temp_dir.h"
#include "tests/agent_process.h"

namespace ward::test {
namespace {

using agent::egress::kDnsRcodeNxDomain;
using agent::egress::test::DnsServer;
using agent::egress::test::kCdn;
using agent::egress::test::kResolver;
using agent::egress::test::Resolve;
using std::chrono::seconds;

// Polls `ok` (every 100 ms) until it holds or `limit` passes.
bool Eventually(const std::function<bool()>& ok, seconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return ok();
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// `ward-manager serve` as a child, killed on destruction.
class ManagerServe {
 public:
  ManagerServe(const std::vector<std::string>& args, const std::string& out) {
    pid_ = ::fork();
    if (pid_ == 0) {
      std::FILE* f = std::freopen(out.c_str(), "w", stdout);
      (void)f;
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~ManagerServe() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

 private:
  pid_t pid_ = -1;
};

class EgressFeedsE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET) needs root";
    ShOrFail("ip link set lo up");
    ShOrFail(fmt::format("ip addr add {}/24 dev lo && ip addr add {}/24 dev lo", kResolver, kCdn));
  }
  std::string Api(const std::string& args) {
    return ShOrFail(
        fmt::format("curl -sk --max-time 20 -H 'Authorization: Bearer {}' {}", key_, args));
  }
  // The manager's events of module `module` (their JSON text).
  std::string Events(const std::string& module) {
    return RunShell(fmt::format("curl -sk --max-time 20 -H 'Authorization: Bearer {}' "
                                "'{}/api/v1/events?module={}&limit=200'",
                                key_, url_, module))
        .output;
  }

  TempDir tmp_;
  std::string key_;
  std::string url_;
};

TEST_F(EgressFeedsE2e, AFeedUploadedOnTheManagerBlocksOnTheAgentAndItsUpdateUnblocks) {
  DnsServer dns({{"blocked.example", kCdn}, {"other.example", kCdn}, {"fine.example", kCdn}});
  const std::string mgr = WARD_MANAGER_BINARY;
  const std::string db = tmp_.Sub("m.db");
  const std::string state = tmp_.Sub("mstate");
  std::string init = ShOrFail(
      fmt::format("{} init --db sqlite:{} --state-dir {} --json 2>/dev/null", mgr, db, state));
  key_ = Json::parse(init)["api_key"];
  ManagerServe serve({mgr, "serve", "--db", "sqlite:" + db, "--state-dir", state, "--listen",
                      "127.0.0.1:0", "--no-jobs"},
                     tmp_.Sub("serve.out"));
  std::smatch m;
  std::string out;
  ASSERT_TRUE(Eventually(
      [&] {
        out = ReadAll(tmp_.Sub("serve.out"));
        return std::regex_search(out, m, std::regex(R"(listening: (https://127\.0\.0\.1:\d+))"));
      },
      seconds(30)))
      << out;
  url_ = m[1];
  Api(
      fmt::format("-X PATCH -H 'Content-Type: application/json' -d '{{\"heartbeat_interval_s\": "
                  "10}}' {}/api/v1/settings",
                  url_));

  // The feed, uploaded; the policy refers to it by name.
  std::ofstream(tmp_.Sub("v1.txt")) << "# blocked names\nblocked.example\n";
  Json feed = Json::parse(Api(fmt::format(
      "-H 'Content-Type: text/plain' --data-binary @{} '{}/api/v1/feeds?name=blocklist&format="
      "domains'",
      tmp_.Sub("v1.txt"), url_)));
  ASSERT_TRUE(feed.contains("id")) << feed.dump();
  const std::string feed_id = feed["id"];
  Json policy = {{"name", "egress"},
                 {"document",
                  {{"egress",
                    {{"mode", "prevent"},
                     {"queue", 74},
                     {"lists", {{{"name", "bl"}, {"path", "managed:feeds/blocklist"}}}}}}}}};
  std::ofstream(tmp_.Sub("policy.json")) << policy.dump();
  Json p =
      Json::parse(Api(fmt::format("-H 'Content-Type: application/json' --data-binary @{} "
                                  "{}/api/v1/policies",
                                  tmp_.Sub("policy.json"), url_)));
  ASSERT_TRUE(p.contains("id")) << p.dump();
  Json token =
      Json::parse(Api(fmt::format("-H 'Content-Type: application/json' -d "
                                  "'{{\"policy_id\":\"{}\"}}' {}/api/v1/activation-tokens",
                                  p["id"].get<std::string>(), url_)));
  const std::string agent_state = tmp_.Sub("agent");
  ShOrFail(fmt::format("{} activate --manager {} --token {} --state-dir {} 2>&1", AgentBinaryPath(),
                       url_, token["token"].get<std::string>(), agent_state));
  auto agent = AgentProcess::Start({"run", "--state-dir", agent_state});
  ASSERT_TRUE(agent);

  // v1: the bundle arrives before the policy applies; the name is blocked, others resolve.
  EXPECT_TRUE(
      Eventually([] { return Resolve("blocked.example").rcode == kDnsRcodeNxDomain; }, seconds(60)))
      << agent->Stderr();
  EXPECT_EQ(Resolve("fine.example").rcode, 0);
  EXPECT_EQ(Resolve("other.example").rcode, 0);
  const std::string current = agent_state + "/updates/feeds/current";
  EXPECT_EQ(std::filesystem::read_symlink(current).string(), "v1");

  // v2 through the API: the old name resolves again, the new one is blocked; the agent was
  // not restarted (the same process) and never let blocked.example resolve before the swap.
  std::ofstream(tmp_.Sub("v2.txt")) << "other.example\n";
  Json replaced = Json::parse(
      Api(fmt::format("-X PUT -H 'Content-Type: text/plain' --data-binary @{} '{}/api/v1/feeds/{}'",
                      tmp_.Sub("v2.txt"), url_, feed_id)));
  ASSERT_EQ(replaced["entries"], 1) << replaced.dump();
  bool swapped_cleanly = true;
  EXPECT_TRUE(Eventually(
      [&] {
        // Either the old tables (blocked.example refused, other.example resolves) or the new
        // ones: never both names resolving (a window with nothing enforced). Asked in this order,
        // a swap between the two questions gives two refusals, never two answers.
        int blocked = Resolve("blocked.example").rcode;
        int other = Resolve("other.example").rcode;
        if (other == 0 && blocked == 0) swapped_cleanly = false;
        return other == kDnsRcodeNxDomain && blocked == 0;
      },
      seconds(60)))
      << agent->Stderr();
  EXPECT_TRUE(swapped_cleanly);
  EXPECT_EQ(std::filesystem::read_symlink(current).string(), "v2");
  EXPECT_TRUE(agent->Signal(0));  // the same process

  // A corrupt feed behind the API's check (written into the database): the agent refuses the
  // bundle naming the file and line, and keeps v2's tables.
  ShOrFail(fmt::format(
      "sqlite3 -cmd '.timeout 10000' {} \"UPDATE egress_feeds SET content = 'other.example' || "
      "char(10) || 'not a name!' || char(10), sha256 = '$(printf 'other.example\\nnot a "
      "name!\\n' | sha256sum | cut -c1-64)' WHERE id = '{}'\"",
      db, feed_id));
  std::string ward;
  EXPECT_TRUE(Eventually(
      [&] {
        ward = Events("ward");
        return ward.find("update_rejected") != std::string::npos;
      },
      seconds(60)))
      << ward << agent->Stderr();
  EXPECT_NE(ward.find("file blocklist.domains: line 2: "), std::string::npos) << ward;
  EXPECT_EQ(std::filesystem::read_symlink(current).string(), "v2");
  EXPECT_EQ(Resolve("other.example").rcode, kDnsRcodeNxDomain);
  EXPECT_EQ(Resolve("blocked.example").rcode, 0);
}

}  // namespace
}  // namespace ward::test
