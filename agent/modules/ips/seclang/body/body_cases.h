// Test support: the request bodies the body processors are compared on — libmodsecurity's own
// regression cases, the CRS 3.3 regression suite's bodies, and generated hostile bodies.
#pragma once

#include <cstdint>
#include <vector>

#include "agent/modules/ips/seclang/body/body_oracle.h"

namespace ward::seclang::body::test {

// Every test of testdata/oracles/modsecurity-3.0.9-regression/*.json with a request body and a
// Content-Type header, or a rule choosing the JSON/XML processor; limits from its rules.
std::vector<BodyCase> RegressionCases();

// The CRS suite's bodies (testdata/seclang-body/crs-bodies.json) under the processor its
// Content-Type selects (as modsecurity.conf-recommended's 200000/200001 do), each also as JSON
// and as XML, and multipart ones also with CRLF line ends.
std::vector<BodyCase> CrsCases();

// `count` generated bodies (seeded, reproducible): multipart with broken boundaries, quoting,
// folding, NULs, long lines and truncation; JSON deep, invalid and over the limits; XML with
// entities (billion laughs), external entities, namespaces and truncation.
std::vector<BodyCase> GeneratedCases(int count, uint32_t seed);

// A case from fuzzer bytes: the first byte picks the processor and limits, the rest splits into
// a Content-Type line and the body.
BodyCase CaseFromBytes(const uint8_t* data, size_t size);

}  // namespace ward::seclang::body::test
