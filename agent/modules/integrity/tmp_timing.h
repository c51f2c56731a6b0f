#pragma once
#include <chrono>
#include <cstdio>
#include <cstdlib>
namespace ward_tmp {
inline double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
inline void Mark(const char* what) {
  static bool on = std::getenv("WARD_TIMING") != nullptr;
  static double t0 = Now();
  static double last = t0;
  if (!on) return;
  double t = Now();
  std::fprintf(stderr, "[timing] %-28s +%.3f  (%.3f)\n", what, t - last, t - t0);
  last = t;
}
}
