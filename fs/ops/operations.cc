#include "fs/ops/operations.h"

#include <fcntl.h>

#include <cstring>

#include "fs/ops/fs_context.h"
#include "fs/sys/syscalls.h"

namespace strata::ops {

fuse_lowlevel_ops MakeOperations() {
  fuse_lowlevel_ops ops;
  std::memset(&ops, 0, sizeof ops);
  AddSessionOps(&ops);
  AddEntryOps(&ops);
  AddNamespaceOps(&ops);
  AddFileOps(&ops);
  AddDirOps(&ops);
  AddXattrOps(&ops);
  return ops;
}

void ReplyEntry(fuse_req_t req, const Entry& e) {
  const FsContext& ctx = Ctx(req);
  fuse_entry_param p;
  std::memset(&p, 0, sizeof p);
  if (e.node) {
    p.ino = e.node->nodeid();
    p.attr = e.attr;
    p.attr_timeout = ctx.timeout;
  }
  // Also for a missing name: the kernel caches the negative entry.
  p.entry_timeout = ctx.timeout;
  if (fuse_reply_entry(req, &p) != 0 && e.node) Fs(req).Forget(e.node->nodeid(), 1);
}

void ReplyAttr(fuse_req_t req, const struct stat& st) {
  fuse_reply_attr(req, &st, Ctx(req).timeout);
}

int FileHandle::Switch() {
  {
    std::lock_guard lock(mu_);
    const int now = node_->layer();
    if (layer_.load() == now) return fd_.load();
    auto fresh =
        ctx_->fs->OpenObject(*node_, flags_ & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_NOFOLLOW));
    if (fresh.ok()) {
      fd_.store(fresh->get(), std::memory_order_release);
      fds_.push_back(std::move(*fresh));
    }
    layer_.store(now, std::memory_order_release);
  }
  AttachChunked();
  return fd_.load();
}

void FileHandle::AttachChunked() {
  if (!ctx_->chunked_files || !S_ISREG(node_->type()) ||
      layer_.load() != layer::LayerStack::kUpper)
    return;
  auto is = chunked::IsChunked(fd_.load());
  if (!is.ok()) {
    chunked_error_.store(is.error(), std::memory_order_release);
    return;
  }
  if (!*is) return;
  // The chunked state writes into the upper file: give it a read-write fd.
  auto rw = ctx_->fs->OpenObject(*node_, O_RDWR);
  if (!rw.ok()) {
    chunked_error_.store(rw.error(), std::memory_order_release);
    return;
  }
  auto cf = ctx_->chunked_files->Get(rw->get());
  if (!cf.ok()) {
    // ENODATA: the last handle's close completed the file meanwhile (its
    // xattr is gone): a plain file now.
    if (cf.error() != ENODATA) chunked_error_.store(cf.error(), std::memory_order_release);
    return;
  }
  std::lock_guard lock(mu_);
  chunked_ = std::move(*cf);
  has_chunked_.store(true, std::memory_order_release);
}

}  // namespace strata::ops
