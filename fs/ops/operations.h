// The FUSE low-level operation table: each operation decodes its request,
// calls UnionFs once, and replies once.
#pragma once

#include <fuse_lowlevel.h>

namespace strata::ops {

fuse_lowlevel_ops MakeOperations();

// Registration helpers, one per file of fs/ops/.
void AddEntryOps(fuse_lowlevel_ops* ops);
void AddNamespaceOps(fuse_lowlevel_ops* ops);
void AddFileOps(fuse_lowlevel_ops* ops);
void AddDirOps(fuse_lowlevel_ops* ops);
void AddXattrOps(fuse_lowlevel_ops* ops);
void AddSessionOps(fuse_lowlevel_ops* ops);

}  // namespace strata::ops
