// Counts heap allocations: malloc, calloc and realloc are interposed for the whole binary that
// links counting_malloc.cc (glibc's own entry points do the work), so C libraries (yajl, libxml2)
// count too. For tests and benchmarks only: link it into its own binary, never into a library.
#pragma once

#include <cstddef>

namespace ward::seclang::body {

// The number of malloc, calloc and realloc calls made so far by the calling thread.
size_t AllocationCount();

}  // namespace ward::seclang::body
