// ClamAV cdiff incremental updates (agent/updates/cdiff.h, docs/updates.md): real databases and
// scripts made at test time with ClamAV's own sigtool, applied by Ward's interpreter; sigtool's
// interpreter runs the scripts Ward makes; the agent's installer patches a held file and falls
// back to the whole file when the cdiff is bad, hostile or does not give the signed bytes.
#include "agent/updates/cdiff.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <random>

#include "agent/modules/antimalware/engine.h"
#include "agent/updates/installer.h"
#include "agent/updates/sync.h"
#include "common/clock.h"
#include "common/hash.h"
#include "testing/recording_sink.h"
#include "testing/temp_dir.h"

namespace ward::updates {
namespace {

namespace fs = std::filesystem;
using cdiff::ApplyScript;
using cdiff::MakeScript;
using cdiff::ReadDatabase;
using cdiff::ScriptOf;
using cdiff::WriteCanonical;
using cdiff::WriteCdiff;
using Files = std::map<std::string, std::string>;

int Shell(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string Hex(std::string_view s) {
  std::string out;
  for (unsigned char c : s) out += fmt::format("{:02x}", c);
  return out;
}

// Signature lines: `n` .hdb lines and `n` .ndb lines (body signature of "ward-marker-<i>").
std::string HdbLines(int from, int to) {
  std::string out;
  for (int i = from; i < to; ++i) {
    out += fmt::format("{}:{}:Ward.Test.Hash-{}\n",
                       DigestHex(Sha256::Of(std::to_string(i))).substr(0, 32), 100 + i, i);
  }
  return out;
}
std::string NdbLines(int from, int to) {
  std::string out;
  for (int i = from; i < to; ++i) {
    out += fmt::format("Ward.Test.Body-{}:0:*:{}\n", i, Hex(fmt::format("ward-marker-{}-end", i)));
  }
  return out;
}

// Builds daily.cud with sigtool in `work` from the given .hdb/.ndb; the previous build (if any)
// in `work`/prev makes it the next version. Returns the container's bytes.
std::string SigtoolBuild(const fs::path& work, const std::string& hdb, const std::string& ndb,
                         int version) {
  const fs::path src = work / "src";
  const fs::path prev = work / "prev";
  fs::remove_all(src);
  fs::create_directories(src);
  fs::create_directories(prev);
  test::WriteFile((src / "COPYING").string(), "Test database made by ward's cdiff_test.\n");
  test::WriteFile((src / "daily.hdb").string(), hdb);
  test::WriteFile((src / "daily.ndb").string(), ndb);
  std::string cmd = fmt::format(
      "cd '{}' && echo ward-test | sigtool --build=daily.cud --unsigned "
      "--cvd-version={} --datadir='{}' >/dev/null 2>&1",
      src.string(), version, (work / "none").string());
  EXPECT_EQ(Shell(cmd), 0) << cmd;
  std::string bytes = test::ReadFileOrDie((src / "daily.cud").string());
  fs::remove(prev / "daily.cud");
  fs::copy_file(src / "daily.cud", prev / "daily.cud");
  return bytes;
}

bool HaveSigtool() { return Shell("command -v sigtool >/dev/null 2>&1") == 0; }

class CdiffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // sigtool comes with Debian's clamav package (scripts/install-deps); never skipped silently.
    ASSERT_TRUE(HaveSigtool()) << "sigtool (Debian package clamav) is needed: scripts/install-deps";
    v1_ = SigtoolBuild(tmp_.path() / "b1", HdbLines(0, 300), NdbLines(0, 200), 1);
    // v2: signatures 10-19 and 50 removed, 40 new ones of each kind.
    std::string hdb = HdbLines(0, 10) + HdbLines(20, 300) + HdbLines(300, 340);
    std::string ndb = NdbLines(0, 50) + NdbLines(51, 200) + NdbLines(200, 240);
    v2_ = SigtoolBuild(tmp_.path() / "b2", hdb, ndb, 2);
  }
  test::TempDir tmp_;
  std::string v1_, v2_;
};

TEST_F(CdiffTest, SigtoolsOwnScriptTurnsTheOldDatabaseIntoTheNew) {
  const fs::path d = tmp_.path() / "diff";
  fs::create_directories(d / "a");
  fs::create_directories(d / "b");
  test::WriteFile((d / "a" / "daily.cud").string(), v1_);
  test::WriteFile((d / "b" / "daily.cud").string(), v2_);
  ASSERT_EQ(Shell(fmt::format("cd '{}' && sigtool --diff=a/daily.cud b/daily.cud >/dev/null 2>&1",
                              d.string())),
            0);
  std::string script = test::ReadFileOrDie((d / "b" / "daily-2.script").string());
  ASSERT_NE(script.find("ADD Ward.Test.Body-239"), std::string::npos) << script;

  auto old_db = ReadDatabase(v1_);
  auto new_db = ReadDatabase(v2_);  // sigtool's containers are tar.gz
  ASSERT_TRUE(old_db.has_value()) << old_db.error().ToString();
  ASSERT_TRUE(new_db.has_value()) << new_db.error().ToString();
  EXPECT_EQ(cdiff::HeaderVersion(new_db->header), 2);
  Files files = old_db->files;
  Status s = ApplyScript(script, files);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(files, new_db->files);
  // The same script in a .cdiff container.
  auto unpacked = ScriptOf(WriteCdiff(script, 2));
  ASSERT_TRUE(unpacked.has_value()) << unpacked.error().ToString();
  EXPECT_EQ(*unpacked, script);
}

TEST_F(CdiffTest, SigtoolRunsTheScriptWardMakesToTheSameFiles) {
  auto old_db = ReadDatabase(v1_);
  auto new_db = ReadDatabase(v2_);
  ASSERT_TRUE(old_db && new_db);
  auto script = MakeScript(old_db->files, new_db->files);
  ASSERT_TRUE(script.has_value()) << script.error().ToString();
  EXPECT_LT(script->size(), v2_.size());
  // ClamAV's own interpreter, on the old database unpacked by sigtool.
  const fs::path d = tmp_.path() / "run";
  fs::create_directories(d);
  test::WriteFile((d / "old.cud").string(), v1_);
  test::WriteFile((tmp_.path() / "daily-2.script").string(), *script);
  const std::string cmd = fmt::format(
      "cd '{}' && sigtool --unpack=old.cud >/dev/null 2>&1 && rm old.cud && "
      "sigtool --run-cdiff='{}' >'{}' 2>&1",
      d.string(), (tmp_.path() / "daily-2.script").string(),
      (tmp_.path() / "sigtool.log").string());
  ASSERT_EQ(Shell(cmd), 0) << cmd << "\n"
                           << test::ReadFileOrDie((tmp_.path() / "sigtool.log").string()) << "\n"
                           << script->substr(0, 2000);
  Files after;
  for (const auto& e : fs::directory_iterator(d)) {
    after[e.path().filename().string()] = test::ReadFileOrDie(e.path().string());
  }
  EXPECT_EQ(after, new_db->files);
}

TEST_F(CdiffTest, CanonicalContainerLoadsInLibClamAvAndDetects) {
  auto new_db = ReadDatabase(v2_);
  ASSERT_TRUE(new_db.has_value());
  auto canonical = WriteCanonical(new_db->files);
  ASSERT_TRUE(canonical.has_value()) << canonical.error().ToString();
  // Deterministic, and read back to the same files.
  EXPECT_EQ(*canonical, *WriteCanonical(ReadDatabase(*canonical)->files));
  EXPECT_EQ(ReadDatabase(*canonical)->files, new_db->files);
  const fs::path db = tmp_.path() / "daily.cud";
  test::WriteFile(db.string(), *canonical);
  agent::antimalware::EngineOptions eo;
  eo.databases = {db.string()};
  auto engine = agent::antimalware::Engine::Load(eo);
  ASSERT_TRUE(engine.has_value()) << engine.error().ToString();
  EXPECT_EQ((*engine)->clamav_signatures(), 569u);
  // A signature only v2 has.
  test::WriteFile(tmp_.Sub("sample"), "xx ward-marker-230-end xx");
  int fd = ::open(tmp_.Sub("sample").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto r = (*engine)->ScanFd(fd, tmp_.Sub("sample"));
  ::close(fd);
  EXPECT_EQ(r.verdict, agent::antimalware::Verdict::kInfected);
  EXPECT_EQ(r.signature, "Ward.Test.Body-230");
}

TEST(Cdiff, ScriptsMadeForRandomEditsReproduceTheNewFiles) {
  std::mt19937 rng(18);
  for (int round = 0; round < 200; ++round) {
    Files from, to;
    const int nfiles = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < nfiles; ++f) {
      std::string name = fmt::format("db{}.ndb", f);
      std::vector<std::string> lines;
      const int n = static_cast<int>(rng() % 30);
      for (int i = 0; i < n; ++i)
        lines.push_back(fmt::format("Sig-{}:0:*:{:x}", rng() % 40, rng()));
      if (rng() % 5 != 0) {
        std::string c;
        for (auto& l : lines) c += l + "\n";
        from[name] = c;
      }
      // Edit: drop, change, insert, append lines at random.
      std::vector<std::string> next;
      for (auto& l : lines) {
        switch (rng() % 6) {
          case 0:
            break;
          case 1:
            next.push_back("Changed-" + l);
            break;
          case 2:
            next.push_back(fmt::format("Inserted-{}", rng() % 9));
            next.push_back(l);
            break;
          default:
            next.push_back(l);
        }
      }
      for (int i = static_cast<int>(rng() % 4); i > 0; --i)
        next.push_back(fmt::format("New-{}", rng()));
      if (rng() % 7 != 0 && !next.empty()) {
        std::string c;
        for (auto& l : next) c += l + "\n";
        to[name] = c;
      }
    }
    auto script = MakeScript(from, to);
    ASSERT_TRUE(script.has_value()) << script.error().ToString();
    Files applied = from;
    ASSERT_TRUE(ApplyScript(*script, applied).ok());
    ASSERT_EQ(applied, to) << "round " << round << ":\n" << *script;
  }
}

TEST(Cdiff, HostileOrBrokenScriptsAreRefusedNamingTheLine) {
  const Files base = {{"daily.ndb", "A:0:*:41\nB:0:*:42\n"}, {"daily.info", "ClamAV-VDB:x:1:2\n"}};
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"OPEN ../../etc/passwd\nADD x\nCLOSE\n", "line 1"},
      {"OPEN /etc/passwd\nADD x\nCLOSE\n", "line 1"},
      {"OPEN sub/daily.ndb\nCLOSE\n", "line 1"},
      {"OPEN .hidden\nCLOSE\n", "line 1"},
      {"UNLINK ../daily.ndb\n", "line 1"},
      {"MOVE daily.ndb ../x.ndb 1 A 1 A\n", "line 1"},
      {"ADD x\n", "no database open"},
      {"OPEN daily.ndb\nDEL 3 A\nCLOSE\n", "line 3"},
      {"OPEN daily.ndb\nDEL 1 B\nCLOSE\n", "can't apply DEL"},
      {"OPEN daily.ndb\nXCHG 2 A new\nCLOSE\n", "can't apply XCHG"},
      {"OPEN daily.ndb\nDEL 1 A\nDEL 1 A\nCLOSE\n", "edited twice"},
      {"OPEN daily.ndb\nDEL 99999999999999 A\nCLOSE\n", "DEL needs"},
      {"OPEN daily.ndb\nADD x\n", "not closed"},
      {"OPEN daily.ndb\nOPEN daily.info\n", "not closed"},
      {"RM daily.ndb\n", "unknown command"},
      {"UNLINK nothere.ndb\n", "no database"},
      {"MOVE daily.ndb other.ndb 2 B 5 B\n", "past the end"},
  };
  for (const auto& [script, expect] : cases) {
    Files files = base;
    Status s = ApplyScript(script, files);
    EXPECT_FALSE(s.ok()) << script;
    EXPECT_NE(s.message().find(expect), std::string::npos) << script << " -> " << s.message();
  }
  // What applies: MOVE, XCHG, UNLINK, comments.
  Files files = base;
  Status s = ApplyScript(
      "# comment\nMOVE daily.ndb daily.hdb 2 B 2 B\nOPEN daily.ndb\nXCHG 1 A A:0:*:43\nCLOSE\n"
      "UNLINK daily.info\n",
      files);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(files, (Files{{"daily.ndb", "A:0:*:43\n"}, {"daily.hdb", "B:0:*:42\n"}}));
  // A file that no script can write.
  EXPECT_FALSE(MakeScript({}, {{"x.ndb", "no final newline"}}).has_value());
  EXPECT_FALSE(MakeScript({}, {{"../x.ndb", "a\n"}}).has_value());
}

