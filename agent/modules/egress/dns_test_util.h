// Test helper: DNS messages and ClientHellos built by hand, for unit tests, fuzz seeds and the
// tiny DNS server of the network-namespace tests. Not linked into the agent.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ward::agent::egress::test {

inline void Put16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v & 0xFF));
}

inline std::string EncodeName(const std::string& name) {
  std::string out;
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    out.push_back(static_cast<char>(dot - start));
    out.append(name, start, dot - start);
    start = dot + 1;
  }
  out.push_back('\0');
  return out;
}

inline std::string DnsQuery(uint16_t id, const std::string& name, uint16_t type) {
  std::string m;
  Put16(m, id);
  Put16(m, 0x0100);  // RD
  Put16(m, 1);
  Put16(m, 0);
  Put16(m, 0);
  Put16(m, 0);
  m += EncodeName(name);
  Put16(m, type);
  Put16(m, 1);
  return m;
}

// A response to `name`: each answer is either a CNAME (first: target, second "") or an address
// (first "", second the address, A or AAAA by its form). The first answer's owner is the question
// (a compression pointer to offset 12); each later answer is owned by the last CNAME target.
inline std::string DnsResponse(uint16_t id, const std::string& name, uint16_t type,
                               const std::vector<std::pair<std::string, std::string>>& answers) {
  std::string m;
  Put16(m, id);
  Put16(m, 0x8180);  // QR RD RA
  Put16(m, 1);
  Put16(m, static_cast<uint16_t>(answers.size()));
  Put16(m, 0);
  Put16(m, 0);
  m += EncodeName(name);
  Put16(m, type);
  Put16(m, 1);
  uint16_t owner = 12;
  for (const auto& [cname, addr] : answers) {
    Put16(m, static_cast<uint16_t>(0xC000 | owner));
    if (!cname.empty()) {
      Put16(m, 5);
      Put16(m, 1);
      Put16(m, 0);
      Put16(m, 60);
      std::string target = EncodeName(cname);
      Put16(m, static_cast<uint16_t>(target.size()));
      owner = static_cast<uint16_t>(m.size());
      m += target;
      continue;
    }
    bool v6 = addr.find(':') != std::string::npos;
    unsigned char buf[16] = {};
    ::inet_pton(v6 ? AF_INET6 : AF_INET, addr.c_str(), buf);
    Put16(m, v6 ? 28 : 1);
    Put16(m, 1);
    Put16(m, 0);
    Put16(m, 60);
    Put16(m, v6 ? 16 : 4);
    m.append(reinterpret_cast<const char*>(buf), v6 ? 16 : 4);
  }
  return m;
}

// A minimal TLS 1.2 record with a ClientHello naming `sni` (and an ECH extension when asked).
inline std::string ClientHelloWith(const std::string& sni, bool ech) {
  std::string body;
  Put16(body, 0x0303);
  body.append(32, '\x11');
  body.push_back('\0');  // session id
  Put16(body, 2);
  Put16(body, 0x1301);
  body.push_back('\x01');
  body.push_back('\0');
  std::string exts;
  Put16(exts, 0);  // server_name
  Put16(exts, static_cast<uint16_t>(sni.size() + 5));
  Put16(exts, static_cast<uint16_t>(sni.size() + 3));
  exts.push_back('\0');
  Put16(exts, static_cast<uint16_t>(sni.size()));
  exts += sni;
  if (ech) {
    Put16(exts, 0xfe0d);
    Put16(exts, 4);
    exts.append("\x00\x01\x02\x03", 4);
  }
  Put16(body, static_cast<uint16_t>(exts.size()));
  body += exts;
  std::string hs;
  hs.push_back('\x01');
  hs.push_back('\0');
  Put16(hs, static_cast<uint16_t>(body.size()));
  hs += body;
  std::string rec("\x16\x03\x01", 3);
  Put16(rec, static_cast<uint16_t>(hs.size()));
  return rec + hs;
}

}  // namespace ward::agent::egress::test
