// FUSE: mknod, mkdir, symlink, link, unlink, rmdir, rename.
#include "fs/ops/fs_context.h"
#include "fs/ops/operations.h"

namespace strata::ops {

namespace {

void ReplyNew(fuse_req_t req, const Result<Entry>& e) {
  if (!e.ok()) return (void)fuse_reply_err(req, e.error());
  ReplyEntry(req, *e);
}

void MkNod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  STRATA_TIME_OP(req, kMknod);
  ReplyNew(req, Fs(req).MkNod(CallerOf(req), parent, name, mode, rdev));
}

void MkDir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  STRATA_TIME_OP(req, kMkdir);
  ReplyNew(req, Fs(req).MkDir(CallerOf(req), parent, name, mode));
}

void Symlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
  STRATA_TIME_OP(req, kSymlink);
  ReplyNew(req, Fs(req).Symlink(CallerOf(req), parent, name, target));
}

void Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  STRATA_TIME_OP(req, kLink);
  ReplyNew(req, Fs(req).Link(ino, newparent, newname));
}

void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  STRATA_TIME_OP(req, kUnlink);
  ReplyStatus(req, Fs(req).Unlink(parent, name));
}

void Rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  STRATA_TIME_OP(req, kRmdir);
  ReplyStatus(req, Fs(req).Rmdir(parent, name));
}

void Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
            const char* newname, unsigned int flags) {
  STRATA_TIME_OP(req, kRename);
  ReplyStatus(req, Fs(req).Rename(parent, name, newparent, newname, flags));
}

}  // namespace

void AddNamespaceOps(fuse_lowlevel_ops* ops) {
  ops->mknod = MkNod;
  ops->mkdir = MkDir;
  ops->symlink = Symlink;
  ops->link = Link;
  ops->unlink = Unlink;
  ops->rmdir = Rmdir;
  ops->rename = Rename;
}

}  // namespace strata::ops
