// FUSE: open, create, read, write, flush, release, fsync, fallocate, lseek,
// copy_file_range. Data moves with splice where libfuse can.
#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include "fs/ops/fs_context.h"
#include "fs/ops/operations.h"
#include "fs/sys/syscalls.h"

namespace strata::ops {

namespace {

// Reads up to this size are answered from a buffer rather than spliced.
constexpr size_t kSmallRead = 64 * 1024;

int AdjustFlags(fuse_req_t req, int flags) {
  // O_DIRECT is the kernel's business (it bypasses its page cache for such a
  // file); the daemon's buffers are not block-aligned, so the backing file is
  // opened without it.
  flags &= ~O_DIRECT;
  // With the writeback cache the kernel may read from a write-only file.
  if (Ctx(req).writeback && (flags & O_ACCMODE) == O_WRONLY) flags = (flags & ~O_ACCMODE) | O_RDWR;
  // ... and it handles O_APPEND itself.
  if (Ctx(req).writeback) flags &= ~O_APPEND;
  return flags;
}

// Whether the kernel may read and write the handle's file by itself (FUSE
// passthrough): its data is whole in the upper (no copy-up can move it, no
// chunk is missing), or the mount is read-only (nothing is ever copied up);
// and no write needs counting for a quota. A lower file of a writable mount
// stays with us: once another open copies it up, this handle must read the
// copy (FileHandle::Current), which a backing file cannot follow.
bool MayPassThrough(const FsContext& ctx, FileHandle* fh) {
  if (!ctx.passthrough || !ctx.passthrough->enabled()) return false;
  if (!S_ISREG(fh->node()->type()) || ctx.fs->quota().enabled()) return false;
  if (fh->chunked() || fh->chunked_error()) return false;
  return fh->on_upper() || ctx.fs->config().read_only;
}

// Sets the reply's open flags and gives the handle its I/O mode (see
// IoModeTable); a passthrough grant is announced to the reply hook.
void SetOpenFlags(fuse_req_t req, fuse_file_info* fi, FileHandle* fh) {
  FsContext& ctx = Ctx(req);
  fi->fh = reinterpret_cast<uintptr_t>(fh);
  // Lower files never change and the upper changes only through us.
  fi->keep_cache = 1;
  if (!ctx.io_modes) return;
  auto grant = ctx.io_modes->Open(fh->node()->nodeid(), fh->Current(), MayPassThrough(ctx, fh));
  fh->set_passthrough(grant.passthrough);
  // The kernel refuses a cached page cache on a passthrough file; and after
  // a failed registration, pages cached before a passthrough write may be stale.
  if (grant.passthrough || grant.fallback) fi->keep_cache = 0;
  if (grant.passthrough) KernelPassthrough::ExpectOpenReply(fh, grant.backing_id);
}

// After the open's reply, which freed the request and, once sent, may have
// been followed by the file's RELEASE on another thread (`fh` is then gone).
// `sent` is fuse_reply_*'s result; when false, `fh` is still ours.
void OpenReplied(FsContext& ctx, FileHandle* fh, bool sent) {
  KernelPassthrough::EndOpenReply();
  if (!sent && ctx.io_modes) ctx.io_modes->Release(fh->node()->nodeid(), fh->passthrough());
}

void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  STRATA_TIME_OP(req, kOpen);
  auto node = Fs(req).Get(ino);
  if (!node) return (void)fuse_reply_err(req, ESTALE);
  int flags = AdjustFlags(req, fi->flags);
  auto fd = Fs(req).Open(node, flags);
  if (!fd.ok()) return (void)fuse_reply_err(req, fd.error());
  auto* fh = new FileHandle(&Ctx(req), node, std::move(*fd), flags);
  if (int e = fh->chunked_error()) {
    delete fh;
    return (void)fuse_reply_err(req, e);
  }
  SetOpenFlags(req, fi, fh);
  Ctx(req).op_stats.open_files.fetch_add(1, std::memory_order_relaxed);
  FsContext& ctx = Ctx(req);
  const bool sent = fuse_reply_open(req, fi) == 0;
  OpenReplied(ctx, fh, sent);
  if (!sent) {
    delete fh;
    ctx.op_stats.open_files.fetch_sub(1, std::memory_order_relaxed);
  }
}

void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  STRATA_TIME_OP(req, kCreate);
  int flags = AdjustFlags(req, fi->flags);
  UniqueFd fd;
  auto e = Fs(req).Create(CallerOf(req), parent, name, mode, flags, &fd);
  if (!e.ok()) return (void)fuse_reply_err(req, e.error());
  auto* fh = new FileHandle(&Ctx(req), e->node, std::move(fd), flags, /*created=*/true);
  SetOpenFlags(req, fi, fh);
  Ctx(req).op_stats.open_files.fetch_add(1, std::memory_order_relaxed);
  fuse_entry_param p{};
  p.ino = e->node->nodeid();
  p.attr = e->attr;
  p.attr_timeout = Ctx(req).timeout;
  p.entry_timeout = Ctx(req).timeout;
  FsContext& ctx = Ctx(req);
  const bool sent = fuse_reply_create(req, &p, fi) == 0;
  OpenReplied(ctx, fh, sent);
  if (!sent) {
    delete fh;
    ctx.op_stats.open_files.fetch_sub(1, std::memory_order_relaxed);
    ctx.fs->Forget(e->node->nodeid(), 1);
  }
}