TEST(Cdiff, TruncatedOrCorruptContainersAreRefused) {
  Files files = {{"daily.info", "ClamAV-VDB:07 Dec 2026 14-57 +0000:3:1:216:X:X:t:1\n"},
                 {"daily.ndb", "A:0:*:41\n"}};
  std::string c = *WriteCanonical(files);
  ASSERT_TRUE(ReadDatabase(c).has_value());
  EXPECT_EQ(cdiff::HeaderVersion(ReadDatabase(c)->header), 3);
  EXPECT_FALSE(ReadDatabase(c.substr(0, 700)).has_value());
  EXPECT_FALSE(ReadDatabase(c.substr(0, 300)).has_value());
  EXPECT_FALSE(ReadDatabase("ClamAV-XYZ" + c.substr(10)).has_value());
  std::string bad_name = c;
  bad_name.replace(512, 10, "../../etc/");
  EXPECT_FALSE(ReadDatabase(bad_name).has_value());
  const std::string script = "OPEN daily.ndb\nADD B:0:*:42\nCLOSE\n";
  std::string cd = WriteCdiff(script, 4);
  ASSERT_TRUE(ScriptOf(cd).has_value());
  EXPECT_TRUE(ScriptOf(cd + ":signature").has_value());
  EXPECT_FALSE(ScriptOf(cd.substr(0, cd.size() - 5)).has_value());
  EXPECT_FALSE(ScriptOf(cd + "junk").has_value());
  std::string wrong_len = cd;
  wrong_len.replace(wrong_len.find(fmt::format(":{}:", script.size())), 4,
                    fmt::format(":{}:", script.size() + 1));
  EXPECT_FALSE(ScriptOf(wrong_len).has_value());
  EXPECT_FALSE(WriteCanonical({{"daily.ndb", "x\n"}}).has_value());  // no .info
}

