// End to end: the real ward-agent against the real ward-manager (and a real Squid): activation,
// managed run, policy push, events, commands, outages and crashes. The policy-rejection and
// delivery-order cases use TestManager (tests/transport_fixture.h), which records arrival order
// and can push a policy the real manager would refuse to store.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "agent/modules/schemas.h"
#include "common/sqlite.h"
#include "testing/temp_dir.h"
#include "tests/agent_process.h"
#include "tests/squid_fixture.h"
#include "tests/transport_fixture.h"

namespace ward::test {
namespace {

using namespace std::chrono_literals;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TransportE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv("https_proxy");
    ::unsetenv("HTTPS_PROXY");
    ::unsetenv("WARD_MACHINE_ID");
    std::filesystem::create_directories(dir_.Sub("manager"));
    std::filesystem::create_directories(dir_.Sub("www"));
    WriteFile(dir_.Sub("www/index.html"), "hello\n");
    manager_ = std::make_unique<ManagerProcess>(dir_.Sub("manager"));
    ASSERT_TRUE(manager_->Start());
    auto [st, s] = manager_->Api("PATCH", "/api/v1/settings", {{"heartbeat_interval_s", 10}});
    ASSERT_EQ(st, 200) << s.dump();
  }
  void TearDown() override { ::unsetenv("WARD_MACHINE_ID"); }

  nlohmann::json PolicyDoc(std::vector<std::string> paths) {
    return {{"agent", {{"outputs", {{"file", false}}}}},
            {"integrity", {{"paths", paths}, {"schedule", "1h"}}}};
  }
  std::string NewPolicy(const nlohmann::json& doc, const std::string& name = "p") {
    auto [st, p] = manager_->Api("POST", "/api/v1/policies", {{"name", name}, {"document", doc}});
    EXPECT_EQ(st, 201) << p.dump();
    return p.value("id", "");
  }
  // {token id, token}
  std::pair<std::string, std::string> NewToken(const std::string& policy_id) {
    nlohmann::json body = {{"name", "t"}};
    if (!policy_id.empty()) body["policy_id"] = policy_id;
    auto [st, t] = manager_->Api("POST", "/api/v1/activation-tokens", body);
    EXPECT_EQ(st, 201) << t.dump();
    return {t.value("id", ""), t.value("token", "")};
  }
  CommandResult Activate(const std::string& state, const std::string& token,
                         std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"activate",    "--manager", manager_->url(), "--token", token,
                                     "--state-dir", state};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunAgentCommand(args, 30s);
  }
  std::string AgentIdIn(const std::string& state) {
    auto j = nlohmann::json::parse(ReadAll(state + "/transport/identity.json"), nullptr, false);
    return j.is_object() ? j.value("agent_id", "") : "";
  }
  nlohmann::json AgentDoc(const std::string& id) {
    return manager_->Api("GET", "/api/v1/agents/" + id).second;
  }
  // Synthetic events (ward-agent run --debug-emit) on the manager: their seqs, and whether any id
  // was stored twice.
  std::vector<int64_t> SyntheticSeqs(bool* duplicate_ids = nullptr) {
    auto events = manager_->AllEvents("&action=debug_synthetic");
    std::vector<int64_t> seqs;
    std::set<std::string> ids;
    bool dup = false;
    for (const auto& e : events) {
      seqs.push_back(e["ward"]["debug"]["seq"].get<int64_t>());
      dup |= !ids.insert(e["event"]["id"].get<std::string>()).second;
    }
    if (duplicate_ids) *duplicate_ids = dup;
    std::sort(seqs.begin(), seqs.end());
    return seqs;
  }
  bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(200ms);
    }
    return pred();
  }

  TempDir dir_;
  std::unique_ptr<ManagerProcess> manager_;
};

