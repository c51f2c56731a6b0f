#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "agent/modules/egress/dns_message.h"
#include "agent/modules/egress/dns_test_util.h"
#include "agent/modules/egress/first_payload.h"

namespace ward::agent::egress {
namespace {

std::string ReadTestData(const std::string& name) {
  std::ifstream in(std::string(WARD_EGRESS_SOURCE_DIR) + "/testdata/egress/" + name,
                   std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(DnsMessage, ReadsQuestionAndAnswersWithCompression) {
  std::string msg =
      test::DnsResponse(0x1234, "WWW.Example.COM", kDnsTypeA,
                        {{"cdn.example.net", ""}, {"", "192.0.2.10"}, {"", "192.0.2.11"}});
  auto m = ParseDnsMessage(msg);
  ASSERT_TRUE(m.has_value()) << m.error().message();
  EXPECT_EQ(m->id, 0x1234);
  EXPECT_TRUE(m->response);
  ASSERT_EQ(m->questions.size(), 1u);
  EXPECT_EQ(m->questions[0].name, "www.example.com");
  ASSERT_EQ(m->answers.size(), 3u);
  EXPECT_EQ(m->answers[0].type, kDnsTypeCname);
  EXPECT_EQ(m->answers[0].data, "cdn.example.net");
  EXPECT_EQ(m->answers[1].name, "cdn.example.net");
  EXPECT_EQ(m->answers[1].data, "192.0.2.10");
  auto names = ResolvedAddresses(*m);
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0].name, "www.example.com");
  EXPECT_EQ(names[0].address, "192.0.2.10");
  EXPECT_EQ(names[1].address, "192.0.2.11");
  ASSERT_EQ(names[0].aliases.size(), 1u);
  EXPECT_EQ(names[0].aliases[0], "cdn.example.net");
}

TEST(DnsMessage, ReadsAaaaAnswers) {
  std::string msg = test::DnsResponse(7, "v6.example", kDnsTypeAaaa, {{"", "2001:db8::5"}});
  auto m = ParseDnsMessage(msg);
  ASSERT_TRUE(m.has_value());
  auto names = ResolvedAddresses(*m);
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names[0].address, "2001:db8::5");
}

TEST(DnsMessage, RefusesTruncatedAndLoopingMessages) {
  EXPECT_FALSE(ParseDnsMessage(std::string(11, '\0')).has_value());
  std::string msg = test::DnsResponse(1, "a.example", kDnsTypeA, {{"", "192.0.2.1"}});
  for (size_t n = 12; n < msg.size(); ++n) {
    EXPECT_FALSE(ParseDnsMessage(msg.substr(0, n)).has_value()) << n;
  }
  // A question whose name is a pointer to itself.
  std::string loop("\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01", 18);
  auto m = ParseDnsMessage(loop);
  ASSERT_FALSE(m.has_value());
  EXPECT_NE(m.error().message().find("does not point back"), std::string::npos);
  // A pointer forward (into the answer) is refused as well.
  std::string fwd(
      "\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x12\x00\x01\x00\x01"
      "\x01x\x00",
      21);
  EXPECT_FALSE(ParseDnsMessage(fwd).has_value());
}

TEST(DnsMessage, NxDomainReplyKeepsIdAndQuestionAndDropsTheAnswers) {
  std::string msg = test::DnsResponse(0xbeef, "blocked.example", kDnsTypeA, {{"", "192.0.2.9"}});
  auto m = ParseDnsMessage(msg);
  ASSERT_TRUE(m.has_value());
  std::string nx = NxDomainReply(msg, *m);
  auto r = ParseDnsMessage(nx);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->id, 0xbeef);
  EXPECT_TRUE(r->response);
  EXPECT_EQ(r->rcode, kDnsRcodeNxDomain);
  ASSERT_EQ(r->questions.size(), 1u);
  EXPECT_EQ(r->questions[0].name, "blocked.example");
  EXPECT_TRUE(r->answers.empty());
  EXPECT_EQ(nx.size(), m->question_end);
}