// ---- the agent's installer --------------------------------------------------------------------

FileEntry Entry(const std::string& name, const std::string& bytes) {
  FileEntry e;
  e.name = name;
  e.sha256 = DigestHex(Sha256::Of(bytes));
  e.size = bytes.size();
  return e;
}

class InstallerDelta : public CdiffTest {
 protected:
  void SetUp() override {
    CdiffTest::SetUp();
    c1_ = *WriteCanonical(ReadDatabase(v1_)->files);
    c2_ = *WriteCanonical(ReadDatabase(v2_)->files);
    cdiff_ = WriteCdiff(*MakeScript(ReadDatabase(c1_)->files, ReadDatabase(c2_)->files), 2);
    blobs_[Entry("x", c1_).sha256] = c1_;
    blobs_[Entry("x", c2_).sha256] = c2_;
    state_ = tmp_.path() / "state";
    Manifest m1{"clamav", 1, "2026-12-07T12:00:00Z", {Entry("daily.cud", c1_)}};
    auto r = installer_.Stage(m1, Fetch(), Check());
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    ASSERT_TRUE(installer_.Activate("clamav", 1).has_value());
  }
  // v2's manifest, its daily.cud with a delta of `delta` bytes from v1.
  Manifest V2(const std::string& delta) {
    FileEntry e = Entry("daily.cud", c2_);
    FileEntry d = Entry("d", delta);
    e.delta = Delta{Entry("x", c1_).sha256, d.sha256, d.size};
    blobs_[d.sha256] = delta;
    return Manifest{"clamav", 2, "2026-12-07T13:00:00Z", {e}};
  }
  FetchFn Fetch() {
    return [this](const FileEntry& f) -> Result<std::string> {
      fetched_.push_back(f.sha256);
      auto it = blobs_.find(f.sha256);
      if (it == blobs_.end()) return NotFound("no such blob");
      return it->second;
    };
  }
  static FormatCheck Check() {
    return [](std::string_view, const fs::path& f) {
      // libclamav loads the staged container (a .cud has no signature cl_cvdverify could check).
      agent::antimalware::EngineOptions eo;
      eo.databases = {f.string()};
      auto e = agent::antimalware::Engine::Load(eo);
      return e ? Status::Ok() : e.error();
    };
  }
  fs::path state_;
  Installer installer_{tmp_.path() / "state"};
  std::string c1_, c2_, cdiff_;
  std::map<std::string, std::string> blobs_;
  std::vector<std::string> fetched_;
};

