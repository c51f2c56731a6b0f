// Logging: spdlog to stderr. Log where a decision is made, not where an error is born.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace ward {
// Sets up the default logger ("info", "debug", "warn", ...). Safe to call more than once.
void InitLogging(std::string_view level);
}  // namespace ward
