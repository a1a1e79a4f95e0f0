// The work directory: WORKDIR/work, where copy-ups and other multi-step
// changes are built before one rename makes them visible (kernel layout).
#pragma once

#include <string>

#include "fs/base/result.h"
#include "fs/base/unique_fd.h"

namespace strata::layer {

// Creates WORKDIR/work if missing, removes anything a crash left in it, and
// returns an fd on it.
Result<UniqueFd> PrepareWorkDir(const std::string& workdir);

// Removes `name` in `dirfd` and, for a directory, everything below it, without
// following any symlink.
Status RemoveTree(int dirfd, const char* name);

// A fresh name for a temporary entry in the work directory.
std::string NewTempName();

}  // namespace strata::layer