TEST_F(TransportE2e, ActivationPinsTheManagerAndKeepsTheCredentialRootOnly) {
  auto [tid, token] = NewToken(NewPolicy(PolicyDoc({dir_.Sub("www")})));
  std::string state = dir_.Sub("agent");
  auto r = Activate(state, token);
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  std::string out;
  for (const auto& l : r.stdout_lines) out += l + "\n";
  EXPECT_NE(out.find(manager_->fingerprint()), std::string::npos) << out;
  struct stat st {};
  ASSERT_EQ(::stat((state + "/transport/identity.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((state + "/transport").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  auto id = nlohmann::json::parse(ReadAll(state + "/transport/identity.json"));
  EXPECT_EQ(id["fingerprint"], manager_->fingerprint());
  EXPECT_TRUE(id["credential"].get<std::string>().starts_with("wac_"));
  auto agent = AgentDoc(id["agent_id"]);
  EXPECT_EQ(agent.value("id", ""), id["agent_id"]);
}

TEST_F(TransportE2e, ARevokedTokenOrAWrongFingerprintDoesNotActivate) {
  auto [tid, token] = NewToken("");
  std::string wrong = manager_->fingerprint();
  wrong[5] = wrong[5] == 'a' ? 'b' : 'a';
  auto bad_pin = Activate(dir_.Sub("a1"), token, {"--manager-fingerprint", wrong});
  EXPECT_EQ(bad_pin.exit_code, 2);
  EXPECT_NE(bad_pin.stderr_text.find("does not match the pinned fingerprint"), std::string::npos)
      << bad_pin.stderr_text;
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("a1/transport/identity.json")));

  auto good_pin =
      Activate(dir_.Sub("a2"), token, {"--manager-fingerprint", manager_->fingerprint()});
  EXPECT_EQ(good_pin.exit_code, 0) << good_pin.stderr_text;

  auto [st, body] = manager_->Api("DELETE", "/api/v1/activation-tokens/" + tid);
  ASSERT_TRUE(st == 200 || st == 204) << st << body.dump();
  auto revoked = Activate(dir_.Sub("a3"), token);
  EXPECT_EQ(revoked.exit_code, 2);
  EXPECT_NE(revoked.stderr_text.find("401"), std::string::npos) << revoked.stderr_text;
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("a3/transport/identity.json")));
}

TEST_F(TransportE2e, ManagedRunReportsAppliesPushedPolicyAndAnswersCommands) {
  std::string policy = NewPolicy(PolicyDoc({dir_.Sub("www")}));
  auto [tid, token] = NewToken(policy);
  std::string state = dir_.Sub("agent");
  ASSERT_EQ(Activate(state, token).exit_code, 0);
  std::string id = AgentIdIn(state);
  auto agent = AgentProcess::Start({"run", "--state-dir", state});
  ASSERT_NE(agent, nullptr);
  ASSERT_TRUE(agent->WaitForEvent(Action("started"), 20s)) << agent->Stderr();
  // Heartbeat: status with modules and the policy version (activation already reports the OS,
  // so wait for the first heartbeat's report, not only for "online").
  ASSERT_TRUE(WaitFor(
      [&] {
        auto doc = AgentDoc(id);
        return doc.value("status", "") == "online" && doc["report"].contains("modules");
      },
      15s));
  auto report = AgentDoc(id)["report"];
  EXPECT_EQ(report["policy_version"], 1) << report.dump();
  EXPECT_EQ(report["modules"][0]["name"], "integrity");
  EXPECT_EQ(report["modules"][0]["state"], "running");
  EXPECT_TRUE(report["spool"].contains("depth"));

  // An event is queryable on the manager about two seconds after it happened.
  std::string file = dir_.Sub("www/index.html");
  auto changed_at = std::chrono::steady_clock::now();
  WriteFile(file, "tampered\n");
  bool seen =
      WaitFor([&] { return !manager_->AllEvents("&action=modified&agent=" + id).empty(); }, 10s);
  auto latency = std::chrono::steady_clock::now() - changed_at;
  ASSERT_TRUE(seen) << agent->Transcript();
  EXPECT_LT(latency, 3500ms);
  std::printf("change to queryable on the manager: %lld ms\n",
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(latency).count()));

  // A changed policy is applied live (no restart) at the next heartbeat.
  auto [pst, p2] = manager_->Api("PATCH", "/api/v1/policies/" + policy,
                                 {{"document", PolicyDoc({dir_.Sub("www"), dir_.Sub("etc")})}});
  ASSERT_EQ(pst, 200) << p2.dump();
  std::filesystem::create_directories(dir_.Sub("etc"));
  ASSERT_TRUE(WaitFor([&] { return AgentDoc(id)["report"].value("policy_version", 0) == 2; }, 30s))
      << agent->Stderr();
  EXPECT_TRUE(agent->WaitForEvent(
      [](const Json& e) {
        return StrField(e, "event.action") == "policy_applied" &&
               Field(e, "ward.policy.version") == 2;
      },
      5s));
  auto pid_before = agent->pid();
  EXPECT_TRUE(agent->Signal(0));
  EXPECT_EQ(agent->pid(), pid_before);

  // A command goes down with a heartbeat; its result comes back with the next one.
  auto [cst, cmd] =
      manager_->Api("POST", "/api/v1/agents/" + id + "/commands", {{"name", "integrity.check"}});
  ASSERT_EQ(cst, 201) << cmd.dump();
  std::string cmd_id = cmd.value("id", "");
  nlohmann::json done;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto list = manager_->Api("GET", "/api/v1/agents/" + id + "/commands").second;
        for (const auto& c : list.value("items", nlohmann::json::array())) {
          if (c.value("id", "") == cmd_id && c.value("state", "") == "completed") done = c;
        }
        return !done.is_null();
      },
      40s))
      << manager_->Api("GET", "/api/v1/agents/" + id + "/commands").second.dump();
  EXPECT_NE(done.dump().find("records"), std::string::npos) << done.dump();

  // Issue #13: the manager keeps the integrity baseline's digest (MAC'd with the agent key), so
  // local evidence is not the only evidence; sent with every heartbeat once a baseline exists.
  nlohmann::json anchor;
  ASSERT_TRUE(WaitFor(
      [&] {
        anchor = AgentDoc(id)["report"].value("integrity_baseline", nlohmann::json());
        return anchor.is_object();
      },
      15s))
      << AgentDoc(id).dump();
  EXPECT_GE(anchor.value("count", 0), 1) << anchor.dump();
  EXPECT_EQ(anchor.value("aggregate", "").size(), 64u) << anchor.dump();
  EXPECT_EQ(anchor.value("mac", "").size(), 64u) << anchor.dump();
  EXPECT_EQ(anchor.value("incident", "x"), "") << anchor.dump();
}

