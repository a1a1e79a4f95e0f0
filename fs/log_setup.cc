#include "fs/log_setup.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <syslog.h>

namespace strata {

void SetUpLogging(bool foreground, const std::string& level, const std::string& log_file) {
  std::shared_ptr<spdlog::logger> logger;
  try {
    if (!log_file.empty())
      logger = spdlog::basic_logger_mt("stratafs", log_file);
    else if (foreground)
      logger = spdlog::stderr_color_mt("stratafs");
    else
      logger = spdlog::syslog_logger_mt("stratafs", "stratafs", LOG_PID, LOG_DAEMON);
  } catch (const spdlog::spdlog_ex&) {
    logger = spdlog::stderr_color_mt("stratafs-fallback");
  }
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

}  // namespace strata
