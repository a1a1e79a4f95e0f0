// Copying an object's metadata for copy-up: xattrs (but the overlay-private
// ones), then owner, then mode (chown clears setuid bits, so mode comes after),
// then timestamps (last, as every other step touches them).
#pragma once

#include <sys/stat.h>

#include "fs/base/result.h"

namespace strata::copyup {

// Copies every xattr but the private ones from `src` to `dst` (any fds, O_PATH
// included). Attributes the target filesystem does not support are skipped.
Status CopyXattrs(int src, int dst);

// Metadata of `name` in `dirfd` (a private work directory entry, so the name
// cannot be swapped), in the order copy-up needs: the owner first (chown drops
// security.capability and set-ID bits), then the xattrs, then the mode, then
// the timestamps (every other step touches them).
Status ApplyOwner(int dirfd, const char* name, const struct stat& st);
Status ApplyModeTimes(int dirfd, const char* name, const struct stat& st);
// The same through an open, non-O_PATH fd on the object (a regular file or a
// directory): no path walk, and the xattr calls work on it directly.
Status ApplyOwnerFd(int fd, const struct stat& st);
Status ApplyModeTimesFd(int fd, const struct stat& st);
// Both, for objects without xattrs to keep.
Status ApplyOwnerModeTimes(int dirfd, const char* name, const struct stat& st);

}  // namespace strata::copyup
