// Copying a regular file's data for copy-up: a reflink when the filesystem can
// share extents, else copy_file_range over the data segments only (holes stay
// holes), else a read/write loop.
#pragma once

#include <sys/types.h>

#include "fs/base/result.h"

namespace strata::copyup {

// How CopyFileData did it; reported in statistics and tests.
enum class CopyMethod { kClone, kCopyFileRange, kReadWrite };

// Copies `size` bytes of `src` into the empty file `dst` (both open fds).
Result<CopyMethod> CopyFileData(int src, int dst, off_t size);

}  // namespace strata::copyup
