// The benchmarks' generator: xorshift64, deterministic for a seed, so every run of a benchmark
// builds the same data. Not for anything that needs real randomness.
#pragma once

#include <cstdint>

namespace ward::bench {

struct Rng {
  uint64_t s = 0x9e3779b97f4a7c15ULL;  // any seed but 0
  uint64_t Next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  // 0..n-1. REQUIRES: n > 0.
  int Below(int n) { return static_cast<int>(Next() % static_cast<uint64_t>(n)); }
};

}  // namespace ward::bench