// The command table end to end: every command the manager accepts (agent/modules/schemas.h, the
// table the API validates with) queued through the API to a real agent running every module that
// has commands, each run by the agent with status ok; antimalware.scan also with explicit paths,
// finding a test signature with the events of a scan.
TEST_F(TransportE2e, EveryCommandOfEveryModuleRunsThroughTheApi) {
  std::filesystem::create_directories(dir_.Sub("scan"));
  WriteFile(dir_.Sub("scan/eicar.txt"),
            R"(X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*)");
  nlohmann::json doc = PolicyDoc({dir_.Sub("www")});
  doc["antimalware"] = {{"databases", {std::string(WARD_AM_TESTDATA) + "/eicar.hdb"}},
                        {"scheduled", {{"paths", {dir_.Sub("www")}}, {"every", "24h"}}},
                        {"action", "log"}};
  auto [tid, token] = NewToken(NewPolicy(doc));
  std::string state = dir_.Sub("agent");
  ASSERT_EQ(Activate(state, token).exit_code, 0);
  std::string id = AgentIdIn(state);
  auto agent = AgentProcess::Start({"run", "--state-dir", state});
  ASSERT_NE(agent, nullptr);
  ASSERT_TRUE(agent->WaitForEvent(Action("database_loaded"), 30s)) << agent->Stderr();
  ASSERT_TRUE(WaitFor([&] { return AgentDoc(id).value("status", "") == "online"; }, 15s));

  // Every command, no arguments; then antimalware.scan of a given directory.
  std::vector<std::pair<std::string, nlohmann::json>> queue;
  for (const agent::CommandSpec* c : agent::AllCommands()) {
    queue.emplace_back(std::string(c->name), nlohmann::json::object());
  }
  ASSERT_GE(queue.size(), 3u);
  queue.emplace_back("antimalware.scan", nlohmann::json{{"paths", {dir_.Sub("scan")}}});
  std::vector<std::string> ids;
  for (const auto& [name, args] : queue) {
    auto [st, cmd] = manager_->Api("POST", "/api/v1/agents/" + id + "/commands",
                                   {{"name", name}, {"args", args}});
    ASSERT_EQ(st, 201) << name << ": " << cmd.dump();
    ids.push_back(cmd.value("id", ""));
  }
  std::map<std::string, nlohmann::json> done;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto list = manager_->Api("GET", "/api/v1/agents/" + id + "/commands").second;
        for (const auto& c : list.value("items", nlohmann::json::array())) {
          std::string s = c.value("state", "");
          if (s == "completed" || s == "failed") done[c.value("id", "")] = c;
        }
        return done.size() == ids.size();
      },
      60s))
      << manager_->Api("GET", "/api/v1/agents/" + id + "/commands").second.dump() << "\n"
      << agent->Stderr();
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto& c = done[ids[i]];
    // completed = the agent answered status ok (failed otherwise); result = its output.
    EXPECT_EQ(c.value("state", ""), "completed") << queue[i].first << ": " << c.dump();
    EXPECT_TRUE(c["result"].is_object()) << queue[i].first << ": " << c.dump();
  }
  // Module health reaches the API with the heartbeat (docs/agent-protocol.md, status.modules).
  nlohmann::json health;
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& m : AgentDoc(id)["report"].value("modules", nlohmann::json::array())) {
          if (m.value("name", "") == "antimalware" && m.contains("health") &&
              m["health"]["counters"].value("scans", 0) >= 2) {
            health = AgentDoc(id)["report"]["modules"];
          }
        }
        return !health.is_null();
      },
      30s))
      << AgentDoc(id).dump();
  for (const auto& m : health) {
    ASSERT_TRUE(m.contains("health")) << m.dump();
    EXPECT_EQ(m["health"].value("state", ""), "ok") << m.dump();
    if (m["name"] == "integrity") {
      EXPECT_GE(m["health"]["counters"].value("files_watched", 0), 1) << m.dump();
      EXPECT_NE(m["health"]["counters"].value("realtime_backend", ""), "") << m.dump();
      EXPECT_TRUE(m["health"]["counters"].contains("queue_depth")) << m.dump();
    } else if (m["name"] == "antimalware") {
      EXPECT_EQ(m["health"]["counters"].value("clamav_signatures", 0), 1) << m.dump();
      EXPECT_FALSE(m["health"]["counters"].value("signature_version", "").empty()) << m.dump();
      EXPECT_TRUE(m["health"]["counters"].contains("signature_age_s")) << m.dump();
    }
  }
  const auto& given = done[ids.back()]["result"];
  EXPECT_EQ(given.value("infected", 0), 1) << given.dump();
  EXPECT_EQ(given.value("files", 0), 1) << given.dump();
  size_t argless_scan = 0;
  for (size_t i = 0; i < queue.size(); ++i) {
    if (queue[i].first == "antimalware.scan" && queue[i].second.empty()) argless_scan = i;
  }
  const auto& policy_paths = done[ids[argless_scan]]["result"];
  EXPECT_EQ(policy_paths["paths"], nlohmann::json::array({dir_.Sub("www")})) << policy_paths.dump();
  EXPECT_EQ(policy_paths.value("infected", -1), 0) << policy_paths.dump();
  // The scan's events, as a scheduled scan emits them, with scan_type on_demand.
  EXPECT_TRUE(agent->WaitForEvent(
      [&](const Json& e) {
        return StrField(e, "event.kind") == "alert" &&
               StrField(e, "file.path") == dir_.Sub("scan/eicar.txt") &&
               StrField(e, "antimalware.scan_type") == "on_demand";
      },
      10s))
      << agent->Transcript();
  EXPECT_TRUE(agent->WaitForEvent(
      [](const Json& e) {
        return StrField(e, "event.action") == "scan_finished" &&
               StrField(e, "antimalware.scan_type") == "on_demand";
      },
      10s));
  // A command the table does not have is refused by the API, not queued.
  auto [bad, body] = manager_->Api("POST", "/api/v1/agents/" + id + "/commands",
                                   {{"name", "antimalware.format_disk"}});
  EXPECT_EQ(bad, 400) << body.dump();
}

