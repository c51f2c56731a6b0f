// What /proc says about a process, for tests that watch one work (e.g. a scan worker busy on a
// file before it is killed).
#pragma once

#include <sys/types.h>

namespace ward::test {

// CPU clock ticks (user + system) the process has used so far; -1 when it is gone.
long CpuTicks(pid_t pid);

}  // namespace ward::test
