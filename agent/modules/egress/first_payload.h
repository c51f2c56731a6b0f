// What egress reads from the first payload of an outbound TCP connection: the TLS ClientHello's
// server name (SNI, and whether Encrypted Client Hello hides the real one), or the HTTP request's
// Host and URL. Untrusted bytes: every length is checked (fuzz_egress_first_payload). Pure
// functions, thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace ward::agent::egress {

// kNotThis: the bytes are not this protocol. kIncomplete: they start like it, but the part that
// names the destination is not in these bytes (a ClientHello split over segments, a request head
// longer than the packet) — egress then decides on the destination address alone.
enum class Parsed { kNotThis, kIncomplete, kFound };

struct ClientHello {
  std::string server_name;  // lower case; "" when the ClientHello has no SNI
  bool ech = false;         // an encrypted_client_hello extension (0xfe0d) is present
};
// A TLS record (content type 22) carrying a ClientHello (handshake type 1).
Parsed ParseClientHello(std::string_view payload, ClientHello& out);

struct HttpRequestHead {
  std::string method;
  std::string host;  // the Host header, lower case, port removed; "" when absent
  std::string target;
  // "http://" + host + target, or the target itself when it is absolute ("http://x/y").
  std::string url;
};
// An HTTP/1.x request line and headers, up to the blank line or the end of `payload`.
Parsed ParseHttpRequestHead(std::string_view payload, HttpRequestHead& out);

}  // namespace ward::agent::egress
