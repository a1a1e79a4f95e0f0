// IoModeTable: how the kernel does I/O on each node's open files.
//
// The kernel (fs/fuse/iomode.c, 6.9+) gives every open FUSE file one of two
// modes: *cached* (its page cache, our READ and WRITE) or *passthrough* (it
// reads and writes a backing file we registered, never asking us). It will
// not mix them on one inode: a passthrough open fails while a cached file of
// the inode is open, a cached open fails while a passthrough one is, and all
// passthrough opens of an inode must name the same backing file. Any of these
// mistakes is an EIO on the user's open(). This table keeps, per node with
// open files, what the kernel holds, so each new open gets a mode the kernel
// accepts.
//
// The counts are raised before the open's reply and lowered at RELEASE, which
// the kernel sends after it has dropped the file's mode: ours are never lower
// than the kernel's, so a grant is never refused.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>

#include "fs/base/result.h"
#include "fs/base/thread_annotations.h"

namespace strata {

class IoModeTable {
 public:
  // Registers `fd`'s file as a backing file: returns its backing id.
  using OpenBacking = std::function<Result<int>(int fd)>;
  using CloseBacking = std::function<void(int backing_id)>;

  IoModeTable(OpenBacking open_backing, CloseBacking close_backing)
      : open_backing_(std::move(open_backing)), close_backing_(std::move(close_backing)) {}
  ~IoModeTable();  // closes the backing ids still registered
  IoModeTable(const IoModeTable&) = delete;
  IoModeTable& operator=(const IoModeTable&) = delete;

  struct Grant {
    bool passthrough = false;
    int backing_id = 0;  // when passthrough
    // A cached open given because registering the backing file failed: the
    // page cache may predate passthrough writes, so the open must drop it.
    bool fallback = false;
  };

  // An open of `nodeid` (its file open as `fd`). `eligible`: the file may be
  // passed through (its data is whole in the upper, or no copy-up can ever
  // move it). A node already in passthrough mode stays in it.
  Grant Open(uint64_t nodeid, int fd, bool eligible);
  // The open's handle is gone (RELEASE, or a reply that did not reach the
  // kernel). `passthrough`: what Open granted it.
  void Release(uint64_t nodeid, bool passthrough);
  // A passthrough grant whose reply reached the kernel without saying so:
  // the kernel opened the file cached, so count it that way.
  void Demote(uint64_t nodeid);

  // Nodes with open files (for tests and stats).
  size_t size() const;
  uint64_t passthrough_opens() const;

 private:
  struct State {
    uint32_t cached = 0;       // open files in cached mode
    uint32_t passthrough = 0;  // open files in passthrough mode
    int backing_id = 0;        // registered while passthrough > 0
  };
  const OpenBacking open_backing_;
  const CloseBacking close_backing_;
  mutable std::mutex mu_;  // leaf; held across the backing ioctls, nothing else
  std::unordered_map<uint64_t, State> nodes_ GUARDED_BY(mu_);
  uint64_t passthrough_opens_ GUARDED_BY(mu_) = 0;
};

}  // namespace strata
