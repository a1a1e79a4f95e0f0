// FUSE: init — what we ask of the kernel.
#include "fs/ops/fs_context.h"
#include "fs/ops/operations.h"

namespace strata::ops {

namespace {

void Init(void* userdata, fuse_conn_info* conn) {
  auto* ctx = static_cast<FsContext*>(userdata);
  auto want = [conn](unsigned cap) {
    if (conn->capable & cap) conn->want |= cap;
  };
  want(FUSE_CAP_ATOMIC_O_TRUNC);  // open(O_TRUNC) copies up without data
  want(FUSE_CAP_PARALLEL_DIROPS);
  want(FUSE_CAP_CACHE_SYMLINKS);
  want(FUSE_CAP_READDIRPLUS);
  // Every chunk of a listing as READDIRPLUS, not only the first (the kernel's
  // "auto" mode sends the rest as plain READDIR unless the caller stat'ed
  // between two): the directories in later chunks then come with their
  // attributes too, where a walk would look each up, and the daemon decides
  // what else is worth a stat (core/stat_after_listing.h). Cold `find`
  // 0.585 -> 0.490 s (bench/RESULTS.md, 2026-12-04).
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  if (ctx->splice) {
    want(FUSE_CAP_SPLICE_WRITE);
    want(FUSE_CAP_SPLICE_MOVE);
    want(FUSE_CAP_SPLICE_READ);
  }
  // Nothing changes under the kernel's caches but through us: no need to
  // revalidate cached pages or listings against mtime.
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
  // Directories need no open: readdir offsets are name hashes, valid without
  // a per-open snapshot, and the kernel then caches listings by itself.
  if (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) {
    conn->want |= FUSE_CAP_NO_OPENDIR_SUPPORT;
    ctx->no_opendir = true;
  }
  if (ctx->writeback) want(FUSE_CAP_WRITEBACK_CACHE);
  else conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  // Locks stay in the kernel: every user of the mount is on this host.
  conn->want &= ~(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
  conn->max_write = 1u << 20;
  conn->max_readahead = 1u << 20;
}

}  // namespace

void AddSessionOps(fuse_lowlevel_ops* ops) { ops->init = Init; }

}  // namespace strata::ops
