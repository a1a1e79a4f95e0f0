// FUSE: opendir, readdir, readdirplus, releasedir, fsyncdir.
//
// A readdir offset is the hash of the name read last (see MergedEntry), so it
// stays valid across seekdir/telldir and concurrent changes, with or without
// an open directory handle. When the kernel supports it, directories are not
// opened at all (FUSE_CAP_NO_OPENDIR_SUPPORT) and it caches listings itself.
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "fs/ops/fs_context.h"
#include "fs/ops/operations.h"

namespace strata::ops {

namespace {

struct DirHandle {
  std::shared_ptr<Node> dir;
};

void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  STRATA_TIME_OP(req, kOpendir);
  if (Ctx(req).no_opendir) return (void)fuse_reply_err(req, ENOSYS);
  auto node = Fs(req).Get(ino);
  if (!node) return (void)fuse_reply_err(req, ESTALE);
  if (!node->is_dir()) return (void)fuse_reply_err(req, ENOTDIR);
  auto* dh = new DirHandle{node};
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

void DoReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus) {
  UnionFs& fs = Fs(req);
  auto dir = fs.Get(ino);
  if (!dir) return (void)fuse_reply_err(req, ESTALE);
  auto listing = fs.ReadDir(dir);
  if (!listing.ok()) return (void)fuse_reply_err(req, listing.error());
  const Listing& list = **listing;
  FsContext& ctx = Ctx(req);
  const pid_t caller = fuse_req_ctx(req)->pid;
  // Whether entries other than directories get their attributes (a stat in
  // their layer each) or go bare, with nodeid 0 (see stat_after_listing.h).
  const bool all_attrs = !ctx.guess_readdir_attrs || ctx.stat_after_listing.WantsAttrs(caller);
  bool gave_bare = false;
  bool gave_attrs = false;

  std::vector<char> buf(size);
  size_t pos = 0;
  auto add_dot = [&](const char* name, ino_t dot_ino, off_t next) {
    struct stat st {};
    st.st_ino = dot_ino;
    st.st_mode = S_IFDIR;
    size_t len;
    if (plus) {
      fuse_entry_param p{};
      p.attr = st;  // nodeid 0: the kernel makes no dentry for . and ..
      len = fuse_add_direntry_plus(req, buf.data() + pos, size - pos, name, &p, next);
    } else {
      len = fuse_add_direntry(req, buf.data() + pos, size - pos, name, &st, next);
    }
    if (len > size - pos) return false;
    pos += len;
    return true;
  };
  uint64_t from = static_cast<uint64_t>(off);
  if (from == 0) {
    if (!add_dot(".", dir->ino(), 1)) return (void)fuse_reply_buf(req, buf.data(), pos);
    from = 1;
  }
  if (from == 1) {
    auto parent = dir->parent();
    if (!add_dot("..", parent ? parent->ino() : dir->ino(), 2))
      return (void)fuse_reply_buf(req, buf.data(), pos);
  }
  auto it = std::upper_bound(list.begin(), list.end(), from,
                             [](uint64_t v, const layer::MergedEntry& e) { return v < e.offset; });
  if (it == list.end() && from > 1) {
    // The kernel always ends a listing with this empty request, and it keeps
    // what it read in its own cache (FOPEN_CACHE_DIR, the default without
    // opendir): keeping our copy would cost ~60 bytes per entry for a re-read
    // that only comes after the kernel dropped its cache.
    dir->DropListing();
  }
  for (; it != list.end(); ++it) {
    const layer::MergedEntry& e = *it;
    const off_t next = static_cast<off_t>(e.offset);
    size_t len;
    // DT_UNKNOWN may be a directory: look it up.
    const bool bare = plus && !all_attrs && e.type != DT_DIR && e.type != DT_UNKNOWN;
    if (!plus) {
      struct stat st {};
      st.st_ino = e.ino;
      st.st_mode = DTTOIF(e.type);
      len = fuse_add_direntry(req, buf.data() + pos, size - pos, e.name.c_str(), &st, next);
      if (len > size - pos) break;
    } else if (bare) {
      fuse_entry_param p{};  // nodeid 0: the kernel makes no dentry, a stat looks it up
      p.attr.st_ino = e.ino;
      p.attr.st_mode = DTTOIF(e.type);
      len = fuse_add_direntry_plus(req, buf.data() + pos, size - pos, e.name.c_str(), &p, next);
      if (len > size - pos) break;
      gave_bare = true;
    } else {
      // The listing says which layer provides the entry: skip the lowers above it.
      auto found = fs.Lookup(ino, e.name, e.layer);
      if (found.ok() && !found->node) continue;  // gone since the listing was made
      fuse_entry_param p{};
      if (found.ok()) {
        p.ino = found->node->nodeid();
        p.attr = found->attr;
        p.attr_timeout = Ctx(req).timeout;
        p.entry_timeout = Ctx(req).timeout;
      } else {
        // The name is there but cannot be looked up (EIO from a lower, say):
        // list it as kernel overlayfs does; nodeid 0 gives the kernel no
        // dentry, so stat of it asks again and gets the error.
        if (found.error() == ENOENT) continue;
        p.attr.st_ino = e.ino;
        p.attr.st_mode = DTTOIF(e.type);
      }
      len = fuse_add_direntry_plus(req, buf.data() + pos, size - pos, e.name.c_str(), &p, next);
      if (len > size - pos) {
        if (found.ok()) fs.Forget(found->node->nodeid(), 1);
        break;
      }
    }
    gave_attrs = gave_attrs || (plus && !bare);
    pos += len;
  }
  // Counted: replies with entries (not the empty one that ends a listing).
  if (gave_bare) {
    ctx.stat_after_listing.ListedBare(caller, ino);
    ctx.op_stats.listings_bare.fetch_add(1, std::memory_order_relaxed);
  } else if (gave_attrs) {
    ctx.op_stats.listings_with_attrs.fetch_add(1, std::memory_order_relaxed);
  }
  fuse_reply_buf(req, buf.data(), pos);
}

void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  STRATA_TIME_OP(req, kReaddir);
  DoReadDir(req, ino, size, off, false);
}

void ReadDirPlus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  STRATA_TIME_OP(req, kReaddirplus);
  DoReadDir(req, ino, size, off, true);
}

void ReleaseDir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  STRATA_TIME_OP(req, kReleasedir);
  delete reinterpret_cast<DirHandle*>(static_cast<uintptr_t>(fi->fh));
  Ctx(req).op_stats.open_dirs.fetch_sub(1, std::memory_order_relaxed);
  fuse_reply_err(req, 0);
}

void FsyncDir(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
  STRATA_TIME_OP(req, kFsyncdir);
  if (!Fs(req).config().durable) return (void)fuse_reply_err(req, 0);
  auto node = Fs(req).Get(ino);
  if (!node) return (void)fuse_reply_err(req, ESTALE);
  auto p = node->placement();
  if (p->dirs.empty()) return (void)fuse_reply_err(req, ENOTDIR);
  int rc = ::fsync(p->dirs.front().fd.get());
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