TEST_F(TransportE2e, ManagerKilledWhileTheAgentSpoolsLosesNothingAndStoresNothingTwice) {
  auto [tid, token] = NewToken("");
  std::string state = dir_.Sub("agent");
  ASSERT_EQ(Activate(state, token).exit_code, 0);
  auto agent = AgentProcess::Start(
      {"run", "--state-dir", state, "--debug-emit", "800", "--debug-emit-rate", "100"});
  ASSERT_NE(agent, nullptr);
  std::this_thread::sleep_for(2500ms);
  manager_->Kill();
  std::this_thread::sleep_for(3000ms);  // ~300 events spool up meanwhile
  ASSERT_TRUE(manager_->Start());
  std::vector<int64_t> seqs;
  ASSERT_TRUE(WaitFor(
      [&] {
        seqs = SyntheticSeqs();
        return seqs.size() >= 800;
      },
      40s))
      << seqs.size() << "\n"
      << agent->Stderr();
  bool dup = false;
  seqs = SyntheticSeqs(&dup);
  EXPECT_FALSE(dup);
  ASSERT_EQ(seqs.size(), 800u);
  for (int64_t i = 0; i < 800; ++i) ASSERT_EQ(seqs[static_cast<size_t>(i)], i);
  // The outage was noticed and reported.
  EXPECT_FALSE(manager_->AllEvents("&action=manager_unreachable").empty());
}

