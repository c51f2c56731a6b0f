// A warm BodyProcessor + BodyResult process multipart and JSON bodies without any heap
// allocation — counted, not estimated (counting_malloc.h), so yajl's allocations count too. XML
// is not covered: libxml2 builds a tree per document.
#include <gtest/gtest.h>

#include <cstddef>
#include <string>

#include "agent/modules/ips/seclang/body/counting_malloc.h"
#include "agent/modules/ips/seclang/body/request_body.h"

namespace ward::seclang::body {
namespace {

size_t AllocationsOfWarmRuns(const BodyInput& in, const BodySettings& settings) {
  BodyProcessor proc;
  BodyResult result;
  for (int i = 0; i < 3; ++i) proc.Process(in, settings, &result);
  const size_t before = AllocationCount();
  for (int i = 0; i < 10; ++i) proc.Process(in, settings, &result);
  return AllocationCount() - before;
}

TEST(RequestBodyAllocations, WarmMultipartAllocatesNothing) {
  std::string body;
  for (int p = 0; p < 4; ++p) {
    body += "--b\r\nContent-Disposition: form-data; name=\"field-with-a-long-name-" +
            std::to_string(p) + "\"" + (p % 2 ? "; filename=\"upload.bin\"" : "") +
            "\r\nContent-Type: text/plain; charset=utf-8\r\n folded continuation\r\n\r\n";
    for (int l = 0; l < 200; ++l) body += "line " + std::to_string(l) + " of part data\r\n";
  }
  body += "--b--\r\n";
  BodyInput in;
  in.kind = BodyProcessorKind::kMultipart;
  in.content_type = "multipart/form-data; boundary=b";
  in.body = body;
  BodySettings settings;
  settings.no_files_limit = 1u << 20;
  EXPECT_EQ(AllocationsOfWarmRuns(in, settings), 0u);
}

TEST(RequestBodyAllocations, WarmJsonAllocatesNothing) {
  std::string body = "{\"a-key-longer-than-sixteen-bytes\":{\"list\":[";
  for (int i = 0; i < 300; ++i) {
    body += std::string(i ? "," : "") + "{\"id\":" + std::to_string(i) +
            ",\"text\":\"escaped \\u00e9 \\\"value\\\" number " + std::to_string(i) +
            "\",\"ok\":true,\"none\":null}";
  }
  body += "]}}";
  BodyInput in;
  in.kind = BodyProcessorKind::kJson;
  in.body = body;
  EXPECT_EQ(AllocationsOfWarmRuns(in, {}), 0u);
  // An invalid body (error message path) too.
  in.body = "{\"a\":[1,2,";
  EXPECT_EQ(AllocationsOfWarmRuns(in, {}), 0u);
}

}  // namespace
}  // namespace ward::seclang::body