TEST(DnsMessage, NxDomainReplyOfSizeIsPaddedToExactlyTheSizeAsked) {
  std::string answer = test::DnsResponse(0x1234, "blocked.example", kDnsTypeA,
                                         {{"", "192.0.2.1"}, {"", "192.0.2.2"}});
  auto parsed = ParseDnsMessage(answer);
  ASSERT_TRUE(parsed.has_value());
  const size_t bare = NxDomainReply(answer, *parsed).size();
  EXPECT_EQ(NxDomainReplyOfSize(answer, *parsed, bare), NxDomainReply(answer, *parsed));
  for (size_t size = bare + 15; size < bare + 40; ++size) {
    std::string r = NxDomainReplyOfSize(answer, *parsed, size);
    ASSERT_EQ(r.size(), size);
    auto m = ParseDnsMessage(r);
    ASSERT_TRUE(m.has_value()) << m.error().ToString();
    EXPECT_EQ(m->id, 0x1234);
    EXPECT_EQ(m->rcode, kDnsRcodeNxDomain);
    EXPECT_TRUE(m->answers.empty());
    ASSERT_EQ(m->questions.size(), 1u);
    EXPECT_EQ(m->questions[0].name, "blocked.example");
    EXPECT_EQ(r[11], 1) << "one additional record: the OPT with the padding";
    EXPECT_EQ(static_cast<uint8_t>(r[bare + 2]), 41) << "type OPT";
  }
  // Too short, or longer by less than an empty padding option: no such reply.
  EXPECT_EQ(NxDomainReplyOfSize(answer, *parsed, bare - 1), "");
  for (size_t size = bare + 1; size < bare + 15; ++size) {
    EXPECT_EQ(NxDomainReplyOfSize(answer, *parsed, size), "") << size;
  }
}

std::string Framed(const std::string& message) {
  std::string out = {static_cast<char>(message.size() >> 8),
                     static_cast<char>(message.size() & 0xFF)};
  return out + message;
}

TEST(DnsTcpStream, ReassemblesMessagesCutAnywhere) {
  const std::string a = test::DnsResponse(1, "a.example", kDnsTypeA, {{"", "192.0.2.1"}});
  const std::string b = test::DnsResponse(2, "b.example", kDnsTypeA, {{"", "192.0.2.2"}});
  const std::string flow = Framed(a) + Framed(b);
  // Every pair of cut points, including inside the length prefixes.
  for (size_t i = 0; i <= flow.size(); ++i) {
    for (size_t j = i; j <= flow.size(); ++j) {
      DnsTcpStream s;
      const uint32_t isn = 0xFFFFFFF0u;  // sequence numbers wrap inside the flow
      std::vector<DnsTcpStream::Message> got;
      for (auto [from, to] : {std::pair{size_t{0}, i}, {i, j}, {j, flow.size()}}) {
        for (auto& m : s.Add(isn + static_cast<uint32_t>(from), flow.substr(from, to - from))) {
          got.push_back(std::move(m));
        }
      }
      ASSERT_EQ(got.size(), 2u) << i << " " << j;
      EXPECT_EQ(got[0].bytes, a);
      EXPECT_EQ(got[0].seq, isn + 2);
      EXPECT_EQ(got[1].bytes, b);
      EXPECT_EQ(got[1].seq, isn + static_cast<uint32_t>(2 + a.size() + 2));
      EXPECT_FALSE(s.done());
    }
  }
}

TEST(DnsTcpStream, RetransmissionsAreReadOnceAndAGapEndsTheReading) {
  const std::string a = test::DnsResponse(1, "a.example", kDnsTypeA, {{"", "192.0.2.1"}});
  const std::string flow = Framed(a);
  DnsTcpStream s;
  EXPECT_TRUE(s.Add(100, flow.substr(0, 10)).empty());
  EXPECT_TRUE(s.Add(100, flow.substr(0, 10)).empty());  // the same segment again
  auto got = s.Add(105, flow.substr(5));                // overlapping, with the rest
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].bytes, a);
  EXPECT_FALSE(got[0].fresh) << "its first bytes went on in the first segment";
  DnsTcpStream whole;
  auto one = whole.Add(100, flow);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_TRUE(one[0].fresh);

  DnsTcpStream gap;
  EXPECT_TRUE(gap.Add(100, flow.substr(0, 4)).empty());
  EXPECT_TRUE(gap.Add(110, flow.substr(10)).empty());
  EXPECT_TRUE(gap.done());
  EXPECT_TRUE(gap.Add(104, flow.substr(4)).empty()) << "nothing is read after the end";
}