void Read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  STRATA_TIME_OP(req, kRead);
  if (auto cf = Handle(fi)->chunked()) {
    // Chunks not yet written come from the lower file.
    std::vector<char> data(size);
    auto n = cf->Read(data.data(), size, off);
    if (!n.ok()) return (void)fuse_reply_err(req, n.error());
    return (void)fuse_reply_buf(req, data.data(), *n);
  }
  if (int e = Handle(fi)->chunked_error()) return (void)fuse_reply_err(req, e);
  const int fd = Handle(fi)->Current();
  if (size <= kSmallRead) {
    // Small reads (most files are small): one pread and one reply beat
    // libfuse's splice path, which costs four syscalls and a pipe.
    thread_local std::vector<char> small(kSmallRead);
    size_t got = 0;
    while (got < size) {
      ssize_t n = ::pread(fd, small.data() + got, size - got, off + static_cast<off_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return (void)fuse_reply_err(req, errno);
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    return (void)fuse_reply_buf(req, small.data(), got);
  }
  fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
  buf.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  buf.buf[0].fd = fd;
  buf.buf[0].pos = off;
  fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

void WriteBuf(fuse_req_t req, fuse_ino_t, fuse_bufvec* in, off_t off, fuse_file_info* fi) {
  STRATA_TIME_OP(req, kWrite);
  fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
  out.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  FileHandle* fh = Handle(fi);
  const int fd = fh->Current();
  out.buf[0].fd = fd;
  out.buf[0].pos = off;
  const size_t size = fuse_buf_size(in);
  auto growth = Fs(req).ChargeGrowth(fd, off + static_cast<off_t>(size));
  if (!growth.ok()) return (void)fuse_reply_err(req, growth.error());
  ssize_t n;
  if (auto cf = fh->chunked()) {
    // A chunk is completed from the lower before it is written and marked.
    std::vector<char> data(size);
    fuse_bufvec mem = FUSE_BUFVEC_INIT(size);
    mem.buf[0].mem = data.data();
    n = fuse_buf_copy(&mem, in, static_cast<fuse_buf_copy_flags>(0));
    if (n >= 0) {
      auto w = cf->Write(data.data(), static_cast<size_t>(n), off);
      n = w.ok() ? static_cast<ssize_t>(*w) : -w.error();
    }
  } else if (int e = fh->chunked_error()) {
    n = -e;
  } else {
    n = fuse_buf_copy(&out, in, FUSE_BUF_SPLICE_NONBLOCK);
  }
  Fs(req).SettleGrowth(fd, *growth);
  if (n < 0) return (void)fuse_reply_err(req, static_cast<int>(-n));
  fuse_reply_write(req, static_cast<size_t>(n));
}

void Flush(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
  STRATA_TIME_OP(req, kFlush);
  // ENOSYS makes the kernel stop sending FLUSH at all: one round trip less
  // per close(). Nothing is lost. The kernel still writes the page cache back
  // and reports writeback errors at close() before it would have asked; the
  // upper is a local filesystem (as for kernel overlayfs), whose close()
  // reports nothing (ext4 and xfs have no ->flush); and no POSIX locks are
  // held here to drop (the kernel keeps them, as we implement no lock ops).
  fuse_reply_err(req, ENOSYS);
}

void Release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  STRATA_TIME_OP(req, kRelease);
  FileHandle* fh = Handle(fi);
  if (Ctx(req).io_modes) Ctx(req).io_modes->Release(fh->node()->nodeid(), fh->passthrough());
  delete fh;
  Ctx(req).op_stats.open_files.fetch_sub(1, std::memory_order_relaxed);
  Fs(req).HandleReleased();
  fuse_reply_err(req, 0);
}

void Fsync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
  STRATA_TIME_OP(req, kFsync);
  if (!Fs(req).config().durable) return (void)fuse_reply_err(req, 0);  // volatile
  if (auto cf = Handle(fi)->chunked()) return ReplyStatus(req, cf->Fsync(datasync));
  int fd = Handle(fi)->Current();
  int rc = datasync ? ::fdatasync(fd) : ::fsync(fd);
  fuse_reply_err(req, rc < 0 ? errno : 0);
}

