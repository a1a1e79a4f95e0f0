// Logging: spdlog to stderr in the foreground, else to a log file or syslog.
#pragma once

#include <string>

namespace strata {

// Sets the default spdlog logger. `foreground`: stderr; else `log_file` if set,
// else syslog (a daemon has no terminal).
void SetUpLogging(bool foreground, const std::string& level, const std::string& log_file);

}  // namespace strata
