// What every FUSE operation reaches through fuse_req_userdata().
#pragma once

#include <fuse_lowlevel.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fs/base/unique_fd.h"
#include "fs/chunked/chunked_file.h"
#include "fs/core/stat_after_listing.h"
#include "fs/core/union_fs.h"
#include "fs/node/io_mode_table.h"
#include "fs/ops/kernel_passthrough.h"
#include "fs/ops/op_stats.h"
#include "fs/sys/cpu_local_reader.h"

namespace strata::ops {

struct FsContext {
  UnionFs* fs = nullptr;
  double timeout = 86400.0;  // entry/attr cache, seconds
  bool writeback = false;
  bool splice = true;
  // The kernel opens directories without asking us (FUSE_CAP_NO_OPENDIR_SUPPORT).
  std::atomic<bool> no_opendir{false};
  OpStats op_stats;
  // Whether READDIRPLUS gives a non-directory entry's attributes only to
  // callers seen to want them (readdir_attrs=auto), and who they are.
  bool guess_readdir_attrs = true;
  StatAfterListing stat_after_listing;
  // FUSE passthrough (null when the mount does not want it), and the I/O
  // mode of every node with open files (see kernel_passthrough.h).
  std::unique_ptr<KernelPassthrough> passthrough;
  std::unique_ptr<IoModeTable> io_modes;
  // How workers read requests (null: blocking read(), as libfuse does).
  std::unique_ptr<CpuLocalReader> reader;
  // Open chunked files (copyup=chunked), one per upper inode.
  std::unique_ptr<chunked::ChunkedFileTable> chunked_files;
  // What `strata` reads back through the status xattrs (status_xattr.h).
  std::string mountpoint;
  std::vector<std::string> lowerdirs;  // as resolved at start-up, top first
  std::string upperdir;
  std::string workdir;
};

inline FsContext& Ctx(fuse_req_t req) { return *static_cast<FsContext*>(fuse_req_userdata(req)); }
inline UnionFs& Fs(fuse_req_t req) { return *Ctx(req).fs; }

// Times the enclosing FUSE operation into the mount's OpStats.
#define STRATA_TIME_OP(req, kind) \
  ::strata::ops::OpTimer op_timer_(&::strata::ops::Ctx(req).op_stats, ::strata::ops::OpKind::kind)

inline Caller CallerOf(fuse_req_t req) {
  const fuse_ctx* c = fuse_req_ctx(req);
  return Caller{c->uid, c->gid};
}

// An open file. A file opened read-only on a lower layer switches to the upper
// copy once another open copies it up, so it never reads stale data.
class FileHandle {
 public:
  // `created`: the file was just made by this request (CREATE), so it cannot
  // be a chunked copy-up and its xattrs need not be asked.
  FileHandle(FsContext* ctx, std::shared_ptr<Node> node, UniqueFd fd, int flags,
             bool created = false)
      : ctx_(ctx), node_(std::move(node)), flags_(flags), fd_(fd.get()), layer_(node_->layer()) {
    fds_.push_back(std::move(fd));
    if (!created) AttachChunked();
  }
  const std::shared_ptr<Node>& node() const { return node_; }
  // The chunked state of the file when it still has chunks in the lower.
  std::shared_ptr<chunked::ChunkedFile> chunked() {
    Current();
    // Every read and write asks: the common answer (not chunked) takes no lock.
    if (!has_chunked_.load(std::memory_order_acquire)) return nullptr;
    std::lock_guard lock(mu_);
    if (chunked_ && !chunked_->chunked()) {
      chunked_.reset();
      has_chunked_.store(false, std::memory_order_release);
    }
    return chunked_;
  }
  // The fd to use now (re-opened on the upper after a copy-up).
  int Current() {
    if (layer_.load(std::memory_order_acquire) == node_->layer())
      return fd_.load(std::memory_order_acquire);
    return Switch();
  }
  bool on_upper() const { return layer_.load() == layer::LayerStack::kUpper; }
  // Non-zero when the file is chunked but its state cannot be opened (EIO:
  // the origin changed in the lower layers, or a damaged map). Opens and I/O
  // then fail with it: the upper's holes must never be read as the data.
  int chunked_error() const { return chunked_error_.load(std::memory_order_acquire); }
  bool read_only() const { return (flags_ & O_ACCMODE) == O_RDONLY; }
  // The kernel does this file's reads and writes on its backing file.
  bool passthrough() const { return passthrough_; }
  void set_passthrough(bool p) { passthrough_ = p; }

 private:
  int Switch();
  void AttachChunked();

  FsContext* const ctx_;
  std::shared_ptr<chunked::ChunkedFile> chunked_;  // guarded by mu_
  std::atomic<bool> has_chunked_{false};            // chunked_ is set
  std::atomic<int> chunked_error_{0};
  const std::shared_ptr<Node> node_;
  const int flags_;
  std::mutex mu_;
  std::vector<UniqueFd> fds_;  // guarded by mu_; old fds live until release
  std::atomic<int> fd_;
  std::atomic<int> layer_;
  bool passthrough_ = false;  // set once, before the open's reply
};

inline FileHandle* Handle(const fuse_file_info* fi) {
  return reinterpret_cast<FileHandle*>(static_cast<uintptr_t>(fi->fh));
}

// Replies.
void ReplyEntry(fuse_req_t req, const Entry& e);
void ReplyAttr(fuse_req_t req, const struct stat& st);
inline void ReplyStatus(fuse_req_t req, const Status& s) { fuse_reply_err(req, s.error()); }

}  // namespace strata::ops
