#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace ward {
void InitLogging(std::string_view level) {
  static auto logger = spdlog::stderr_color_mt("ward");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
}
}  // namespace ward
