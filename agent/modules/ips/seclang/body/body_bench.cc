// Measures the body processors against libmodsecurity 3.0.9 on the same bodies, in-process:
// CPU per body and (Ward) heap allocations per warm body through operator new. Not a test:
//   build/agent/modules/ips/seclang/body/seclang_body_bench
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "agent/modules/ips/seclang/body/body_oracle.h"
#include "agent/modules/ips/seclang/body/counting_malloc.h"
#include "agent/modules/ips/seclang/body/request_body.h"

// Every heap allocation of this (single) thread is counted (counting_malloc.h), C libraries
// (yajl, libxml2) included.
using namespace ward::seclang::body;

namespace {

test::BodyCase Upload64k() {
  test::BodyCase c;
  c.kind = BodyProcessorKind::kMultipart;
  c.content_type = "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW";
  std::string file;
  for (int i = 0; file.size() < 64 * 1024; ++i) {
    file += "line " + std::to_string(i) + " of the uploaded file, with some text to fill it\r\n";
  }
  c.body =
      "------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
      "Content-Disposition: form-data; name=\"title\"\r\n\r\nholiday\r\n"
      "------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
      "Content-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\n"
      "Content-Type: text/plain\r\n\r\n" +
      file + "\r\n------WebKitFormBoundary7MA4YWxkTrZu0gW--\r\n";
  return c;
}

// A binary upload: long lines (a line end every ~2 KB).
test::BodyCase Binary64k() {
  test::BodyCase c = Upload64k();
  std::string file;
  uint32_t x = 1;
  while (file.size() < 64 * 1024) {
    x = x * 1103515245u + 12345u;
    char ch = static_cast<char>(x >> 24);
    if (ch == '\n' || ch == '\r' || ch == '-') ch = 'x';
    file.push_back(ch);
    if (file.size() % 2048 == 0) file += "\r\n";
  }
  c.body =
      "------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
      "Content-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n"
      "Content-Type: application/octet-stream\r\n\r\n" +
      file + "\r\n------WebKitFormBoundary7MA4YWxkTrZu0gW--\r\n";
  return c;
}

test::BodyCase Json4k() {
  test::BodyCase c;
  c.kind = BodyProcessorKind::kJson;
  c.content_type = "application/json";
  std::string j = "{\"items\":[";
  for (int i = 0; j.size() < 4000; ++i) {
    if (i) j += ",";
    j += "{\"id\":" + std::to_string(i) + ",\"name\":\"item " + std::to_string(i) +
         "\",\"tags\":[\"a\",\"b\"],\"ok\":true}";
  }
  j += "]}";
  c.body = j;
  return c;
}

test::BodyCase Xml4k() {
  test::BodyCase c;
  c.kind = BodyProcessorKind::kXml;
  c.content_type = "application/xml";
  std::string x = "<?xml version=\"1.0\"?><items>";
  for (int i = 0; x.size() < 4000; ++i) {
    x +=
        "<item id=\"" + std::to_string(i) + "\"><name>item " + std::to_string(i) + "</name></item>";
  }
  x += "</items>";
  c.body = x;
  return c;
}

// CPU time of this thread (the machine may be shared), in microseconds per call.
double MicrosPer(int n, auto&& fn) {
  timespec a{};
  timespec b{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
  for (int i = 0; i < n; ++i) fn();
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
  const double us = static_cast<double>(b.tv_sec - a.tv_sec) * 1e6 +
                    static_cast<double>(b.tv_nsec - a.tv_nsec) / 1e3;
  return us / n;
}

}  // namespace

int main() {
  for (const auto& [name, c] : {std::pair{"multipart 64 KB text", Upload64k()},
                                std::pair{"multipart 64 KB binary", Binary64k()},
                                std::pair{"JSON 4 KB", Json4k()}, std::pair{"XML 4 KB", Xml4k()}}) {
    BodyProcessor proc;
    BodyResult result;
    BodyInput in;
    in.kind = c.kind;
    in.content_type = *c.content_type;
    in.body = c.body;
    for (int i = 0; i < 50; ++i) proc.Process(in, c.settings, &result);  // warm
    const size_t before = AllocationCount();
    const int n = 2000;
    const double ward = MicrosPer(n, [&] { proc.Process(in, c.settings, &result); });
    const double allocs = static_cast<double>(AllocationCount() - before) / n;
    const size_t before_modsec = AllocationCount();
    const double modsec = MicrosPer(200, [&] { (void)test::RunModsec(c); });
    const double modsec_allocs = static_cast<double>(AllocationCount() - before_modsec) / 200;
    std::printf(
        "%-24s %6zu bytes  Ward %7.1f us %6.1f allocations | libmodsecurity "
        "transaction (no rules) %7.1f us %8.1f allocations\n",
        name, c.body.size(), ward, allocs, modsec, modsec_allocs);
  }
  return 0;
}