void Fallocate(fuse_req_t req, fuse_ino_t, int mode, off_t off, off_t len, fuse_file_info* fi) {
  STRATA_TIME_OP(req, kFallocate);
  const int fd = Handle(fi)->Current();
  UnionFs::Growth g;
  if (!(mode & FALLOC_FL_KEEP_SIZE)) {
    auto growth = Fs(req).ChargeGrowth(fd, off + len);
    if (!growth.ok()) return (void)fuse_reply_err(req, growth.error());
    g = *growth;
  }
  int err = 0;
  if (auto cf = Handle(fi)->chunked()) {
    err = cf->Fallocate(mode, off, len).error();
  } else if (::fallocate(fd, mode, off, len) < 0) {
    err = errno;
  }
  Fs(req).SettleGrowth(fd, g);
  fuse_reply_err(req, err);
}

void Lseek(fuse_req_t req, fuse_ino_t, off_t off, int whence, fuse_file_info* fi) {
  STRATA_TIME_OP(req, kLseek);
  if (Handle(fi)->chunked() && (whence == SEEK_DATA || whence == SEEK_HOLE)) {
    // The upper's holes may hold lower data: call all of it data.
    auto st = sys::StatFd(Handle(fi)->Current());
    if (!st.ok()) return (void)fuse_reply_err(req, st.error());
    if (off >= st->st_size) return (void)fuse_reply_err(req, ENXIO);
    return (void)fuse_reply_lseek(req, whence == SEEK_DATA ? off : st->st_size);
  }
  off_t r = ::lseek(Handle(fi)->Current(), off, whence);
  if (r < 0) return (void)fuse_reply_err(req, errno);
  fuse_reply_lseek(req, r);
}

void CopyFileRange(fuse_req_t req, fuse_ino_t, off_t off_in, fuse_file_info* fi_in, fuse_ino_t,
                   off_t off_out, fuse_file_info* fi_out, size_t len, int flags) {
  STRATA_TIME_OP(req, kCopyFileRange);
  // Chunked files need their chunks filled: let the kernel copy through read/write.
  if (Handle(fi_in)->chunked() || Handle(fi_out)->chunked())
    return (void)fuse_reply_err(req, EOPNOTSUPP);
  loff_t in = off_in, out = off_out;
  const int out_fd = Handle(fi_out)->Current();
  auto growth = Fs(req).ChargeGrowth(out_fd, off_out + static_cast<off_t>(len));
  if (!growth.ok()) return (void)fuse_reply_err(req, growth.error());
  const int in_fd = Handle(fi_in)->Current();
  ssize_t n = ::copy_file_range(in_fd, &in, out_fd, &out, len, static_cast<unsigned>(flags));
  int err = n < 0 ? errno : 0;
  if (n < 0 && (err == EXDEV || err == EOPNOTSUPP || err == ENOSYS) && flags == 0) {
    // A lower file copied into the upper, on another filesystem: copy here
    // through a pipe rather than fail, after which the kernel would copy
    // through a READ of the whole range (a round trip more per file in
    // `cp`, `mv`).
    auto spliced = sys::SpliceCopy(in_fd, &in, out_fd, &out, len);
    n = spliced.ok() ? static_cast<ssize_t>(*spliced) : -1;
    err = spliced.ok() ? 0 : spliced.error();
  }
  Fs(req).SettleGrowth(out_fd, *growth);
  if (n < 0) return (void)fuse_reply_err(req, err);
  fuse_reply_write(req, static_cast<size_t>(n));
}

}  // namespace

void AddFileOps(fuse_lowlevel_ops* ops) {
  ops->open = Open;
  ops->create = Create;
  ops->read = Read;
  ops->write_buf = WriteBuf;
  ops->flush = Flush;
  ops->release = Release;
  ops->fsync = Fsync;
  ops->fallocate = Fallocate;
  ops->lseek = Lseek;
  ops->copy_file_range = CopyFileRange;
}

}  // namespace strata::ops
