#include "common/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>

namespace ward {
namespace {

// %* : the syslog priority of the message's level (sd-daemon(3) prefixes).
class SyslogPriorityFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    char c = '6';
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug:
        c = '7';
        break;
      case spdlog::level::info:
        c = '6';
        break;
      case spdlog::level::warn:
        c = '4';
        break;
      case spdlog::level::err:
        c = '3';
        break;
      case spdlog::level::critical:
        c = '2';
        break;
      default:
        break;
    }
    dest.push_back(c);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<SyslogPriorityFlag>();
  }
};

}  // namespace

bool IsJournalStream(int fd) {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (env == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

std::unique_ptr<spdlog::formatter> MakeLogFormatter(bool journal) {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  if (journal) {
    f->add_flag<SyslogPriorityFlag>('*').set_pattern("<%*>%l %v");
  } else {
    f->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  }
  return f;
}

void InitLogging(std::string_view level) {
  static auto logger = spdlog::stderr_color_mt("ward");
  logger->set_formatter(MakeLogFormatter(IsJournalStream(2)));
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
}
}  // namespace ward
