#include "manager/services/deployment_script.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>

#include "common/text.h"
#include "testing/temp_dir.h"

namespace ward::manager {
namespace {

DeploymentScriptInput Input() {
  DeploymentScriptInput in;
  in.tenant_name = "web team";
  in.manager_url = "https://manager.example:4119";
  in.fingerprint = std::string(64, 'a');
  in.pubkey_pin = "sha256//" + std::string(43, 'B') + "=";
  in.token = "wat_0123456789abcdefghijklmnopqrstuv";
  in.proxy = "http://proxy.internal:3128";
  in.agent_version = "0.1.0";
  in.packages = {{"amd64", "ward-agent_0.1.0_amd64.deb", std::string(64, 'c')}};
  in.generated_at = "2026-12-07T12:00:00Z";
  in.manager_version = "0.1.0";
  return in;
}

// Runs `command` with sh; returns its exit status and stdout.
std::pair<int, std::string> Sh(const std::string& command) {
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return {-1, ""};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

// The value assignments at the top of `script` (everything before the functions), then a
// printf of each variable: what the script will work with.
std::string ValuesOf(const std::string& script, const std::string& env = "") {
  std::string head = script.substr(0, script.find("\nsay()"));
  test::TempDir dir;
  test::WriteFile(dir.Sub("head.sh"),
                  head +
                      "\nprintf '%s\\n' \"$MANAGER_URL\" \"$MANAGER_FINGERPRINT\" "
                      "\"$MANAGER_PUBKEY_PIN\" \"$ACTIVATION_TOKEN\" \"[$PROXY]\" "
                      "\"$AGENT_VERSION\"\n");
  auto [rc, out] = Sh(env + " sh " + dir.Sub("head.sh"));
  EXPECT_EQ(rc, 0) << out;
  return out;
}

TEST(DeploymentScript, IsValidPosixShellThatShellcheckAccepts) {
  auto s = DeploymentScript(Input());
  ASSERT_TRUE(s) << s.error().ToString();
  EXPECT_TRUE(s->starts_with("#!/bin/sh\n"));
  test::TempDir dir;
  test::WriteFile(dir.Sub("deploy.sh"), *s);
  auto [rc, out] = Sh("sh -n " + dir.Sub("deploy.sh") + " 2>&1");
  EXPECT_EQ(rc, 0) << out;
  // Warnings and errors (not style notes) for POSIX sh: dash, as /bin/sh on Debian.
  auto [sc, sc_out] = Sh("shellcheck -s sh -S warning " + dir.Sub("deploy.sh") + " 2>&1");
  EXPECT_EQ(sc, 0) << sc_out;
  // The package, its hash and the pins are in it.
  EXPECT_NE(s->find("amd64') package='ward-agent_0.1.0_amd64.deb'; sha256='" +
                    std::string(64, 'c') + "'"),
            std::string::npos);
  EXPECT_NE(s->find("--pinnedpubkey \"$MANAGER_PUBKEY_PIN\""), std::string::npos);
  EXPECT_NE(s->find("--manager-fingerprint \"$MANAGER_FINGERPRINT\""), std::string::npos);
}

TEST(DeploymentScript, EveryValueReachesTheScriptLiterallyWhateverItHolds) {
  DeploymentScriptInput in = Input();
  in.proxy = "http://us'er:p$(touch${IFS}/x)`id`\"@proxy:3128";
  in.token = "wat_'; rm -rf / #";
  auto s = DeploymentScript(in);
  ASSERT_TRUE(s) << s.error().ToString();
  EXPECT_EQ(ValuesOf(*s), "https://manager.example:4119\n" + std::string(64, 'a') + "\n" +
                              in.pubkey_pin + "\n" + in.token + "\n[" + in.proxy + "]\n0.1.0\n");
  // WARD_PROXY replaces the proxy; set but empty, it means direct.
  EXPECT_NE(ValuesOf(*s, "WARD_PROXY=http://other:8080").find("[http://other:8080]"),
            std::string::npos);
  EXPECT_NE(ValuesOf(*s, "WARD_PROXY=").find("\n[]\n"), std::string::npos);
  in.proxy = "";
  EXPECT_NE(ValuesOf(*DeploymentScript(in)).find("\n[]\n"), std::string::npos);
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
}

TEST(DeploymentScript, RefusesMalformedValuesNamingTheField) {
  struct Case {
    const char* field;
    void (*change)(DeploymentScriptInput&);
  };
  const Case cases[] = {
      {"manager_url", [](DeploymentScriptInput& i) { i.manager_url = "http://m:4119"; }},
      {"manager_url", [](DeploymentScriptInput& i) { i.manager_url = "https://m:4119/x"; }},
      {"manager_url", [](DeploymentScriptInput& i) { i.manager_url = "https://m;id"; }},
      {"proxy", [](DeploymentScriptInput& i) { i.proxy = "socks5://p:1080"; }},
      {"token", [](DeploymentScriptInput& i) { i.token = "wat_x\nid"; }},
      {"token", [](DeploymentScriptInput& i) { i.token = "wak_x"; }},
      {"tenant_name", [](DeploymentScriptInput& i) { i.tenant_name = "a\nrm -rf /"; }},
      {"fingerprint", [](DeploymentScriptInput& i) { i.fingerprint = "AB:CD"; }},
      {"pubkey_pin", [](DeploymentScriptInput& i) { i.pubkey_pin = "sha1//x"; }},
      {"packages", [](DeploymentScriptInput& i) { i.packages.clear(); }},
  };
  for (const auto& c : cases) {
    DeploymentScriptInput in = Input();
    c.change(in);
    auto s = DeploymentScript(in);
    ASSERT_FALSE(s) << c.field;
    EXPECT_EQ(s.error().code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(s.error().message().starts_with(std::string(c.field) + ":")) << s.error().message();
  }
  // A trailing slash on the URL is dropped, not refused.
  DeploymentScriptInput in = Input();
  in.manager_url = "https://[::1]:4119/";
  ASSERT_TRUE(DeploymentScript(in));
  EXPECT_NE(DeploymentScript(in)->find("MANAGER_URL='https://[::1]:4119'\n"), std::string::npos);
}

TEST(DeploymentScript, CloudInitUserDataWritesTheScriptAndRunsItOnce) {
  auto s = DeploymentScript(Input());
  ASSERT_TRUE(s);
  std::string ud = CloudInitUserData(*s, "web team");
  EXPECT_TRUE(ud.starts_with("#cloud-config\n"));
  YAML::Node doc = YAML::Load(ud);
  ASSERT_TRUE(doc["write_files"].IsSequence());
  YAML::Node f = doc["write_files"][0];
  EXPECT_EQ(f["path"].as<std::string>(), "/root/ward-deploy.sh");
  EXPECT_EQ(f["permissions"].as<std::string>(), "0700");
  EXPECT_EQ(f["encoding"].as<std::string>(), "b64");
  auto decoded = Base64Decode(f["content"].as<std::string>());
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, *s);
  ASSERT_TRUE(doc["runcmd"].IsSequence());
  ASSERT_EQ(doc["runcmd"].size(), 1u);
  EXPECT_EQ(doc["runcmd"][0][0].as<std::string>(), "sh");
  EXPECT_EQ(doc["runcmd"][0][2].as<std::string>(),
            "sh /root/ward-deploy.sh && rm -f /root/ward-deploy.sh");
}

}  // namespace
}  // namespace ward::manager
