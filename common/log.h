// Logging: spdlog to stderr. Log where a decision is made, not where an error is born.
#pragma once

#include <string_view>

#include <spdlog/spdlog.h>

namespace ward {
// Sets up the default logger ("info", "debug", "warn", ...). Safe to call more than once.
void InitLogging(std::string_view level);
}  // namespace ward