TEST_F(TransportE2e, AgentKilledUnderLoadLosesNothingItHadSpooled) {
  auto [tid, token] = NewToken("");
  std::string state = dir_.Sub("agent");
  ASSERT_EQ(Activate(state, token).exit_code, 0);
  {
    auto agent = AgentProcess::Start(
        {"run", "--state-dir", state, "--debug-emit", "100000", "--debug-emit-rate", "2000"});
    ASSERT_NE(agent, nullptr);
    std::this_thread::sleep_for(3000ms);
    agent->Kill();  // SIGKILL
  }
  // What the agent had taken: delivered already, or in its spool.
  std::set<int64_t> taken;
  for (int64_t s : SyntheticSeqs()) taken.insert(s);
  {
    auto db = SqliteDb::Open(state + "/transport/spool.db");
    ASSERT_TRUE(db.has_value());
    auto q = (*db)->Prepare("SELECT body FROM events");
    ASSERT_TRUE(q.has_value());
    while (*q->Step()) {
      auto e = nlohmann::json::parse(q->ColumnBlob(0));
      if (e["event"]["action"] == "debug_synthetic") {
        taken.insert(e["ward"]["debug"]["seq"].get<int64_t>());
      }
    }
  }
  ASSERT_GT(taken.size(), 1000u);
  auto agent = AgentProcess::Start({"run", "--state-dir", state});
  ASSERT_NE(agent, nullptr);
  std::vector<int64_t> seqs;
  ASSERT_TRUE(WaitFor(
      [&] {
        seqs = SyntheticSeqs();
        std::set<int64_t> have(seqs.begin(), seqs.end());
        return std::includes(have.begin(), have.end(), taken.begin(), taken.end());
      },
      60s))
      << seqs.size() << " of " << taken.size();
  bool dup = false;
  seqs = SyntheticSeqs(&dup);
  EXPECT_FALSE(dup);
  // In order: what reached the spool is a prefix 0..n-1 of what was emitted.
  for (size_t i = 0; i < seqs.size(); ++i) ASSERT_EQ(seqs[i], static_cast<int64_t>(i));
}

