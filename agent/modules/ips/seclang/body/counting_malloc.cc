#include "agent/modules/ips/seclang/body/counting_malloc.h"

namespace {
thread_local size_t t_allocations = 0;
}  // namespace

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* malloc(size_t n) {
  ++t_allocations;
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t m) {
  ++t_allocations;
  return __libc_calloc(n, m);
}
void* realloc(void* p, size_t n) {
  ++t_allocations;
  return __libc_realloc(p, n);
}
}

namespace ward::seclang::body {

size_t AllocationCount() { return t_allocations; }

}  // namespace ward::seclang::body
