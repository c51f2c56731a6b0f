// Log lines through pre-decoding, decoding (OS_Regex captures, JSON) and rules with frequency
// state: each input line is one event of a single session.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "agent/modules/loginspect/ruleset.h"

namespace {

constexpr const char* kDecoders = R"(
<decoder name="sshd"><program_name>^sshd</program_name></decoder>
<decoder name="sshd-fail">
  <parent>sshd</parent>
  <prematch>^Failed \S+ </prematch>
  <regex offset="after_prematch">^for (\S+) from (\S+) port (\d+)</regex>
  <order>user, srcip, srcport</order>
</decoder>
<decoder name="json"><prematch>^{\s*"</prematch><plugin_decoder>JSON_Decoder</plugin_decoder></decoder>
<decoder name="web"><prematch>^\d+.\d+.\d+.\d+ - </prematch></decoder>
<decoder name="web-f"><parent>web</parent>
  <regex>^(\S+) - \S+ [\S+ \S+] "(\w+) (\S+) HTTP\S+" (\d+) </regex>
  <order>srcip, action, url, id</order></decoder>
)";
constexpr const char* kRules = R"(
<group name="syslog,">
  <rule id="1" level="0" noalert="1"><category>syslog</category></rule>
  <rule id="100" level="0"><decoded_as>sshd</decoded_as></rule>
  <rule id="101" level="5"><if_sid>100</if_sid><match>Failed</match><group>auth_fail,</group></rule>
  <rule id="102" level="10" frequency="4" timeframe="60">
    <if_matched_sid>101</if_matched_sid><same_source_ip /></rule>
  <rule id="103" level="8" frequency="3" timeframe="60">
    <if_matched_group>auth_fail</if_matched_group><different_srcport /></rule>
  <rule id="110" level="3"><decoded_as>json</decoded_as><field name="a.b">\d+</field></rule>
  <rule id="111" level="4"><decoded_as>json</decoded_as><field name="x" type="pcre2">(a+)+$</field></rule>
  <rule id="120" level="6"><decoded_as>web</decoded_as><id>^4</id><url>select|union</url></rule>
  <rule id="121" level="7"><if_sid>120</if_sid><srcgeoip>^JP</srcgeoip></rule>
  <rule id="122" level="9" frequency="3" timeframe="60">
    <if_matched_sid>101</if_matched_sid><same_srcgeoip /><description>$(srcgeoip)</description></rule>
</group>
)";

std::shared_ptr<const ward::agent::loginspect::Ruleset> Load() {
  auto d = std::filesystem::temp_directory_path() /
           ("ward-fuzz-loginspect-pipeline-" + std::to_string(::getpid()));
  std::filesystem::create_directories(d / "decoders");
  std::filesystem::create_directories(d / "rules");
  std::ofstream(d / "decoders/d.xml") << kDecoders;
  std::ofstream(d / "rules/r.xml") << kRules;
  ward::agent::loginspect::RulesetConfig c;
  c.decoder_dirs = {d / "decoders"};
  c.rule_dirs = {d / "rules"};
  // srcgeoip/dstgeoip from decoded addresses (any bytes a line carries) through libmaxminddb.
  c.geoip_db = WARD_GEOIP_FIXTURE;
  auto rs = ward::agent::loginspect::Ruleset::Load(c);
  if (!rs.has_value()) __builtin_trap();
  return *rs;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto ruleset = Load();
  ward::agent::loginspect::Session session(ruleset);
  std::string in(reinterpret_cast<const char*>(data), size);
  size_t start = 0;
  int64_t now = 1000;
  while (start <= in.size()) {
    size_t nl = in.find('\n', start);
    std::string line = in.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    auto v = session.Process(line, "fuzz", now++);
    (void)ward::agent::loginspect::FormatLogtest(v);
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return 0;
}
