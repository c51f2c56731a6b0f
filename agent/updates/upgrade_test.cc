// Agent upgrades from the manager (docs/updates.md, "Agent upgrades"): the signed package
// manifest, and AgentUpgrade with an in-memory manager and a real detached installer process
// (a shell script standing in for dpkg, which records what it was given and where it ran).
#include "agent/updates/upgrade.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "common/hash.h"
#include "testing/fake_clock.h"
#include "testing/recording_sink.h"
#include "testing/temp_dir.h"

namespace ward::updates {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

KeyPair TestKey(unsigned char fill) {
  std::array<unsigned char, 32> seed{};
  seed.fill(fill);
  return KeyPairFromSeed(seed);
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Waits (with a deadline, no fixed sleep) until `p` exists.
bool WaitForFile(const fs::path& p, std::chrono::seconds limit = std::chrono::seconds(20)) {
  auto end = std::chrono::steady_clock::now() + limit;
  std::error_code ec;
  while (!fs::exists(p, ec)) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

PackageManifest ManifestFor(std::string_view version, std::string_view bytes) {
  PackageManifest m;
  m.version = std::string(version);
  m.arch = "amd64";
  m.file = fmt::format("ward-agent_{}_amd64.deb", version);
  m.sha256 = DigestHex(Sha256::Of(bytes));
  m.size = bytes.size();
  return m;
}

json OfferJson(const PackageManifest& m, const KeyPair& key) {
  std::string text = SerializePackageManifest(m);
  return {{"version", m.version}, {"manifest", text}, {"signature", Sign(text, key)}};
}

// The manager's side of the agent channel: the package bytes by file name, and a call log.
struct FakeManager {
  std::map<std::string, std::string> packages;
  int status = 200;
  int calls = 0;
  PostFn Post() {
    return [this](std::string_view path, std::string body) -> Result<std::pair<int, std::string>> {
      ++calls;
      EXPECT_EQ(path, "/agent/v1/upgrade/package");
      json req = json::parse(body);
      if (status != 200) return std::pair<int, std::string>{status, "unavailable"};
      auto it = packages.find(req.value("file", ""));
      if (it == packages.end()) return std::pair<int, std::string>{404, "no such package"};
      return std::pair<int, std::string>{200, it->second};
    };
  }
};

class AgentUpgradeTest : public ::testing::Test {
 protected:
  // The installer stand-in: records its package argument, a copy of the package, its session
  // id and its parent, then exits with `exit_code`.
  UpgradeOptions Options(int exit_code = 0) {
    UpgradeOptions o;
    o.state_dir = state_.path();
    o.running_version = "0.1.0";
    o.use_systemd = false;
    const fs::path out = work_.path();
    o.install_command = {
        "/bin/sh", "-c",
        fmt::format("echo \"$1\" > {0}/arg; cp \"$1\" {0}/installed.deb; "
                    "awk '{{print $6}}' /proc/$$/stat > {0}/sid; echo installing; exit {1}",
                    out.string(), exit_code),
        "sh"};
    return o;
  }
  fs::path UpgradeDir() const { return state_.path() / "upgrade"; }

  ward::test::TempDir state_;
  ward::test::TempDir work_;
  ward::test::RecordingSink sink_;
  ward::test::FakeClock clock_;
  KeyPair key_ = TestKey(7);
  FakeManager manager_;
};

TEST(PackageManifest, RoundTripsAndNamesTheBadField) {
  PackageManifest m = ManifestFor("0.1.0+upgradetest1", "package bytes");
  auto parsed = ParsePackageManifest(SerializePackageManifest(m));
  ASSERT_TRUE(parsed) << parsed.error().ToString();
  EXPECT_EQ(parsed->file, "ward-agent_0.1.0+upgradetest1_amd64.deb");
  EXPECT_EQ(parsed->sha256, m.sha256);
  EXPECT_EQ(parsed->size, 13u);
  struct Case {
    const char* field;
    json value;
  };
  for (const Case& c : std::vector<Case>{{"format", "ward-update-bundle/1"},
                                         {"name", "ward-manager"},
                                         {"version", "../../etc"},
                                         {"version", "x1"},
                                         {"arch", "amd64/.."},
                                         {"file", "../ward-agent_0.1.0_amd64.deb"},
                                         {"file", "ward-agent_0.2.0_amd64.deb"},
                                         {"sha256", "ABC"},
                                         {"size", 0},
                                         {"size", -1}}) {
    json j = json::parse(SerializePackageManifest(m));
    j[c.field] = c.value;
    auto e = ParsePackageManifest(j.dump());
    ASSERT_FALSE(e.has_value()) << c.field << "=" << c.value.dump();
    EXPECT_NE(e.error().message().find(c.field), std::string::npos) << e.error().message();
  }
  EXPECT_FALSE(ParsePackageManifest("not json").has_value());
  // The signature and the offered version are checked before anything else is used.
  SignedManifest s{SerializePackageManifest(m), Sign(SerializePackageManifest(m), TestKey(1))};
  EXPECT_TRUE(VerifyPackageManifest(s, TestKey(1).public_key, m.version).has_value());
  auto other = VerifyPackageManifest(s, TestKey(2).public_key, m.version);
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().code(), StatusCode::kPermissionDenied);
  EXPECT_FALSE(VerifyPackageManifest(s, TestKey(1).public_key, "0.9.9").has_value());
  // Bytes: size first, then the hash.
  EXPECT_TRUE(CheckPackageBytes(m, "package bytes").ok());
  EXPECT_EQ(CheckPackageBytes(m, "package byte").code(), StatusCode::kDataLoss);
  EXPECT_EQ(CheckPackageBytes(m, "package bytez").code(), StatusCode::kDataLoss);
}

TEST_F(AgentUpgradeTest, AVerifiedPackageIsInstalledDetachedAndTheNewAgentReportsDone) {
  const std::string deb = "!<arch>\nthe new agent package";
  PackageManifest m = ManifestFor("0.2.0", deb);
  manager_.packages[m.file] = deb;
  {
    AgentUpgrade up(Options(), sink_, clock_);
    EXPECT_EQ(up.StatusJson(), json::object());
    auto offer = ParseUpgradeOffer(OfferJson(m, key_));
    ASSERT_TRUE(offer) << offer.error().ToString();
    up.Apply(*offer, PublicKeyToBase64(key_.public_key), manager_.Post());
    EXPECT_EQ(up.StatusJson().value("state", ""), "installing") << up.StatusJson().dump();
    EXPECT_EQ(up.StatusJson().value("version", ""), "0.2.0");
    ASSERT_TRUE(WaitForFile(UpgradeDir() / "exit_status"))
        << ReadFile(UpgradeDir() / "install.log");
    EXPECT_EQ(ReadFile(UpgradeDir() / "exit_status"), "0\n");
    // The installer got the verified package, ran in a session of its own (so the agent's
    // restart by the package cannot take it down), and its output went to the log.
    EXPECT_EQ(ReadFile(work_.path() / "arg"), (UpgradeDir() / m.file).string() + "\n");
    EXPECT_EQ(ReadFile(work_.path() / "installed.deb"), deb);
    const std::string sid = ReadFile(work_.path() / "sid");
    EXPECT_NE(sid, std::to_string(::getsid(0)) + "\n");
    EXPECT_NE(sid, std::to_string(::getpid()) + "\n");
    EXPECT_EQ(ReadFile(UpgradeDir() / "install.log"), "installing\n");
    auto started = sink_.WaitFor(
        [](const Event& e) { return e.Get("event.action") == "agent_upgrade_started"; });
    ASSERT_TRUE(started);
    EXPECT_EQ(started->Get("file.hash.sha256"), m.sha256);
    // The same offer again while it installs: nothing fetched twice.
    up.Apply(*offer, PublicKeyToBase64(key_.public_key), manager_.Post());
    EXPECT_EQ(manager_.calls, 1);
  }
  // The package restarted the agent: the new one (0.2.0) reports done and cleans up.
  UpgradeOptions after = Options();
  after.running_version = "0.2.0";
  AgentUpgrade up(after, sink_, clock_);
  EXPECT_EQ(up.StatusJson().value("state", ""), "done") << up.StatusJson().dump();
  EXPECT_TRUE(
      sink_.WaitFor([](const Event& e) { return e.Get("event.action") == "agent_upgraded"; }));
  EXPECT_TRUE(fs::is_empty(UpgradeDir()));
  // Offered its own version: nothing to do.
  up.Apply(*ParseUpgradeOffer(OfferJson(m, key_)), "", manager_.Post());
  EXPECT_EQ(manager_.calls, 1);
}

TEST_F(AgentUpgradeTest, ABadSignatureInstallsNothingIsReportedAndNotRetried) {
  const std::string deb = "!<arch>\npackage";
  PackageManifest m = ManifestFor("0.2.0", deb);
  manager_.packages[m.file] = deb;
  AgentUpgrade up(Options(), sink_, clock_);
  // The agent pinned key_ (update bundles); the manifest is signed by another key.
  Installer pins(state_.path());
  ASSERT_TRUE(pins.PinKey(PublicKeyToBase64(key_.public_key)));
  up.Apply(*ParseUpgradeOffer(OfferJson(m, TestKey(9))), PublicKeyToBase64(key_.public_key),
           manager_.Post());
  EXPECT_EQ(up.StatusJson().value("state", ""), "failed");
  EXPECT_NE(up.StatusJson().value("error", "").find("signature"), std::string::npos)
      << up.StatusJson().dump();
  EXPECT_EQ(manager_.calls, 0) << "nothing is downloaded for a manifest that does not verify";
  EXPECT_FALSE(fs::exists(UpgradeDir() / m.file));
  EXPECT_FALSE(fs::exists(work_.path() / "arg")) << "the installer never ran";
  auto refused = sink_.WaitFor(
      [](const Event& e) { return e.Get("event.action") == "agent_upgrade_refused"; });
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->Get("ward.upgrade.version"), "0.2.0");
  // A manifest changed after signing (another package hash) is refused the same way.
  PackageManifest changed = ManifestFor("0.3.0", deb);
  json tampered = OfferJson(changed, key_);
  changed.sha256 = DigestHex(Sha256::Of("another package"));
  tampered["manifest"] = SerializePackageManifest(changed);
  up.Apply(*ParseUpgradeOffer(tampered), PublicKeyToBase64(key_.public_key), manager_.Post());
  EXPECT_EQ(up.StatusJson().value("state", ""), "failed");
  EXPECT_EQ(up.StatusJson().value("version", ""), "0.3.0");
  EXPECT_EQ(manager_.calls, 0);
  // A different key offered later is refused too (the pinned one stays).
  up.Apply(*ParseUpgradeOffer(OfferJson(ManifestFor("0.4.0", deb), TestKey(9))),
           PublicKeyToBase64(TestKey(9).public_key), manager_.Post());
  EXPECT_EQ(manager_.calls, 0);
  // The refused version is not tried again (until another one is offered).
  size_t events = sink_.Events().size();
  up.Apply(*ParseUpgradeOffer(OfferJson(ManifestFor("0.4.0", deb), TestKey(9))),
           PublicKeyToBase64(TestKey(9).public_key), manager_.Post());
  EXPECT_EQ(sink_.Events().size(), events);
}

TEST_F(AgentUpgradeTest, APackageWhoseHashDiffersIsRefusedAndNothingIsInstalled) {
  PackageManifest m = ManifestFor("0.2.0", "!<arch>\nthe signed package");
  manager_.packages[m.file] = "!<arch>\nthe signed packagX";  // same size, other bytes
  AgentUpgrade up(Options(), sink_, clock_);
  up.Apply(*ParseUpgradeOffer(OfferJson(m, key_)), PublicKeyToBase64(key_.public_key),
           manager_.Post());
  EXPECT_EQ(manager_.calls, 1);
  EXPECT_EQ(up.StatusJson().value("state", ""), "failed");
  EXPECT_NE(up.StatusJson().value("error", "").find("SHA-256"), std::string::npos)
      << up.StatusJson().dump();
  EXPECT_FALSE(fs::exists(UpgradeDir() / m.file));
  EXPECT_FALSE(fs::exists(work_.path() / "arg"));
  ASSERT_TRUE(sink_.WaitFor(
      [](const Event& e) { return e.Get("event.action") == "agent_upgrade_refused"; }));
  // Truncated: refused too.
  PackageManifest t = ManifestFor("0.3.0", "!<arch>\nthe whole package");
  manager_.packages[t.file] = "!<arch>\nthe whole";
  up.Apply(*ParseUpgradeOffer(OfferJson(t, key_)), PublicKeyToBase64(key_.public_key),
           manager_.Post());
  EXPECT_NE(up.StatusJson().value("error", "").find("bytes where the signed manifest says"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(work_.path() / "arg"));
}

TEST_F(AgentUpgradeTest, ADownloadThatFailsIsRetriedAndAFailedInstallIsReported) {
  const std::string deb = "!<arch>\npackage";
  PackageManifest m = ManifestFor("0.2.0", deb);
  manager_.packages[m.file] = deb;
  AgentUpgrade up(Options(/*exit_code=*/3), sink_, clock_);
  manager_.status = 503;
  auto offer = *ParseUpgradeOffer(OfferJson(m, key_));
  up.Apply(offer, PublicKeyToBase64(key_.public_key), manager_.Post());
  EXPECT_EQ(up.StatusJson().value("state", ""), "downloading");
  EXPECT_TRUE(sink_.Events().empty()) << "a manager away is no refusal";
  manager_.status = 200;
  up.Apply(offer, PublicKeyToBase64(key_.public_key), manager_.Post());
  EXPECT_EQ(manager_.calls, 2);
  ASSERT_TRUE(WaitForFile(UpgradeDir() / "exit_status"));
  // The next heartbeat reads the installer's status: failed, with what it said.
  up.Apply(offer, PublicKeyToBase64(key_.public_key), manager_.Post());
  EXPECT_EQ(up.StatusJson().value("state", ""), "failed") << up.StatusJson().dump();
  EXPECT_NE(up.StatusJson().value("error", "").find("exited with 3"), std::string::npos);
  EXPECT_NE(up.StatusJson().value("error", "").find("installing"), std::string::npos);
  ASSERT_TRUE(sink_.WaitFor(
      [](const Event& e) { return e.Get("event.action") == "agent_upgrade_failed"; }));
  EXPECT_EQ(manager_.calls, 2) << "a version whose install failed is not tried again";
}

TEST(UpgradeOffer, MalformedOffersNameTheField) {
  for (const char* bad : {R"([])", R"({"manifest": "x", "signature": "y"})",
                          R"({"version": "../x", "manifest": "x", "signature": "y"})",
                          R"({"version": "1.0", "signature": "y"})",
                          R"({"version": "1.0", "manifest": "x", "signature": 5})"}) {
    auto r = ParseUpgradeOffer(json::parse(bad));
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_NE(r.error().message().find("updates.agent_package"), std::string::npos);
  }
}

}  // namespace
}  // namespace ward::updates
