// The real `ward-manager` binary: init, serve (self-signed certificate and its fingerprint),
// migrate, retention --run-now; and two `serve` processes on one PostgreSQL / MariaDB database
// that both serve requests while only one node runs each background job.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "manager/services/tls.h"
#include "manager/store/scratch_database.h"
#include "tests/manager_harness.h"

namespace ward::test {
namespace {

// The binary this build made (set by tests/manager.cmake), else $WARD_BINARY_DIR/bin.
std::string ManagerBinary() {
#ifdef WARD_MANAGER_BINARY
  return WARD_MANAGER_BINARY;
#else
  const char* dir = std::getenv("WARD_BINARY_DIR");
  return std::string(dir != nullptr ? dir : ".") + "/bin/ward-manager";
#endif
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A child process with stdout and stderr in files; killed on destruction.
class Process {
 public:
  Process(const std::vector<std::string>& args, const std::string& out, const std::string& err)
      : out_(out), err_(err) {
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(o, 1);
      dup2(e, 2);
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~Process() { Kill(SIGKILL); }
  void Kill(int sig) {
    if (pid_ > 0) {
      ::kill(pid_, sig);
      int st = 0;
      waitpid(pid_, &st, 0);
      pid_ = -1;
    }
  }
  int Wait() {
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  std::string Out() const { return ReadAll(out_); }
  std::string Err() const { return ReadAll(err_); }
  // Waits until stdout matches `re`; returns the first group ("" on timeout).
  std::string WaitOut(const std::string& re, std::chrono::seconds timeout) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::regex r(re);
    while (std::chrono::steady_clock::now() < deadline) {
      std::smatch m;
      std::string o = Out();
      if (std::regex_search(o, m, r)) return m.size() > 1 ? m[1].str() : m[0].str();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return "";
  }
  bool WaitErr(const std::string& needle, std::chrono::seconds timeout) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (Err().find(needle) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

 private:
  pid_t pid_ = -1;
  std::string out_, err_;
};

std::string RunToEnd(const std::vector<std::string>& args, const TempDir& dir, int* rc) {
  static int n = 0;
  std::string out = dir.Sub("run" + std::to_string(++n) + ".out");
  Process p(args, out, out + ".err");
  *rc = p.Wait();
  return p.Out() + p.Err();
}

std::string InitKey(const std::string& db, const TempDir& dir) {
  int rc = -1;
  std::string out = RunToEnd({ManagerBinary(), "init", "--db", db, "--json"}, dir, &rc);
  EXPECT_EQ(rc, 0) << out;
  Json j = Json::parse(out.substr(0, out.find('\n')), nullptr, false);
  return j.is_object() ? j.value("api_key", "") : "";
}

TEST(ManagerProcess, InitServeWithSelfSignedCertificateMigrateAndRetention) {
  TempDir dir;
  std::string db = "sqlite:" + dir.Sub("m.db");
  int rc = -1;
  // serve refuses an uninitialised database with a clear message.
  std::string out = RunToEnd({ManagerBinary(), "serve", "--db", db, "--listen", "127.0.0.1:0",
                              "--state-dir", dir.Sub("state")},
                             dir, &rc);
  EXPECT_EQ(rc, 2);
  EXPECT_NE(out.find("ward-manager init"), std::string::npos) << out;
  std::string key = InitKey(db, dir);
  ASSERT_TRUE(key.starts_with("wak_")) << key;
  // A second init refuses (the key is shown once only).
  out = RunToEnd({ManagerBinary(), "init", "--db", db}, dir, &rc);
  EXPECT_EQ(rc, 2);
  EXPECT_NE(out.find("already initialised"), std::string::npos) << out;

  std::string fp1;
  for (int round = 0; round < 2; ++round) {
    Process serve({ManagerBinary(), "serve", "--db", db, "--listen", "127.0.0.1:0", "--state-dir",
                   dir.Sub("state")},
                  dir.Sub("serve" + std::to_string(round) + ".out"),
                  dir.Sub("serve" + std::to_string(round) + ".err"));
    std::string port =
        serve.WaitOut(R"(listening: https://127\.0\.0\.1:(\d+))", std::chrono::seconds(30));
    ASSERT_FALSE(port.empty()) << serve.Out() << serve.Err();
    std::string fp = serve.WaitOut(R"(fingerprint: ([0-9a-f]{64}))", std::chrono::seconds(1));
    ASSERT_EQ(fp.size(), 64u) << serve.Out();
    auto file_fp = manager::CertificateFingerprint(dir.Sub("state/tls/cert.pem"));
    ASSERT_TRUE(file_fp);
    EXPECT_EQ(fp, *file_fp);
    if (round == 0)
      fp1 = fp;
    else
      EXPECT_EQ(fp, fp1) << "the certificate is made once and kept";
    Reply r = Call(std::stoi(port), dir.Sub("state/tls/cert.pem"), "GET", "/api/v1/settings", key);
    EXPECT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.body["event_retention_days"], 91);
    serve.Kill(SIGTERM);
  }
  out = RunToEnd({ManagerBinary(), "migrate", "--db", db}, dir, &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("schema version"), std::string::npos) << out;
  out = RunToEnd({ManagerBinary(), "retention", "--db", db, "--run-now"}, dir, &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("deleted 0 events over 1 tenants"), std::string::npos) << out;
  out = RunToEnd({ManagerBinary(), "serve", "--db", db, "--listen", "nonsense", "--state-dir",
                  dir.Sub("state")},
                 dir, &rc);
  EXPECT_EQ(rc, 2);
  EXPECT_NE(out.find("--listen"), std::string::npos) << out;
}

TEST(ManagerProcess, ServesWithTheOperatorsCertificate) {
  TempDir dir;
  std::string db = "sqlite:" + dir.Sub("m.db");
  std::string key = InitKey(db, dir);
  auto tls = manager::EnsureSelfSignedCertificate(dir.Sub("own"), "own-host");
  ASSERT_TRUE(tls);
  Process serve(
      {ManagerBinary(), "serve", "--db", db, "--listen", "127.0.0.1:0", "--tls-cert",
       tls->cert.string(), "--tls-key", tls->key.string(), "--state-dir", dir.Sub("state")},
      dir.Sub("s.out"), dir.Sub("s.err"));
  std::string port =
      serve.WaitOut(R"(listening: https://127\.0\.0\.1:(\d+))", std::chrono::seconds(30));
  ASSERT_FALSE(port.empty()) << serve.Err();
  EXPECT_EQ(serve.WaitOut(R"(fingerprint: ([0-9a-f]{64}))", std::chrono::seconds(1)),
            *manager::CertificateFingerprint(tls->cert));
  EXPECT_EQ(Call(std::stoi(port), tls->cert.string(), "GET", "/api/v1/policies", key).status, 200);
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("state/tls/cert.pem")));
}

class ManagerTwoNodes : public ::testing::TestWithParam<manager::Dialect> {};

TEST_P(ManagerTwoNodes, BothServeRequestsAndOneRunsEachJob) {
  auto scratch = manager::ScratchDatabase::Create(GetParam());
  ASSERT_TRUE(scratch) << scratch.error().ToString();
  const std::string db = (*scratch)->url();
  TempDir dir;
  std::string key = InitKey(db, dir);
  ASSERT_FALSE(key.empty());
  auto tls = manager::EnsureSelfSignedCertificate(dir.path(), "shared");
  ASSERT_TRUE(tls);
  auto start = [&](const std::string& name) {
    return std::make_unique<Process>(
        std::vector<std::string>{ManagerBinary(), "serve", "--db", db, "--listen", "127.0.0.1:0",
                                 "--tls-cert", tls->cert.string(), "--tls-key", tls->key.string(),
                                 "--job-tick", "1s", "--lease-ttl", "4s",
                                 // One state dir for both, as nodes on one database share
                                 // manager.key (and never the host's /var/lib/ward-manager).
                                 "--state-dir", dir.Sub("state")},
        dir.Sub(name + ".out"), dir.Sub(name + ".err"));
  };
  auto n1 = start("n1");
  auto n2 = start("n2");
  std::string p1 =
      n1->WaitOut(R"(listening: https://127\.0\.0\.1:(\d+))", std::chrono::seconds(30));
  std::string p2 =
      n2->WaitOut(R"(listening: https://127\.0\.0\.1:(\d+))", std::chrono::seconds(30));
  ASSERT_FALSE(p1.empty()) << n1->Err();
  ASSERT_FALSE(p2.empty()) << n2->Err();
  const std::string cert = tls->cert.string();
  // Both nodes serve every request: what one writes the other reads.
  Reply r = Call(std::stoi(p1), cert, "POST", "/api/v1/policies", key,
                 Json{{"name", "shared"}, {"document", ValidPolicyDocument()}}.dump());
  ASSERT_EQ(r.status, 201) << r.raw;
  std::string pid = r.body["id"];
  r = Call(std::stoi(p2), cert, "GET", "/api/v1/policies/" + pid, key);
  EXPECT_EQ(r.status, 200) << r.raw;
  r = Call(std::stoi(p2), cert, "PATCH", "/api/v1/policies/" + pid, key,
           Json{{"name", "renamed"}}.dump());
  EXPECT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(Call(std::stoi(p1), cert, "GET", "/api/v1/policies/" + pid, key).body["version"], 2);
  // Jobs: each job's lease is held by exactly one node for several ticks.
  for (const char* job : {"retention", "offline", "cleanup"}) {
    std::string needle = std::string("job ") + job + ": node ";
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline &&
           n1->Err().find(needle) == std::string::npos &&
           n2->Err().find(needle) == std::string::npos) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  std::this_thread::sleep_for(std::chrono::seconds(3));  // several more ticks on both nodes
  Process* holder[3] = {};
  const char* jobs[3] = {"retention", "offline", "cleanup"};
  for (int i = 0; i < 3; ++i) {
    std::string held = std::string("job ") + jobs[i] + ": node ";
    bool on1 = n1->Err().find(held) != std::string::npos;
    bool on2 = n2->Err().find(held) != std::string::npos;
    EXPECT_TRUE(on1 != on2) << jobs[i] << " held by " << (on1 ? "n1 " : "") << (on2 ? "n2" : "")
                            << "\n"
                            << n1->Err() << "\n---\n"
                            << n2->Err();
    holder[i] = on1 ? n1.get() : n2.get();
  }
  std::string ran = "job retention ran on";
  EXPECT_NE((holder[0] == n1.get() ? n1 : n2)->Err().find(ran), std::string::npos);
  EXPECT_EQ((holder[0] == n1.get() ? n2 : n1)->Err().find(ran), std::string::npos);
  // The holder of retention dies without releasing: after the lease expires the other node
  // takes the job over.
  Process* dead = holder[0];
  Process* alive = dead == n1.get() ? n2.get() : n1.get();
  dead->Kill(SIGKILL);
  EXPECT_TRUE(alive->WaitErr("job retention: node ", std::chrono::seconds(20))) << alive->Err();
  EXPECT_TRUE(alive->WaitErr(ran, std::chrono::seconds(10))) << alive->Err();
  int alive_port = std::stoi(alive == n1.get() ? p1 : p2);
  EXPECT_EQ(Call(alive_port, cert, "GET", "/api/v1/policies/" + pid, key).status, 200);
}

INSTANTIATE_TEST_SUITE_P(Databases, ManagerTwoNodes,
                         ::testing::Values(manager::Dialect::kPostgres, manager::Dialect::kMysql),
                         [](const auto& info) {
                           return info.param == manager::Dialect::kPostgres ? "PostgreSQL"
                                                                            : "MySQL";
                         });

}  // namespace
}  // namespace ward::test
