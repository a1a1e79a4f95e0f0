// Runs a shell command inside a mounted rootfs: fork, chroot(root), exec
// /bin/busybox sh -c, with output captured and a time limit.
#pragma once

#include <string>

namespace strata::mounttest {

struct ChrootResult {
  int exit_code = -1;  // -1: killed or could not start
  std::string output;  // stdout and stderr together
  std::string error;   // why it could not run / was killed
};

ChrootResult RunInChroot(const std::string& root, const std::string& script,
                         int time_limit_seconds = 20);

}  // namespace strata::mounttest
