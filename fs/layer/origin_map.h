// The inode numbers copied-up objects keep reporting (st_ino stable across
// copy-up and remount).
//
// Where the number lives:
//  - On the upper object itself, as the xattr `trusted.overlay.strata.origin`
//    (decimal text), set on the temporary copy before the rename publishes
//    it: it costs no inode, follows hard links, dies with the object, and
//    reaches the disk with the object's own metadata. The `trusted.overlay.`
//    prefix is overlayfs-private: kernel overlayfs mounting this upper hides
//    it and ignores it (it reads only its own names), as does strata.
//  - Where trusted.* cannot be set (rootless mounts), in the work directory:
//    WORKDIR/strata-origin holds symlinks "<upper inode number>" ->
//    "<reported inode number>" (also how strata recorded them before). Such
//    a map is consulted only when it has entries.
#pragma once

#include <sys/types.h>

#include "fs/base/result.h"
#include "fs/base/unique_fd.h"

namespace strata::layer {

inline constexpr const char* kOriginDirName = "strata-origin";
inline constexpr const char* kOriginXattr = "trusted.overlay.strata.origin";

struct OriginStore {
  int map_fd = -1;          // WORKDIR/strata-origin; -1 without an upper
  bool on_objects = false;  // new origins go in xattrs on the upper objects
  bool map_in_use = false;  // the map holds entries: look there too
};

// Opens (creating it) WORKDIR/strata-origin.
Result<UniqueFd> OpenOriginMap(int workdir_root);
// Fills `store` for a mount: whether trusted.* xattrs can be set on the
// upper's filesystem (probed on `work_dir`, a directory we own there) and
// whether the map has entries.
void ProbeOriginStore(int work_dir, OriginStore* store);

// The number recorded for the upper object `name` in `dirfd`, whose inode
// number is `upper_ino`, or 0.
ino_t GetOrigin(const OriginStore& store, int dirfd, const char* name, ino_t upper_ino);
// Records the number for a not yet published upper object (`obj_fd`, any fd
// on it, O_PATH included, whose inode number is `upper_ino`).
Status SetOrigin(const OriginStore& store, int obj_fd, ino_t upper_ino, ino_t reported);
// Forgets `upper_ino` (its last name is gone; the number may be reused).
// Nothing to do for xattrs: they go with the object.
void RemoveOrigin(const OriginStore& store, ino_t upper_ino);

}  // namespace strata::layer
