#include "agent/updates/installer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <thread>

#include "agent/modules/antimalware/antimalware_module.h"
#include "agent/modules/antimalware/config.h"
#include "agent/modules/antimalware/engine.h"
#include "agent/updates/sync.h"
#include "common/clock.h"
#include "common/file_system.h"
#include "common/hash.h"
#include "testing/recording_sink.h"
#include "testing/temp_dir.h"

namespace ward::updates {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

KeyPair TestKey(unsigned char fill) {
  std::array<unsigned char, 32> seed{};
  seed.fill(fill);
  return KeyPairFromSeed(seed);
}

std::string Hex(std::string_view s) {
  std::string out;
  for (unsigned char c : s) out += fmt::format("{:02x}", c);
  return out;
}

// An .ndb body signature matching files that contain `marker`.
std::string NdbFor(std::string_view name, std::string_view marker) {
  return fmt::format("{}:0:*:{}\n", name, Hex(marker));
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The manager's side of /agent/v1/updates, in memory: signed manifests and files by SHA-256.
class FakeManager {
 public:
  explicit FakeManager(KeyPair key) : key_(key) {}

  // Publishes `files` as version `version` of `kind`; returns the offer a heartbeat would carry.
  Offer Publish(const std::string& kind, int64_t version,
                const std::map<std::string, std::string>& files) {
    Manifest m{kind, version, "2026-12-07T12:00:00Z", {}};
    for (const auto& [name, bytes] : files) {
      std::string sha = DigestHex(Sha256::Of(bytes));
      m.files.push_back({name, sha, bytes.size(), std::nullopt});
      blobs_[sha] = bytes;
    }
    SignedManifest s{SerializeManifest(m), ""};
    s.signature = Sign(s.manifest, key_);
    manifests_[{kind, version}] = s;
    return Offer{PublicKeyToBase64(key_.public_key), {{kind, version}}};
  }

  PostFn Post() {
    return [this](std::string_view path, std::string body) -> Result<std::pair<int, std::string>> {
      json b = json::parse(body);
      ++calls_;
      if (path == "/agent/v1/updates/manifest") {
        auto it = manifests_.find({b["kind"], b["version"]});
        if (it == manifests_.end()) return std::make_pair(404, std::string("{}"));
        return std::make_pair(200, SignedManifestToJson(it->second));
      }
      if (path == "/agent/v1/updates/file") {
        auto it = blobs_.find(b["sha256"]);
        if (it == blobs_.end()) return std::make_pair(404, std::string("{}"));
        ++files_served_;
        std::string bytes = it->second;
        if (truncate_) bytes.resize(bytes.size() / 2);
        return std::make_pair(200, bytes);
      }
      return std::make_pair(404, std::string("{}"));
    };
  }

  std::map<std::pair<std::string, int64_t>, SignedManifest> manifests_;
  std::map<std::string, std::string> blobs_;
  KeyPair key_;
  bool truncate_ = false;
  int calls_ = 0;
  int files_served_ = 0;
};

// Polls `cond` until it holds or the deadline passes (RecordingSink::WaitFor's predicate runs
// under the sink's lock, so it cannot count events itself).
bool WaitUntil(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Writes `n` files <dir>/<prefix><i>.txt holding `marker` from a child process (the real-time
// scanner ignores the agent's own process, as it must); after each file the child writes one
// byte to the returned pipe. Returns (pid, read end).
std::pair<pid_t, int> WriteFilesInChild(const fs::path& dir, std::string_view prefix,
                                        std::string_view marker, int n) {
  int fds[2];
  if (::pipe(fds) != 0) return {-1, -1};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    for (int i = 0; i < n; ++i) {
      std::string path = (dir / fmt::format("{}{}.txt", prefix, i)).string();
      std::string body = fmt::format("payload {} {} {}", i, marker, std::string(i % 97, 'x'));
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0 || ::write(fd, body.data(), body.size()) != static_cast<ssize_t>(body.size())) {
        ::_exit(1);
      }
      ::close(fd);
      char b = 1;
      if (::write(fds[1], &b, 1) != 1) ::_exit(1);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  return {pid, fds[0]};
}

int CountAction(const test::RecordingSink& sink, std::string_view action) {
  int n = 0;
  for (const auto& e : sink.Events()) n += e.GetString("event.action") == action;
  return n;
}

TEST(UpdateInstaller, StagesVerifiesAndActivatesThenReusesHeldFiles) {
  test::TempDir tmp;
  Installer inst(tmp.path());
  FakeManager mgr(TestKey(1));
  mgr.Publish("clamav", 1, {{"a.ndb", NdbFor("Ward.A", "WARD-A")}, {"b.hdb", "x:1:Y\n"}});
  auto m1 = ParseManifest(mgr.manifests_.at({"clamav", 1}).manifest);
  ASSERT_TRUE(m1.has_value());
  int fetched = 0;
  FetchFn fetch = [&](const FileEntry& f) -> Result<std::string> {
    ++fetched;
    return mgr.blobs_.at(f.sha256);
  };
  auto r = inst.Stage(*m1, fetch, nullptr);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(inst.Current("clamav"), 0);
  ASSERT_TRUE(inst.Activate("clamav", 1).has_value());
  EXPECT_EQ(inst.Current("clamav"), 1);
  EXPECT_EQ(ReadAll(ManagedDir(tmp.path(), "clamav") / "a.ndb"), NdbFor("Ward.A", "WARD-A"));
  struct stat st {};
  ASSERT_EQ(::stat((UpdatesRoot(tmp.path()) / "clamav" / "v1" / "a.ndb").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // v2 changes one file: only that one is fetched.
  mgr.Publish("clamav", 2, {{"a.ndb", NdbFor("Ward.A", "WARD-A")}, {"b.hdb", "x:2:Y\n"}});
  auto m2 = ParseManifest(mgr.manifests_.at({"clamav", 2}).manifest);
  fetched = 0;
  auto r2 = inst.Stage(*m2, fetch, nullptr);
  ASSERT_TRUE(r2.has_value()) << r2.error().ToString();
  EXPECT_EQ(fetched, 1);
  EXPECT_EQ(r2->files_reused, 1);
  auto before = inst.Activate("clamav", 2);
  ASSERT_TRUE(before.has_value());
  EXPECT_EQ(*before, 1);
  EXPECT_EQ(ReadAll(ManagedDir(tmp.path(), "clamav") / "b.hdb"), "x:2:Y\n");
  inst.Prune("clamav", 1);
  EXPECT_TRUE(fs::exists(UpdatesRoot(tmp.path()) / "clamav" / "v1"));
  inst.Prune("clamav", 2);
  EXPECT_FALSE(fs::exists(UpdatesRoot(tmp.path()) / "clamav" / "v1"));
}

TEST(UpdateInstaller, ATruncatedFileIsRefusedAndTheVersionInForceStays) {
  test::TempDir tmp;
  Installer inst(tmp.path());
  FakeManager mgr(TestKey(1));
  mgr.Publish("clamav", 1, {{"a.ndb", NdbFor("Ward.A", "WARD-A")}});
  auto m1 = ParseManifest(mgr.manifests_.at({"clamav", 1}).manifest);
  FetchFn fetch = [&](const FileEntry& f) -> Result<std::string> {
    return mgr.blobs_.at(f.sha256);
  };
  ASSERT_TRUE(inst.Stage(*m1, fetch, nullptr).has_value());
  ASSERT_TRUE(inst.Activate("clamav", 1).has_value());

  mgr.Publish("clamav", 2, {{"a.ndb", NdbFor("Ward.A", "WARD-A") + NdbFor("Ward.B", "WARD-B")}});
  auto m2 = ParseManifest(mgr.manifests_.at({"clamav", 2}).manifest);
  FetchFn truncated = [&](const FileEntry& f) -> Result<std::string> {
    std::string b = mgr.blobs_.at(f.sha256);
    b.resize(b.size() - 7);
    return b;
  };
  auto r = inst.Stage(*m2, truncated, nullptr);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kDataLoss);
  EXPECT_NE(r.error().message().find("truncated"), std::string::npos) << r.error().message();
  EXPECT_EQ(inst.Current("clamav"), 1);
  EXPECT_FALSE(fs::exists(UpdatesRoot(tmp.path()) / "clamav" / "v2.partial"));
  EXPECT_FALSE(fs::exists(UpdatesRoot(tmp.path()) / "clamav" / "v2"));

  FetchFn corrupted = [&](const FileEntry& f) -> Result<std::string> {
    std::string b = mgr.blobs_.at(f.sha256);
    b[0] ^= 1;
    return b;
  };
  auto c = inst.Stage(*m2, corrupted, nullptr);
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message().find("SHA-256"), std::string::npos);
  EXPECT_EQ(ReadAll(ManagedDir(tmp.path(), "clamav") / "a.ndb"), NdbFor("Ward.A", "WARD-A"));
}

TEST(UpdateInstaller, HostileNamesNeverWriteOutsideTheStateDir) {
  test::TempDir tmp;
  Installer inst(tmp.path() / "state");
  Manifest m{"clamav", 1, "x", {{"../../escape.hdb", std::string(64, 'a'), 1, std::nullopt}}};
  auto r = inst.Stage(
      m, [](const FileEntry&) -> Result<std::string> { return std::string("x"); }, nullptr);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(tmp.path() / "escape.hdb"));
  EXPECT_FALSE(fs::exists(tmp.path() / "state" / "escape.hdb"));
  EXPECT_FALSE(fs::exists(tmp.path() / "state" / "updates" / "escape.hdb"));
}

TEST(UpdateInstaller, TheFirstKeyIsPinnedAndAnotherIsRefused) {
  test::TempDir tmp;
  Installer inst(tmp.path());
  const std::string k1 = PublicKeyToBase64(TestKey(1).public_key);
  const std::string k2 = PublicKeyToBase64(TestKey(2).public_key);
  ASSERT_TRUE(inst.PinKey(k1).has_value());
  EXPECT_TRUE(inst.PinKey(k1).has_value());
  auto r = inst.PinKey(k2);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kPermissionDenied);
  // A restarted agent keeps the pin.
  Installer again(tmp.path());
  EXPECT_FALSE(again.PinKey(k2).has_value());
}

TEST(UpdateSync, AWrongSignatureIsRefusedWithAnEventAndNotRetried) {
  test::TempDir tmp;
  test::RecordingSink sink;
  int reloads = 0;
  UpdateSync sync(tmp.path(), sink, SystemClock(), nullptr, [&](std::string_view) {
    ++reloads;
    return Status::Ok();
  });
  FakeManager mgr(TestKey(1));
  Offer o1 = mgr.Publish("clamav", 1, {{"a.ndb", NdbFor("Ward.A", "WARD-A")}});
  ASSERT_TRUE(sync.Apply(o1, {"clamav"}, mgr.Post()));
  EXPECT_EQ(reloads, 1);
  EXPECT_EQ(CountAction(sink, "update_applied"), 1);

  // v2's manifest signed by another key (a compromised relay or storage): refused.
  Offer o2 = mgr.Publish("clamav", 2, {{"a.ndb", NdbFor("Ward.B", "WARD-B")}});
  auto& sm = mgr.manifests_.at({"clamav", 2});
  sm.signature = Sign(sm.manifest, TestKey(9));
  EXPECT_FALSE(sync.Apply(o2, {"clamav"}, mgr.Post()));
  EXPECT_EQ(reloads, 1);
  EXPECT_EQ(Installer(tmp.path()).Current("clamav"), 1);
  auto rejected =
      sink.WaitFor([](const Event& e) { return e.GetString("event.action") == "update_rejected"; });
  ASSERT_TRUE(rejected.has_value());
  EXPECT_EQ(rejected->Get("ward.update.version"), 2);
  EXPECT_EQ(rejected->Get("ward.update.previous_version"), 1);
  EXPECT_NE(rejected->GetString("error.message").find("signature"), std::string::npos);
  EXPECT_EQ(sync.StatusJson()["clamav"]["version"], 1);
  // The same version is not fetched again at the next heartbeat.
  int calls = mgr.calls_;
  EXPECT_FALSE(sync.Apply(o2, {"clamav"}, mgr.Post()));
  EXPECT_EQ(mgr.calls_, calls);
  EXPECT_EQ(CountAction(sink, "update_rejected"), 1);

  // A manifest signed right but with a tampered signature text: refused too.
  Offer o3 = mgr.Publish("clamav", 3, {{"a.ndb", NdbFor("Ward.C", "WARD-C")}});
  auto& sm3 = mgr.manifests_.at({"clamav", 3});
  sm3.manifest.replace(sm3.manifest.find("\"version\":3"), 11, "\"version\":3 ");
  EXPECT_FALSE(sync.Apply(o3, {"clamav"}, mgr.Post()));
  EXPECT_EQ(CountAction(sink, "update_rejected"), 2);
  EXPECT_EQ(Installer(tmp.path()).Current("clamav"), 1);
}

TEST(UpdateSync, ATruncatedDownloadIsRefusedAndAKindThePolicyDoesNotUseIsNotFetched) {
  test::TempDir tmp;
  test::RecordingSink sink;
  UpdateSync sync(tmp.path(), sink, SystemClock(), nullptr, nullptr);
  FakeManager mgr(TestKey(1));
  Offer o = mgr.Publish("clamav", 1, {{"a.ndb", NdbFor("Ward.A", "WARD-A")}});
  EXPECT_FALSE(sync.Apply(o, {"yara"}, mgr.Post()));
  EXPECT_EQ(mgr.calls_, 0);
  mgr.truncate_ = true;
  EXPECT_FALSE(sync.Apply(o, {"clamav"}, mgr.Post()));
  auto rejected =
      sink.WaitFor([](const Event& e) { return e.GetString("event.action") == "update_rejected"; });
  ASSERT_TRUE(rejected.has_value());
  EXPECT_NE(rejected->GetString("error.message").find("truncated"), std::string::npos);
  EXPECT_EQ(Installer(tmp.path()).Current("clamav"), 0);
}

TEST(UpdateSync, AReloadThatFailsPutsThePreviousVersionBack) {
  test::TempDir tmp;
  test::RecordingSink sink;
  bool fail = false;
  UpdateSync sync(tmp.path(), sink, SystemClock(), nullptr, [&](std::string_view) {
    return fail ? InvalidArgument("antimalware: cannot load") : Status::Ok();
  });
  FakeManager mgr(TestKey(1));
  ASSERT_TRUE(sync.Apply(mgr.Publish("clamav", 1, {{"a.ndb", "x"}}), {"clamav"}, mgr.Post()));
  fail = true;
  EXPECT_FALSE(sync.Apply(mgr.Publish("clamav", 2, {{"a.ndb", "y"}}), {"clamav"}, mgr.Post()));
  EXPECT_EQ(Installer(tmp.path()).Current("clamav"), 1);
  EXPECT_EQ(ReadAll(ManagedDir(tmp.path(), "clamav") / "a.ndb"), "x");
  EXPECT_FALSE(fs::exists(UpdatesRoot(tmp.path()) / "clamav" / "v2"));
}

TEST(UpdateFormat, AntimalwarePoliciesNameManagedBundles) {
  auto parse = [](std::string_view dbs) {
    auto doc = ConfigNode::FromYaml(fmt::format("antimalware: {{databases: {}}}", dbs), "p.yaml");
    return agent::antimalware::ParseAntimalwareConfig(*doc->Find("antimalware"));
  };
  auto ok = parse("[managed:clamav, managed:yara, /var/lib/clamav]");
  ASSERT_TRUE(ok.has_value()) << ok.error().ToString();
  auto resolved = agent::antimalware::ResolveDatabases(ok->databases, "/s");
  EXPECT_EQ(resolved, (std::vector<std::string>{"/s/updates/clamav/current",
                                                "/s/updates/yara/current", "/var/lib/clamav"}));
  auto crs = parse("[managed:crs]");
  ASSERT_FALSE(crs.has_value());
  EXPECT_NE(crs.error().message().find("managed:clamav or managed:yara"), std::string::npos);
  EXPECT_FALSE(parse("[managed:../../etc]").has_value());
  EXPECT_FALSE(parse("[relative/dir]").has_value());
}

TEST(UpdateFormat, LibClamAvRefusesABrokenOrTruncatedCvd) {
  test::TempDir tmp;
  // A CVD header (512 bytes) with a signature that is not ClamAV's, then no archive.
  std::string header =
      "ClamAV-VDB:07 Dec 2026 12-00 +0000:27000:100:90:"
      "00000000000000000000000000000000:AAAA:ward:1765108800";
  header.resize(512, ' ');
  test::WriteFile(tmp.Sub("daily.cvd"), header + std::string(100, '\0'));
  Status s = agent::antimalware::VerifyDatabaseFile(tmp.path() / "daily.cvd");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("daily.cvd: libclamav refuses it"), std::string::npos) << s.message();
  test::WriteFile(tmp.Sub("short.cld"), "ClamAV-VDB:07");
  EXPECT_FALSE(agent::antimalware::VerifyDatabaseFile(tmp.path() / "short.cld").ok());
  test::WriteFile(tmp.Sub("broken.yar"), "rule x { strings: $a = \"x\" condition: $b }");
  EXPECT_FALSE(agent::antimalware::VerifyDatabaseFile(tmp.path() / "broken.yar").ok());
  test::WriteFile(tmp.Sub("ok.yar"), "rule ok { strings: $a = \"WARD\" condition: $a }");
  EXPECT_TRUE(agent::antimalware::VerifyDatabaseFile(tmp.path() / "ok.yar").ok());
}

// The engine swap under a running real-time scan (real fanotify, root): files carrying the old
// signature are written without pause while the update to a new database lands; every one of
// them is detected (the old engine serves until the new one has compiled), and files carrying
// the new signature are detected after the swap.
TEST(UpdateSwap, RealtimeScanMissesNothingWhileTheEngineIsSwapped) {
  if (::geteuid() != 0) GTEST_SKIP() << "fanotify needs root";
  test::TempDir tmp;
  const fs::path state = tmp.path() / "state";
  const fs::path watched = tmp.path() / "watched";
  fs::create_directories(state);
  fs::create_directories(watched);
  test::RecordingSink sink;
  FakeManager mgr(TestKey(1));
  agent::ModuleContext ctx{sink, RealFileSystem(), SystemClock(), state};
  auto module = agent::antimalware::Create(ctx);
  auto policy =
      ConfigNode::FromYaml(fmt::format("antimalware: {{databases: [managed:clamav], action: log, "
                                       "realtime: {{paths: [{}], mode: detect}}}}",
                                       watched.string()),
                           "policy.yaml");
  ASSERT_TRUE(policy.has_value()) << policy.error().ToString();
  std::mutex host_mu;
  UpdateSync sync(
      state, sink, SystemClock(),
      [](std::string_view, const fs::path& f) { return agent::antimalware::VerifyDatabaseFile(f); },
      [&](std::string_view) {
        std::lock_guard lock(host_mu);
        return module->Configure(*policy->Find("antimalware"), *policy);
      });
  // v1: signature A only. (An agent applies the update before the policy that uses it.)
  ASSERT_TRUE(
      sync.Apply(mgr.Publish("clamav", 1, {{"ward.ndb", NdbFor("Ward.Test.A", "WARD-SIG-A")}}),
                 {"clamav"}, mgr.Post()));
  std::jthread run([&](std::stop_token st) { module->Run(st); });
  // Detections of signature `sig` in files named <prefix>*.
  auto detected = [&](std::string_view sig, std::string_view prefix) {
    int n = 0;
    for (const auto& e : sink.Events()) {
      n += e.GetString("event.kind") == "alert" && e.GetString("rule.name") == sig &&
           fs::path(e.GetString("file.path")).filename().string().starts_with(prefix);
    }
    return n;
  };
  // Real-time is up once a probe file is detected.
  bool up = false;
  for (int i = 0; i < 100 && !up; ++i) {
    auto [pid, rd] = WriteFilesInChild(watched, fmt::format("probe{}-", i), "WARD-SIG-A", 1);
    ASSERT_GT(pid, 0);
    char done = 0;
    ASSERT_EQ(::read(rd, &done, 1), 1);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(rd);
    up = WaitUntil([&] { return detected("Ward.Test.A", "probe") > 0; },
                   std::chrono::milliseconds(100));
  }
  if (!up) {
    for (const auto& e : sink.Events()) ADD_FAILURE() << e.ToJson();
  }
  ASSERT_TRUE(up) << "real-time scanning did not start";

  constexpr int kOldFiles = 400;
  auto [writer, progress] = WriteFilesInChild(watched, "a", "WARD-SIG-A", kOldFiles);
  ASSERT_GT(writer, 0);
  int written = 0;
  char b = 0;
  while (written < kOldFiles / 4 && ::read(progress, &b, 1) == 1) ++written;
  // v2 = A + B, applied while the writer goes on.
  ASSERT_TRUE(sync.Apply(mgr.Publish("clamav", 2,
                                     {{"ward.ndb", NdbFor("Ward.Test.A", "WARD-SIG-A") +
                                                       NdbFor("Ward.Test.B", "WARD-SIG-B")}}),
                         {"clamav"}, mgr.Post()));
  const int written_at_swap = written;
  while (::read(progress, &b, 1) == 1) ++written;
  ::close(progress);
  int status = 0;
  ::waitpid(writer, &status, 0);
  ASSERT_EQ(written, kOldFiles);
  EXPECT_LT(written_at_swap + 1, kOldFiles) << "the swap did not happen under load";
  constexpr int kNewFiles = 50;
  auto [writer_b, progress_b] = WriteFilesInChild(watched, "b", "WARD-SIG-B", kNewFiles);
  ASSERT_GT(writer_b, 0);
  while (::read(progress_b, &b, 1) == 1) {
  }
  ::close(progress_b);
  ::waitpid(writer_b, &status, 0);
  bool all = WaitUntil(
      [&] {
        return detected("Ward.Test.A", "a") == kOldFiles &&
               detected("Ward.Test.B", "b") == kNewFiles;
      },
      std::chrono::seconds(60));
  EXPECT_TRUE(all) << "A: " << detected("Ward.Test.A", "a") << "/" << kOldFiles
                   << ", B: " << detected("Ward.Test.B", "b") << "/" << kNewFiles;
  if (!all) {
    for (const auto& e : sink.Events()) {
      std::string f = fs::path(e.GetString("file.path")).filename().string();
      if (f.starts_with("b") || e.Module() != "antimalware" || e.GetString("event.kind") != "alert")
        ADD_FAILURE() << e.ToJson();
    }
  }
  EXPECT_EQ(CountAction(sink, "update_applied"), 2);
  EXPECT_EQ(CountAction(sink, "scan_error"), 0);
  EXPECT_EQ(CountAction(sink, "database_loaded"), 2);
  run.request_stop();
}

}  // namespace
}  // namespace ward::updates
