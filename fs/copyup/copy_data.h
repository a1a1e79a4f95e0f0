// Copying a regular file's data for copy-up: a reflink when the filesystem can
// share extents, else copy_file_range over the data segments only (holes stay
// holes), else sendfile (across filesystems), else a read/write loop.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include "fs/base/result.h"

namespace strata::copyup {

// How CopyFileData did it; reported in statistics and tests.
enum class CopyMethod { kClone, kCopyFileRange, kSendfile, kReadWrite };

// Copies `size` bytes of `src` into the empty file `dst` (both open fds).
// `may_have_holes` false (the source's blocks cover its size, as for nearly
// every small file) copies one range: no SEEK_DATA/SEEK_HOLE probes and no
// final ftruncate, three syscalls less per copy-up. `will_fsync` (the caller
// fsyncs the copy next) starts the disk writes of each copied chunk at once,
// so that fsync finds little left to write.
Result<CopyMethod> CopyFileData(int src, int dst, off_t size, bool may_have_holes = true,
                                bool will_fsync = false);

// Whether a file of this stat can hold a hole worth skipping.
bool MayHaveHoles(const struct stat& st);

}  // namespace strata::copyup
