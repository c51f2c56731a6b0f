// DNS messages as egress reads them (agent/modules/egress/dns_message.h): any bytes are parsed;
// a parsed message's NXDOMAIN reply must parse again, with the same id and question and no answer.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "agent/modules/egress/dns_message.h"

using namespace ward::agent::egress;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto m = ParseDnsMessage(bytes);
  if (!m) return 0;
  for (const auto& r : ResolvedAddresses(*m)) (void)(r.name.size() + r.address.size());
  std::string nx = NxDomainReply(bytes, *m);
  auto again = ParseDnsMessage(nx);
  if (!again || again->id != m->id || again->rcode != kDnsRcodeNxDomain ||
      !again->answers.empty() || again->questions.size() != m->questions.size()) {
    std::abort();
  }
  for (size_t i = 0; i < m->questions.size(); ++i) {
    if (again->questions[i].name != m->questions[i].name) std::abort();
  }
  return 0;
}