TEST(DnsTcpStream, ReadsOnlyTheFirstKilobytesOfAFlow) {
  const std::string a = test::DnsResponse(1, "a.example", kDnsTypeA, {{"", "192.0.2.1"}});
  std::string flow;
  while (flow.size() < DnsTcpStream::kMaxBytes * 2) flow += Framed(a);
  DnsTcpStream s;
  size_t messages = 0;
  uint32_t seq = 7;
  for (size_t at = 0; at < flow.size(); at += 1000) {
    std::string_view piece = std::string_view(flow).substr(at, 1000);
    messages += s.Add(seq, piece).size();
    seq += static_cast<uint32_t>(piece.size());
  }
  EXPECT_TRUE(s.done());
  EXPECT_EQ(messages, DnsTcpStream::kMaxBytes / (a.size() + 2));
  // A message announced longer than the cap ends the reading at once.
  DnsTcpStream big;
  EXPECT_TRUE(big.Add(1, std::string("\xff\xff", 2) + "abc").empty());
  EXPECT_TRUE(big.done());
}

TEST(ClientHello, ReadsTheServerNameOfOpensslsClientHello) {
  std::string hello = ReadTestData("client_hello_openssl.bin");
  ASSERT_GT(hello.size(), 100u);
  ClientHello ch;
  ASSERT_EQ(ParseClientHello(hello, ch), Parsed::kFound);
  EXPECT_EQ(ch.server_name, "blocked.example.org");
  EXPECT_FALSE(ch.ech);
}

TEST(ClientHello, APrefixWithoutTheServerNameIsIncompleteNeverWrong) {
  std::string hello = ReadTestData("client_hello_openssl.bin");
  for (size_t n = 1; n < hello.size(); ++n) {
    ClientHello ch;
    Parsed p = ParseClientHello(hello.substr(0, n), ch);
    ASSERT_NE(p, Parsed::kNotThis) << n;
    if (p == Parsed::kFound) {
      EXPECT_EQ(ch.server_name, "blocked.example.org") << n;
    }
  }
}

TEST(ClientHello, OtherBytesAreNotAClientHello) {
  ClientHello ch;
  EXPECT_EQ(ParseClientHello("GET / HTTP/1.1\r\n", ch), Parsed::kNotThis);
  EXPECT_EQ(ParseClientHello(std::string("\x17\x03\x03\x00\x10", 5), ch), Parsed::kNotThis);
  EXPECT_EQ(ParseClientHello(std::string("\x16\x03\x03\x00\x10\x02", 6), ch), Parsed::kNotThis);
}

TEST(ClientHello, SeesEncryptedClientHello) {
  std::string hello = test::ClientHelloWith("outer.example", /*ech=*/true);
  ClientHello ch;
  ASSERT_EQ(ParseClientHello(hello, ch), Parsed::kFound);
  EXPECT_EQ(ch.server_name, "outer.example");
  EXPECT_TRUE(ch.ech);
}

TEST(HttpRequestHead, ReadsHostAndUrl) {
  HttpRequestHead h;
  ASSERT_EQ(
      ParseHttpRequestHead("GET /a/b?c=1 HTTP/1.1\r\nUser-Agent: x\r\nhOST: Files.Example.COM:"
                           "8080\r\n\r\n",
                           h),
      Parsed::kFound);
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.host, "files.example.com");
  EXPECT_EQ(h.target, "/a/b?c=1");
  EXPECT_EQ(h.url, "http://files.example.com/a/b?c=1");
}

TEST(HttpRequestHead, AbsoluteFormNamesTheDestination) {
  HttpRequestHead h;
  ASSERT_EQ(ParseHttpRequestHead("GET http://X.example/p HTTP/1.1\r\n\r\n", h), Parsed::kFound);
  EXPECT_EQ(h.host, "x.example");
  EXPECT_EQ(h.url, "http://x.example/p");
}

TEST(HttpRequestHead, PartialHeadIsIncompleteAndOtherBytesAreNotHttp) {
  HttpRequestHead h;
  EXPECT_EQ(ParseHttpRequestHead("GET /x HTTP/1.1\r\nAccept: */*\r\n", h), Parsed::kIncomplete);
  EXPECT_EQ(ParseHttpRequestHead("GET /x HT", h), Parsed::kIncomplete);
  EXPECT_EQ(ParseHttpRequestHead(std::string("\x16\x03\x01", 3), h), Parsed::kNotThis);
  EXPECT_EQ(ParseHttpRequestHead("SSH-2.0-OpenSSH_9.2\r\n", h), Parsed::kNotThis);
}

}  // namespace
}  // namespace ward::agent::egress
