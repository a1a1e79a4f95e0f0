// The inode numbers copied-up objects keep reporting (st_ino stable across
// copy-up and remount). Kept in the work directory, WORKDIR/strata-origin, as
// symlinks "<upper inode number>" -> "<reported inode number>": an xattr on the
// upper object would be shown as junk by kernel overlayfs mounting that upper
// (DESIGN §2), while the work directory is private to the mounter.
#pragma once

#include <sys/types.h>

#include "fs/base/result.h"
#include "fs/base/unique_fd.h"

namespace strata::layer {

inline constexpr const char* kOriginDirName = "strata-origin";

// Opens (creating it) WORKDIR/strata-origin.
Result<UniqueFd> OpenOriginMap(int workdir_root);

// The number recorded for the upper object with inode `upper_ino`, or 0.
ino_t GetOrigin(int map_fd, ino_t upper_ino);
// Records (replacing atomically) the number for `upper_ino`.
Status SetOrigin(int map_fd, ino_t upper_ino, ino_t reported);
// Forgets `upper_ino` (its last name is gone; the number may be reused).
void RemoveOrigin(int map_fd, ino_t upper_ino);

}  // namespace strata::layer
