// Fuzzes what the agent parses from the network and from its state dir: the manager's replies
// (activation, heartbeat, events), error bodies, identity.json, proxy/manager URLs, fingerprints
// and gzip input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/transport/gzip.h"
#include "agent/transport/https_client.h"
#include "agent/transport/identity.h"
#include "agent/transport/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ward::agent::transport;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)ParseActivateReply(in);
  (void)ParseHeartbeatReply(in);
  (void)ParseEventsReply(in);
  (void)ErrorText(500, in);
  (void)ParseIdentity(in, "fuzz");
  (void)ParseProxyUrl(in);
  (void)ParseManagerUrl(in);
  (void)NormalizeFingerprint(in);
  (void)Gunzip(in, 1 << 20);
  return 0;
}
