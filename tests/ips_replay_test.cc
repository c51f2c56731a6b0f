// `ward-agent ips replay` on captures written here, `ips tuning-report` on the events it printed,
// and policy errors of the ips module through the real binary.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/net/test_packets.h"
#include "testing/temp_dir.h"
#include "tests/agent_process.h"

namespace ward::test {
namespace {

using net::Ipv4;
using net::test::Conversation;
using namespace std::chrono_literals;

// Writes IP packets as an Ethernet capture.
void WritePcap(const std::string& path, const std::vector<std::string>& packets) {
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 262144);
  pcap_dumper_t* d = pcap_dump_open(dead, path.c_str());
  ASSERT_NE(d, nullptr);
  long usec = 0;
  for (const auto& ip : packets) {
    std::string frame(12, '\x02');
    frame += std::string("\x08\x00", 2) + ip;
    pcap_pkthdr h{};
    h.ts.tv_sec = 1764000000;
    h.ts.tv_usec = usec++;
    h.caplen = h.len = static_cast<uint32_t>(frame.size());
    pcap_dump(reinterpret_cast<u_char*>(d), &h, reinterpret_cast<const u_char*>(frame.data()));
  }
  pcap_dump_close(d);
  pcap_close(dead);
}

std::vector<std::string> Exchange(uint16_t cport, const std::string& request) {
  Conversation c(Ipv4(192, 0, 2, 7), cport, Ipv4(192, 0, 2, 1), 8080);
  std::vector<std::string> out = c.Handshake();
  for (auto& p : c.ClientSend(request, 100)) out.push_back(std::move(p));
  for (auto& p : c.ServerSend("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")) {
    out.push_back(std::move(p));
  }
  for (auto& p : c.Close()) out.push_back(std::move(p));
  return out;
}

TEST(IpsReplay, PrintsOneEventPerAttackInTheCapture) {
  TempDir dir;
  std::vector<std::string> pkts;
  for (const char* req :
       {"GET /?id=1%27%20UNION%20SELECT%20pass%20FROM%20users-- HTTP/1.1\r\nHost: a\r\n"
        "User-Agent: t\r\nAccept: */*\r\n\r\n",
        "GET /ok?page=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n",
        "GET /../../../etc/passwd HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n"}) {
    auto e = Exchange(static_cast<uint16_t>(40000 + pkts.size()), req);
    pkts.insert(pkts.end(), e.begin(), e.end());
  }
  WritePcap(dir.Sub("c.pcap"), pkts);
  auto r = RunAgentCommand({"ips", "replay", dir.Sub("c.pcap"), "--port", "8080", "--json"});
  ASSERT_EQ(r.exit_code, 1) << r.stderr_text;
  ASSERT_EQ(r.events.size(), 2u) << r.Transcript();
  EXPECT_EQ(StrField(r.events[0], "event.module"), "ips");
  EXPECT_EQ(StrField(r.events[0], "event.action"), "detected");
  EXPECT_EQ(StrField(r.events[0], "source.ip"), "192.0.2.7");
  EXPECT_EQ(Field(r.events[0], "destination.port"), 8080);
  EXPECT_NE(StrField(r.events[1], "url.original").find("passwd"), std::string::npos);
  EXPECT_NE(r.stderr_text.find("3 transaction(s)"), std::string::npos) << r.stderr_text;

  // The same events through the tuning report.
  {
    std::ofstream ev(dir.Sub("events.jsonl"));
    for (const auto& e : r.events) ev << e.dump() << "\n";
  }
  auto t = RunAgentCommand(
      {"ips", "tuning-report", "--events", dir.Sub("events.jsonl"), "--since", "0", "--json"});
  ASSERT_EQ(t.exit_code, 0) << t.stderr_text;
  std::string all;
  for (const auto& l : t.stdout_lines) all += l + "\n";
  auto j = nlohmann::json::parse(all, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << all;
  EXPECT_EQ(j["events"], 2);
  EXPECT_FALSE(j["rules"].empty());
}

TEST(IpsReplay, UnreadableCaptureIsAClearError) {
  TempDir dir;
  std::ofstream(dir.Sub("junk.pcap")) << "not a capture";
  auto r = RunAgentCommand({"ips", "replay", dir.Sub("junk.pcap")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.stderr_text.find("junk.pcap"), std::string::npos) << r.stderr_text;
}

TEST(IpsPolicy, RejectedCustomRuleFileIsNamedAtStartAndOnReloadTheOldRulesStay) {
  TempDir dir;
  std::ofstream(dir.Sub("bad.conf"))
      << "SecRule ARGS \"@rx x\" \"id:10002,phase:2,nosuchaction\"\n";
  std::ofstream(dir.Sub("good.conf")) << "SecRule ARGS \"@rx x\" \"id:10003,phase:2,pass,log\"\n";
  auto policy = [&](const std::string& rules) {
    std::ofstream(dir.Sub("policy.yaml"))
        << "agent: { outputs: { stdout: true, file: false } }\n"
        << "ips:\n  mode: detect\n  capture: pcap\n  interface: lo\n  ports: [18499]\n"
        << "  crs: { enabled: false }\n  custom_rules: [" << rules << "]\n";
  };
  policy(dir.Sub("bad.conf"));
  auto r =
      RunAgentCommand({"run", "--config", dir.Sub("policy.yaml"), "--state-dir", dir.Sub("s")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.stderr_text.find("bad.conf"), std::string::npos) << r.stderr_text;
  // The default engine (ward) names the line and what it refuses.
  EXPECT_NE(r.stderr_text.find("bad.conf:1:"), std::string::npos) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("nosuchaction"), std::string::npos) << r.stderr_text;

  policy(dir.Sub("good.conf"));
  auto agent =
      AgentProcess::Start({"run", "--config", dir.Sub("policy.yaml"), "--state-dir", dir.Sub("s")});
  ASSERT_TRUE(agent);
  // The module logs when its rules are loaded; the agent handles SIGHUP from then on.
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (agent->Stderr().find("rules loaded") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_NE(agent->Stderr().find("rules loaded"), std::string::npos) << agent->Stderr();
  policy(dir.Sub("bad.conf"));
  ASSERT_TRUE(agent->Signal(SIGHUP));
  auto rejected = agent->WaitForEvent(Action("policy_rejected"), 20s);
  ASSERT_TRUE(rejected.has_value()) << agent->Transcript() << agent->Stderr();
  EXPECT_NE(StrField(rejected->doc, "error.message").find("bad.conf"), std::string::npos);
  EXPECT_EQ(agent->Count(Action("capture_failed")), 0u);
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->WaitForExit(20s), 0);
}

}  // namespace
}  // namespace ward::test