TEST_F(InstallerDelta, AppliesTheCdiffInsteadOfFetchingTheWholeFile) {
  fetched_.clear();
  Manifest m = V2(cdiff_);
  auto r = installer_.Stage(m, Fetch(), Check());
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->files_patched, 1);
  EXPECT_EQ(r->files_fetched, 0);
  EXPECT_EQ(r->bytes_fetched, cdiff_.size());
  EXPECT_TRUE(r->delta_fallbacks.empty());
  EXPECT_EQ(fetched_, std::vector<std::string>{m.files[0].delta->sha256});
  EXPECT_LT(cdiff_.size() * 5, c2_.size()) << cdiff_.size() << " vs " << c2_.size();
  EXPECT_EQ(test::ReadFileOrDie((r->dir / "daily.cud").string()), c2_);
  ASSERT_TRUE(installer_.Activate("clamav", 2).has_value());
  EXPECT_EQ(installer_.Current("clamav"), 2);
}

TEST_F(InstallerDelta, BadCdiffsFallBackToTheWholeFileAndWriteNothingOutside) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"hostile", WriteCdiff("OPEN ../../../escaped.ndb\nADD x\nCLOSE\n", 2)},
      {"unlink", "UNLINK ../../current\n"},
      {"another result", WriteCdiff("OPEN daily.ndb\nADD Extra:0:*:4141\nCLOSE\n", 2)},
      {"not a cdiff", WriteCdiff("DEL 1 nothing\n", 2)},
      {"truncated", cdiff_.substr(0, cdiff_.size() / 2)},
  };
  for (const auto& [what, delta] : bad) {
    fetched_.clear();
    Manifest m = V2(delta);
    auto r = installer_.Stage(m, Fetch(), Check());
    ASSERT_TRUE(r.has_value()) << what << ": " << r.error().ToString();
    EXPECT_EQ(r->files_patched, 0) << what;
    EXPECT_EQ(r->files_fetched, 1) << what;
    ASSERT_EQ(r->delta_fallbacks.size(), 1u) << what;
    EXPECT_NE(r->delta_fallbacks[0].find("daily.cud: "), std::string::npos);
    EXPECT_EQ(test::ReadFileOrDie((r->dir / "daily.cud").string()), c2_) << what;
    fs::remove_all(r->dir);
  }
  // Nothing was written beside the state directory's own layout.
  for (const auto& e : fs::recursive_directory_iterator(tmp_.path())) {
    EXPECT_EQ(e.path().filename().string().find("escaped"), std::string::npos) << e.path();
  }
  // A cdiff the manager does not have (or sends wrong): the whole file too.
  fetched_.clear();
  Manifest m = V2(cdiff_);
  blobs_.erase(m.files[0].delta->sha256);
  auto r = installer_.Stage(m, Fetch(), Check());
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->files_fetched, 1);
  EXPECT_EQ(r->delta_fallbacks.size(), 1u);
}

