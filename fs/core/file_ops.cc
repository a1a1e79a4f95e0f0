// UnionFs: opening files.
#include <fcntl.h>

#include "fs/core/union_fs.h"
#include "fs/sys/syscalls.h"

namespace strata {

Result<UniqueFd> UnionFs::Open(const std::shared_ptr<Node>& node, int flags) {
  if (node->is_dir()) return Errno(EISDIR);
  const bool writes = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
  if (writes) {
    if (config_.read_only) return Errno(EROFS);
    // O_TRUNC empties the file anyway: copy up without its data.
    STRATA_RETURN_IF_ERROR(CopyUp(node, !(flags & O_TRUNC)));
  }
  // The kernel handles O_CREAT/O_EXCL itself; O_NOCTTY etc. mean nothing here.
  int real = flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_NOFOLLOW);
  return OpenObject(*node, real);
}

}  // namespace strata
