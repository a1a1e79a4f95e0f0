// FUSE: opendir, readdir, readdirplus, releasedir, fsyncdir. A directory
// handle keeps a snapshot of the merged listing, so offsets stay valid
// across seekdir/telldir and concurrent changes.
#include <dirent.h>
#include <unistd.h>

#include <vector>

#include "fs/ops/fs_context.h"
#include "fs/ops/operations.h"

namespace strata::ops {

namespace {

struct DirHandle {
  std::shared_ptr<Node> dir;
  std::shared_ptr<const Listing> listing;
};

DirHandle* DirOf(const fuse_file_info* fi) {
  return reinterpret_cast<DirHandle*>(static_cast<uintptr_t>(fi->fh));
}

void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  STRATA_TIME_OP(req, kOpendir);
  auto node = Fs(req).Get(ino);
  if (!node) return (void)fuse_reply_err(req, ESTALE);
  auto listing = Fs(req).ReadDir(node);
  if (!listing.ok()) return (void)fuse_reply_err(req, listing.error());
  auto* dh = new DirHandle{node, std::move(*listing)};
  fi->fh = reinterpret_cast<uintptr_t>(dh);
  // Directories change only through this mount: let the kernel cache them.
  fi->cache_readdir = 1;
  fi->keep_cache = 1;
  Ctx(req).op_stats.open_dirs.fetch_add(1, std::memory_order_relaxed);
  if (fuse_reply_open(req, fi) != 0) {
    delete dh;
    Ctx(req).op_stats.open_dirs.fetch_sub(1, std::memory_order_relaxed);
  }
}

void DoReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
               bool plus) {
  DirHandle* dh = DirOf(fi);
  UnionFs& fs = Fs(req);
  if (off == 0) {  // rewinddir: see the directory as it is now
    auto fresh = fs.ReadDir(dh->dir);
    if (fresh.ok()) dh->listing = std::move(*fresh);
  }
  const Listing& list = *dh->listing;
  const size_t total = list.size() + 2;
  std::vector<char> buf(size);
  size_t pos = 0;
  auto parent = dh->dir->parent();
  for (size_t idx = static_cast<size_t>(off); idx < total; ++idx) {
    const char* name;
    struct stat st {};
    if (idx == 0) {
      name = ".";
      st.st_ino = dh->dir->ino();
      st.st_mode = S_IFDIR;
    } else if (idx == 1) {
      name = "..";
      st.st_ino = parent ? parent->ino() : dh->dir->ino();
      st.st_mode = S_IFDIR;
    } else {
      const layer::MergedEntry& e = list[idx - 2];
      name = e.name.c_str();
      st.st_ino = e.ino;
      st.st_mode = DTTOIF(e.type);
    }
    const off_t next = static_cast<off_t>(idx + 1);
    size_t len;
    if (!plus) {
      len = fuse_add_direntry(req, buf.data() + pos, size - pos, name, &st, next);
      if (len > size - pos) break;
    } else {
      fuse_entry_param p{};
      std::shared_ptr<Node> looked_up;
      if (idx >= 2) {
        auto e = fs.Lookup(ino, name);
        if (!e.ok() || !e->node) continue;  // gone since the snapshot
        looked_up = e->node;
        p.ino = looked_up->nodeid();
        p.attr = e->attr;
        p.attr_timeout = Ctx(req).timeout;
        p.entry_timeout = Ctx(req).timeout;
      } else {
        p.attr = st;  // nodeid 0: the kernel makes no dentry for . and ..
      }
      len = fuse_add_direntry_plus(req, buf.data() + pos, size - pos, name, &p, next);
      if (len > size - pos) {
        if (looked_up) fs.Forget(looked_up->nodeid(), 1);
        break;
      }
    }
    pos += len;
  }
  fuse_reply_buf(req, buf.data(), pos);
}

void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  STRATA_TIME_OP(req, kReaddir);
  DoReadDir(req, ino, size, off, fi, false);
}

void ReadDirPlus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  STRATA_TIME_OP(req, kReaddirplus);
  DoReadDir(req, ino, size, off, fi, true);
}

void ReleaseDir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  STRATA_TIME_OP(req, kReleasedir);
  delete DirOf(fi);
  Ctx(req).op_stats.open_dirs.fetch_sub(1, std::memory_order_relaxed);
  fuse_reply_err(req, 0);
}

void FsyncDir(fuse_req_t req, fuse_ino_t, int, fuse_file_info* fi) {
  STRATA_TIME_OP(req, kFsyncdir);
  if (!Fs(req).config().durable) return (void)fuse_reply_err(req, 0);
  auto p = DirOf(fi)->dir->placement();
  int rc = ::fsync(p->object_fd());
  fuse_reply_err(req, rc < 0 ? errno : 0);
}

}  // namespace

void AddDirOps(fuse_lowlevel_ops* ops) {
  ops->opendir = OpenDir;
  ops->readdir = ReadDir;
  ops->readdirplus = ReadDirPlus;
  ops->releasedir = ReleaseDir;
  ops->fsyncdir = FsyncDir;
}

}  // namespace strata::ops
