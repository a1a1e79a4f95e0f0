// FUSE: lookup, forget, getattr, setattr, readlink, statfs.
#include <fcntl.h>
#include <malloc.h>

#include <atomic>
#include <string>

#include "fs/ops/fs_context.h"
#include "fs/ops/operations.h"

namespace strata::ops {

namespace {

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  STRATA_TIME_OP(req, kLookup);
  if (Ctx(req).guess_readdir_attrs)
    Ctx(req).stat_after_listing.LookedUp(fuse_req_ctx(req)->pid, parent);
  auto e = Fs(req).Lookup(parent, name);
  if (!e.ok()) return (void)fuse_reply_err(req, e.error());
  ReplyEntry(req, *e);
}

// Gives the memory of forgotten nodes back to the system every
// kTrimEvery forgets. When the kernel drops its inodes (memory pressure,
// drop_caches) the nodes' memory would otherwise stay in the worker threads'
// malloc arenas: 20 MiB after forgetting 100,000 nodes. Counting forgets, not
// looking at batch sizes: the kernel sends them one by one as often as in
// batches, depending on how fast the daemon reads.
void NoteForgotten(size_t count) {
  constexpr uint64_t kTrimEvery = 4096;
  static std::atomic<uint64_t> forgotten{0};
  const uint64_t before = forgotten.fetch_add(count, std::memory_order_relaxed);
  if ((before + count) / kTrimEvery != before / kTrimEvery) ::malloc_trim(0);
}

void Forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  STRATA_TIME_OP(req, kForget);
  Fs(req).Forget(ino, nlookup);
  fuse_reply_none(req);
  NoteForgotten(1);
}

void ForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  STRATA_TIME_OP(req, kForget);
  for (size_t i = 0; i < count; ++i) Fs(req).Forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
  NoteForgotten(count);
}

void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  STRATA_TIME_OP(req, kGetattr);
  auto node = Fs(req).Get(ino);
  if (!node) return (void)fuse_reply_err(req, ESTALE);
  // fstat() of an open file: ask the file itself (it may be unlinked).
  auto st = (fi && fi->fh && !node->is_dir()) ? Fs(req).GetAttrFd(*node, Handle(fi)->Current())
                                              : Fs(req).GetAttr(*node);
  if (!st.ok()) return (void)fuse_reply_err(req, st.error());
  ReplyAttr(req, *st);
}

void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  STRATA_TIME_OP(req, kSetattr);
  auto node = Fs(req).Get(ino);
  if (!node) return (void)fuse_reply_err(req, ESTALE);
  int valid = 0;
  if (to_set & FUSE_SET_ATTR_MODE) valid |= UnionFs::kSetMode;
  if (to_set & FUSE_SET_ATTR_UID) valid |= UnionFs::kSetUid;
  if (to_set & FUSE_SET_ATTR_GID) valid |= UnionFs::kSetGid;
  if (to_set & FUSE_SET_ATTR_SIZE) valid |= UnionFs::kSetSize;
  if (to_set & FUSE_SET_ATTR_ATIME) valid |= UnionFs::kSetAtime;
  if (to_set & FUSE_SET_ATTR_MTIME) valid |= UnionFs::kSetMtime;
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) valid |= UnionFs::kSetAtimeNow;
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) valid |= UnionFs::kSetMtimeNow;
  if (to_set & FUSE_SET_ATTR_CTIME) valid |= UnionFs::kSetCtime;
  int fd = -1;
  if (fi && fi->fh) {
    FileHandle* fh = Handle(fi);
    int cur = fh->Current();
    if (fh->on_upper()) fd = cur;
  }
  if ((valid & UnionFs::kSetSize) && S_ISREG(node->type()) && Ctx(req).chunked_files) {
    // A chunked file must know its new size (an extension reads as zeros).
    Status up = Fs(req).CopyUp(node, attr->st_size != 0);
    if (!up.ok()) return (void)fuse_reply_err(req, up.error());
    auto rw = Fs(req).OpenObject(*node, O_RDWR);
    if (!rw.ok()) return (void)fuse_reply_err(req, rw.error());
    auto cf = Ctx(req).chunked_files->Get(rw->get());
    // ENODATA: plain, or completed (and made plain) by a close meanwhile.
    if (!cf.ok() && cf.error() != ENODATA) return (void)fuse_reply_err(req, cf.error());
    if (cf.ok()) {
      auto growth = Fs(req).ChargeGrowth(rw->get(), attr->st_size);
      if (!growth.ok()) return (void)fuse_reply_err(req, growth.error());
      Status t = (*cf)->Truncate(attr->st_size);
      Fs(req).SettleGrowth(rw->get(), *growth);
      if (!t.ok()) return (void)fuse_reply_err(req, t.error());
      valid &= ~UnionFs::kSetSize;
    }
  }
  auto st = Fs(req).SetAttr(node, *attr, valid, fd);
  if (!st.ok()) return (void)fuse_reply_err(req, st.error());
  ReplyAttr(req, *st);
}

void ReadLink(fuse_req_t req, fuse_ino_t ino) {
  STRATA_TIME_OP(req, kReadlink);
  auto node = Fs(req).Get(ino);
  if (!node) return (void)fuse_reply_err(req, ESTALE);
  auto target = Fs(req).ReadLink(*node);
  if (!target.ok()) return (void)fuse_reply_err(req, target.error());
  fuse_reply_readlink(req, target->c_str());
}

void StatFs(fuse_req_t req, fuse_ino_t) {
  STRATA_TIME_OP(req, kStatfs);
  auto sv = Fs(req).StatFs();
  if (!sv.ok()) return (void)fuse_reply_err(req, sv.error());
  fuse_reply_statfs(req, &*sv);
}

}  // namespace

void AddEntryOps(fuse_lowlevel_ops* ops) {
  ops->lookup = Lookup;
  ops->forget = Forget;
  ops->forget_multi = ForgetMulti;
  ops->getattr = GetAttr;
  ops->setattr = SetAttr;
  ops->readlink = ReadLink;
  ops->statfs = StatFs;
}

}  // namespace strata::ops