TEST_F(InstallerDelta, SyncReportsAFallbackAsAnEventAndAppliesTheUpdate) {
  test::RecordingSink sink;
  KeyPair key = KeyPairFromSeed(std::array<unsigned char, 32>{7});
  Manifest m = V2(WriteCdiff("OPEN daily.ndb\nADD Extra:0:*:4141\nCLOSE\n", 2));
  SignedManifest sm{SerializeManifest(m), ""};
  sm.signature = Sign(sm.manifest, key);
  PostFn post = [&](std::string_view path,
                    std::string body) -> Result<std::pair<int, std::string>> {
    auto b = nlohmann::json::parse(body);
    if (path == "/agent/v1/updates/manifest") return std::make_pair(200, SignedManifestToJson(sm));
    auto it = blobs_.find(b["sha256"].get<std::string>());
    if (it == blobs_.end()) return std::make_pair(404, std::string("{}"));
    return std::make_pair(200, it->second);
  };
  UpdateSync sync(state_, sink, SystemClock(), Check(), nullptr);
  Offer offer{PublicKeyToBase64(key.public_key), {{"clamav", 2}}};
  ASSERT_TRUE(sync.Apply(offer, {"clamav"}, post));
  int refused = 0, applied = 0;
  for (const auto& e : sink.Events()) {
    if (e.GetString("event.action") == "update_delta_refused") {
      ++refused;
      EXPECT_NE(e.GetString("error.message").find("not the file the signed manifest names"),
                std::string::npos)
          << e.GetString("error.message");
    }
    applied += e.GetString("event.action") == "update_applied";
  }
  EXPECT_EQ(refused, 1);
  EXPECT_EQ(applied, 1);
  EXPECT_EQ(Installer(state_).Current("clamav"), 2);
}

}  // namespace
}  // namespace ward::updates
