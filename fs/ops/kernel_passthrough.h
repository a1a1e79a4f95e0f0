// KernelPassthrough: FUSE passthrough (kernel 6.9+) on libfuse 3.14.
//
// With passthrough the kernel reads and writes an open file's backing file
// itself: no READ or WRITE request, no copy through the daemon (issue 3:
// 256 MiB of writes into a copied-up file took 5-12x kernel overlayfs, all of
// it round trips and copies). libfuse learnt the protocol in 3.17; Debian 12
// has 3.14, whose INIT and OPEN replies cannot say it. So libfuse's device
// I/O is wrapped (device_io.h) and we add to two replies what 3.14 leaves
// out, as the kernel's ABI (7.40) lays it down:
//   - INIT: the FUSE_PASSTHROUGH flag and max_stack_depth 1, when the kernel
//     offered the flag and the writeback cache is off (the kernel refuses the
//     two together);
//   - OPEN/CREATE: FOPEN_PASSTHROUGH and the backing id, for the one reply the
//     open handler announced just before it replied (same thread: libfuse
//     replies from the thread that runs the request).
// Backing files are registered with the FUSE_DEV_IOC_BACKING_OPEN ioctl on
// the device, which needs CAP_SYS_ADMIN: a daemon without it (root in a user
// namespace), or an upper the kernel cannot back files on (ELOOP: itself
// stacked), keeps every file in cached mode after its first open.
//
// Which files may be passed through, and the kernel's rules on mixing modes,
// are IoModeTable's (fs/node/io_mode_table.h) and the open handler's.
#pragma once

#include <fuse_lowlevel.h>
#include <sys/uio.h>

#include <atomic>
#include <cstdint>

#include "fs/base/result.h"

namespace strata::ops {

class FileHandle;
struct FsContext;

class KernelPassthrough {
 public:
  // Made only for a mount that wants it (passthrough=1, no writeback cache,
  // a daemon started by root).
  KernelPassthrough() = default;

  // The session's device, for the backing-file ioctls. Call after
  // fuse_session_mount.
  void Attach(int dev_fd) { dev_fd_ = dev_fd; }

  // Device I/O hooks (device_io.cc): every request read, and every reply
  // sent, which may be rewritten.
  void SawRequest(const void* buf, size_t len);
  ssize_t Writev(int fd, struct iovec* iov, int count, FsContext* ctx);

  // The kernel agreed at INIT and backing files can be registered.
  bool enabled() const { return enabled_.load(std::memory_order_acquire); }

  // Stops granting passthrough to new opens.
  void Disable() { enabled_.store(false, std::memory_order_release); }

  Result<int> OpenBacking(int fd);
  void CloseBacking(int backing_id);

  // The next reply this thread sends for its current request is the OPEN or
  // CREATE reply of `fh`, to pass through `backing_id`. Should the reply not
  // have the expected layout, the hook sends it as it is (a cached open) and,
  // before the kernel sees it, counts `fh` as cached and stops granting
  // passthrough. Call EndOpenReply after fuse_reply_open/create.
  static void ExpectOpenReply(FileHandle* fh, int backing_id);
  static void EndOpenReply();

 private:
  void SawInit(uint64_t unique, const void* init_in, size_t len);
  // Rewrite iov[1] (the reply's body) into `scratch` (256 bytes); false
  // when the body is not what the reply should carry.
  bool PatchInit(struct iovec* iov, char* scratch);
  static bool PatchOpen(struct iovec* iov, int backing_id, char* scratch);
  void CountAsCached(FsContext* ctx, FileHandle* fh);

  int dev_fd_ = -1;
  std::atomic<uint64_t> init_unique_{0};
  std::atomic<bool> kernel_offers_{false};
  std::atomic<bool> enabled_{false};
};

}  // namespace strata::ops
