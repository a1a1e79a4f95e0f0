#include "fs/ops/kernel_passthrough.h"

#include <linux/fuse.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "fs/ops/fs_context.h"

namespace strata::ops {

namespace {

// The kernel's ABI from protocol 7.40 on (include/uapi/linux/fuse.h), which
// Debian 12's headers (7.38) do not have yet.
constexpr uint64_t kFusePassthrough = 1ull << 37;  // INIT flag
constexpr uint32_t kFopenPassthrough = 1u << 7;    // open_flags
struct BackingMap {
  int32_t fd;
  uint32_t flags;
  uint64_t padding;
};
constexpr unsigned long kBackingOpen = _IOW(FUSE_DEV_IOC_MAGIC, 1, BackingMap);
constexpr unsigned long kBackingClose = _IOW(FUSE_DEV_IOC_MAGIC, 2, uint32_t);
// fuse_init_out as of 7.40: 3.14's `unused[0]` is max_stack_depth.
struct InitOut {
  uint32_t major, minor, max_readahead, flags;
  uint16_t max_background, congestion_threshold;
  uint32_t max_write, time_gran;
  uint16_t max_pages, map_alignment;
  uint32_t flags2, max_stack_depth;
  uint32_t unused[6];
};
static_assert(sizeof(InitOut) == sizeof(fuse_init_out));
// fuse_open_out as of 7.40: 3.14's `padding` is the backing id.
struct OpenOut {
  uint64_t fh;
  uint32_t open_flags;
  int32_t backing_id;
};
static_assert(sizeof(OpenOut) == sizeof(fuse_open_out));

// Backing files may live on a filesystem of depth 0 (ext4, xfs, tmpfs: not
// itself stacked); the mount then has depth 1, so kernel overlayfs can still
// use it as a layer.
constexpr uint32_t kMaxStackDepth = 1;

// What this thread knows of the request it runs: libfuse reads a request,
// runs it and sends its reply on one thread.
struct ThreadRequest {
  uint64_t unique = 0;
  // Announced by the open handler (ExpectOpenReply); 0 and null: none.
  int backing_id = 0;
  FileHandle* fh = nullptr;
};
thread_local ThreadRequest t_request;

}  // namespace

void KernelPassthrough::SawRequest(const void* buf, size_t len) {
  if (len < sizeof(fuse_in_header)) return;
  fuse_in_header h;
  std::memcpy(&h, buf, sizeof h);
  t_request = ThreadRequest{h.unique, 0, nullptr};
  if (h.opcode == FUSE_INIT)
    SawInit(h.unique, static_cast<const char*>(buf) + sizeof h, len - sizeof h);
}

void KernelPassthrough::SawInit(uint64_t unique, const void* init_in, size_t len) {
  fuse_init_in in{};
  if (len < offsetof(fuse_init_in, flags2) + sizeof in.flags2) return;
  std::memcpy(&in, init_in, std::min(len, sizeof in));
  uint64_t flags = in.flags;
  if (flags & FUSE_INIT_EXT) flags |= static_cast<uint64_t>(in.flags2) << 32;
  kernel_offers_.store((flags & kFusePassthrough) != 0, std::memory_order_relaxed);
  init_unique_.store(unique, std::memory_order_release);
}

bool KernelPassthrough::PatchInit(struct iovec* iov, char* scratch) {
  if (iov[1].iov_len != sizeof(InitOut)) return false;
  InitOut out;
  std::memcpy(&out, iov[1].iov_base, sizeof out);
  if (out.flags & FUSE_WRITEBACK_CACHE) return false;  // the kernel would ignore us
  out.flags |= FUSE_INIT_EXT;
  out.flags2 |= static_cast<uint32_t>(kFusePassthrough >> 32);
  out.max_stack_depth = kMaxStackDepth;
  std::memcpy(scratch, &out, sizeof out);
  iov[1].iov_base = scratch;
  return true;
}

ssize_t KernelPassthrough::Writev(int fd, struct iovec* iov, int count, FsContext* ctx) {
  if (count < 1 || iov[0].iov_len < sizeof(fuse_out_header)) return ::writev(fd, iov, count);
  fuse_out_header h;
  std::memcpy(&h, iov[0].iov_base, sizeof h);
  alignas(8) char scratch[256];
  struct iovec patched[2] = {};
  if (count == 2) {
    patched[0] = iov[0];
    patched[1] = iov[1];
  }
  if (t_request.fh != nullptr && h.unique == t_request.unique) {
    FileHandle* fh = t_request.fh;
    const int backing_id = t_request.backing_id;
    EndOpenReply();
    if (h.error != 0) return ::writev(fd, iov, count);
    if (count == 2 && PatchOpen(patched, backing_id, scratch)) return ::writev(fd, patched, 2);
    CountAsCached(ctx, fh);
    return ::writev(fd, iov, count);
  }
  if (count == 2 && h.error == 0 && h.unique != 0 &&
      h.unique == init_unique_.load(std::memory_order_acquire) &&
      kernel_offers_.load(std::memory_order_relaxed) && PatchInit(patched, scratch)) {
    ssize_t n = ::writev(fd, patched, 2);
    if (n >= 0) {
      enabled_.store(true, std::memory_order_release);
      spdlog::debug("FUSE passthrough negotiated");
    }
    return n;
  }
  return ::writev(fd, iov, count);
}

bool KernelPassthrough::PatchOpen(struct iovec* iov, int backing_id, char* scratch) {
  // OPEN replies fuse_open_out; CREATE, fuse_entry_out then fuse_open_out.
  const size_t len = iov[1].iov_len;
  if (len != sizeof(OpenOut) && len != sizeof(fuse_entry_out) + sizeof(OpenOut)) return false;
  std::memcpy(scratch, iov[1].iov_base, len);
  OpenOut o;
  std::memcpy(&o, scratch + len - sizeof o, sizeof o);
  o.open_flags = (o.open_flags & ~FOPEN_KEEP_CACHE) | kFopenPassthrough;
  o.backing_id = backing_id;
  std::memcpy(scratch + len - sizeof o, &o, sizeof o);
  iov[1] = {scratch, len};
  return true;
}

Result<int> KernelPassthrough::OpenBacking(int fd) {
  BackingMap map{fd, 0, 0};
  int id = ::ioctl(dev_fd_, kBackingOpen, &map);
  if (id > 0) return id;
  const int e = id < 0 ? errno : EIO;
  if (e == EPERM || e == ENOTTY || e == EOPNOTSUPP || e == ELOOP) {
    // Not for this daemon (no CAP_SYS_ADMIN), not on this kernel, or not on
    // this filesystem (ELOOP: itself stacked, e.g. an upper on overlayfs in a
    // nested container; every upper file is on it): stop asking.
    if (enabled_.exchange(false))
      spdlog::info("FUSE passthrough unavailable ({}): file data goes through the daemon",
                   std::strerror(e));
  }
  return Errno(e);
}

void KernelPassthrough::CloseBacking(int backing_id) {
  uint32_t id = static_cast<uint32_t>(backing_id);
  if (::ioctl(dev_fd_, kBackingClose, &id) < 0)
    spdlog::warn("closing FUSE backing file {}: {}", backing_id, std::strerror(errno));
}

void KernelPassthrough::CountAsCached(FsContext* ctx, FileHandle* fh) {
  // Before the kernel has the reply, so before any RELEASE of `fh` can come.
  spdlog::error("FUSE passthrough: an open reply has a layout this libfuse was not expected "
                "to send; passthrough is off for the rest of this mount");
  ctx->io_modes->Demote(fh->node()->nodeid());
  fh->set_passthrough(false);
  Disable();
}

void KernelPassthrough::ExpectOpenReply(FileHandle* fh, int backing_id) {
  t_request.fh = fh;
  t_request.backing_id = backing_id;
}

void KernelPassthrough::EndOpenReply() {
  t_request.fh = nullptr;
  t_request.backing_id = 0;
}

}  // namespace strata::ops