// Issue #18, agent groups: a running agent moved into a group gets the group's policy at its next
// heartbeat although both policies are at version 1 (the agent reports the id of the policy in
// force beside its version), and applies it (policy_applied names it).
TEST_F(TransportE2e, AnAgentMovedIntoAGroupRunsTheGroupsPolicyOfTheSameVersion) {
  std::filesystem::create_directories(dir_.Sub("etc"));  // the second policy watches it
  const std::string first = NewPolicy(PolicyDoc({dir_.Sub("www")}));
  const std::string second = NewPolicy(PolicyDoc({dir_.Sub("www"), dir_.Sub("etc")}), "group's");
  auto [gst, group] =
      manager_->Api("POST", "/api/v1/agent-groups", {{"name", "web"}, {"policy_id", second}});
  ASSERT_EQ(gst, 201) << group.dump();
  auto [tid, token] = NewToken(first);
  std::string state = dir_.Sub("agent");
  ASSERT_EQ(Activate(state, token).exit_code, 0);
  std::string id = AgentIdIn(state);
  auto agent = AgentProcess::Start({"run", "--state-dir", state});
  ASSERT_NE(agent, nullptr);
  ASSERT_TRUE(agent->WaitForEvent(Action("started"), 20s)) << agent->Stderr();
  ASSERT_TRUE(WaitFor([&] { return AgentDoc(id)["report"].value("policy_id", "") == first; }, 30s))
      << AgentDoc(id).dump();

  auto [pst, moved] =
      manager_->Api("PATCH", "/api/v1/agents/" + id, {{"group_id", group.value("id", "")}});
  ASSERT_EQ(pst, 200) << moved.dump();
  EXPECT_EQ(moved.value("policy_id", ""), second);
  ASSERT_TRUE(WaitFor([&] { return AgentDoc(id)["report"].value("policy_id", "") == second; }, 40s))
      << AgentDoc(id).dump() << agent->Stderr();
  EXPECT_EQ(AgentDoc(id)["report"].value("policy_version", 0), 1);
  EXPECT_TRUE(agent->WaitForEvent(
      [&](const Json& e) {
        return StrField(e, "event.action") == "policy_applied" &&
               StrField(e, "ward.policy.id") == second;
      },
      5s));
}

TEST_F(TransportE2e, RestartWithoutTheManagerRunsTheCachedPolicy) {
  auto [tid, token] = NewToken(NewPolicy(PolicyDoc({dir_.Sub("www")})));
  std::string state = dir_.Sub("agent");
  ASSERT_EQ(Activate(state, token).exit_code, 0);
  manager_->Kill();
  auto agent = AgentProcess::Start({"run", "--state-dir", state});
  ASSERT_NE(agent, nullptr);
  EXPECT_TRUE(agent->WaitForEvent(Action("started"), 20s)) << agent->Stderr();
  WriteFile(dir_.Sub("www/index.html"), "changed while the manager is down\n");
  EXPECT_TRUE(agent->WaitForEvent(ActionOn("modified", dir_.Sub("www/index.html")), 10s));
}

TEST_F(TransportE2e, ACopiedStateDirIsDetectedAndGetsANewIdentity) {
  auto [tid, token] = NewToken(NewPolicy(PolicyDoc({dir_.Sub("www")})));
  std::string state = dir_.Sub("agent");
  ::setenv("WARD_MACHINE_ID", "machine-original", 1);
  ASSERT_EQ(Activate(state, token).exit_code, 0);
  std::string original = AgentIdIn(state);
  std::filesystem::copy(state, dir_.Sub("clone"), std::filesystem::copy_options::recursive);
  ::setenv("WARD_MACHINE_ID", "machine-clone", 1);
  auto agent = AgentProcess::Start({"run", "--state-dir", dir_.Sub("clone")});
  ASSERT_NE(agent, nullptr);
  ASSERT_TRUE(WaitFor([&] { return AgentIdIn(dir_.Sub("clone")) != original; }, 20s))
      << agent->Stderr();
  std::string clone = AgentIdIn(dir_.Sub("clone"));
  ASSERT_TRUE(WaitFor([&] { return AgentDoc(clone).value("status", "") == "online"; }, 20s));
  EXPECT_EQ(AgentDoc(clone)["machine_id"], "machine-clone");
  EXPECT_EQ(AgentDoc(original)["machine_id"], "machine-original");
}

TEST_F(TransportE2e, EverythingGoesThroughSquidAndSurvivesItsRestart) {
  auto squid = Squid::Start(dir_.Sub("squid"), {manager_->port(), "ward", "pr0xy"});
  ASSERT_NE(squid, nullptr);
  auto [tid, token] = NewToken(NewPolicy(PolicyDoc({dir_.Sub("www")})));
  std::string state = dir_.Sub("agent");
  auto act = Activate(state, token, {"--proxy", squid->url()});
  ASSERT_EQ(act.exit_code, 0) << act.stderr_text;
  std::string id = AgentIdIn(state);
  auto agent = AgentProcess::Start(
      {"run", "--state-dir", state, "--debug-emit", "600", "--debug-emit-rate", "100"});
  ASSERT_NE(agent, nullptr);
  ASSERT_TRUE(WaitFor([&] { return AgentDoc(id).value("status", "") == "online"; }, 15s));
  std::this_thread::sleep_for(1500ms);
  squid->Stop();
  std::this_thread::sleep_for(2500ms);
  ASSERT_TRUE(squid->Restart());
  std::vector<int64_t> seqs;
  ASSERT_TRUE(WaitFor(
      [&] {
        seqs = SyntheticSeqs();
        return seqs.size() >= 600;
      },
      40s))
      << seqs.size() << "\n"
      << agent->Stderr();
  for (int64_t i = 0; i < 600; ++i) ASSERT_EQ(seqs[static_cast<size_t>(i)], i);
  EXPECT_FALSE(manager_->AllEvents("&action=proxy_error").empty());
  ASSERT_TRUE(WaitFor(
      [&] { return AgentDoc(id)["report"]["counters"].value("proxy_errors", 0) > 0; }, 25s));
  squid->Stop();
  EXPECT_NE(squid->AccessLog().find("CONNECT 127.0.0.1:" + std::to_string(manager_->port())),
            std::string::npos);
}

// With TestManager: arrival order and a policy that cannot be applied.
TEST(TransportTestManager, BatchesArriveInOrderAcrossAnOutageAndBadPolicyIsReported) {
  ::unsetenv("https_proxy");
  TempDir dir;
  auto cert = MakeTestCert(dir.Str(), "m");
  TestManager m(cert);
  m.Start();
  m.AddToken("wat_t");
  m.SetHeartbeatInterval(1);
  m.SetPolicy(1, {{"agent", {{"outputs", {{"file", false}}}}}});
  std::string state = dir.Sub("agent");
  auto act = RunAgentCommand(
      {"activate", "--manager", m.url(), "--token", "wat_t", "--state-dir", state}, 30s);
  ASSERT_EQ(act.exit_code, 0) << act.stderr_text;
  auto agent = AgentProcess::Start(
      {"run", "--state-dir", state, "--debug-emit", "500", "--debug-emit-rate", "100"});
  ASSERT_NE(agent, nullptr);
  std::this_thread::sleep_for(1500ms);
  m.FailEvents(503);
  std::this_thread::sleep_for(2000ms);
  m.FailEvents(0);
  // A policy the agent cannot apply: the previous one stays, the error is reported.
  m.SetPolicy(2, {{"integrity", {{"paths", {{{"path", "/x"}, {"recursive", "maybe"}}}}}}});
  auto synthetic = [&] {
    std::vector<int64_t> seqs;
    for (const auto& e : m.Events()) {
      if (e.doc["event"]["action"] == "debug_synthetic")
        seqs.push_back(e.doc["ward"]["debug"]["seq"].get<int64_t>());
    }
    return seqs;
  };
  ASSERT_TRUE(m.WaitUntil([&](const TestManager&) { return synthetic().size() >= 500; }, 30s))
      << synthetic().size() << "\n"
      << agent->Stderr();
  auto seqs = synthetic();
  ASSERT_EQ(seqs.size(), 500u);
  for (int64_t i = 0; i < 500; ++i) ASSERT_EQ(seqs[static_cast<size_t>(i)], i);  // arrival order
  ASSERT_TRUE(m.WaitUntil(
      [](const TestManager& t) {
        auto hb = t.Heartbeats();
        return !hb.empty() && hb.back()["status"].contains("policy_error");
      },
      10s));
  auto last = m.Heartbeats().back()["status"];
  EXPECT_EQ(last["policy_version"], 1);
  EXPECT_EQ(last["policy_error"]["version"], 2);
  EXPECT_NE(last["policy_error"]["message"].get<std::string>().find("recursive"),
            std::string::npos);
  EXPECT_GT(last["counters"]["batches_failed"].get<int>(), 0);
}

}  // namespace
}  // namespace ward::test
