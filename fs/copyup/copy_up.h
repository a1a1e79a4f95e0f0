// Copy-up of one object into the upper layer, atomically: the copy is built
// in WORKDIR/work (a regular file as an unnamed O_TMPFILE inode, anything
// else under a temporary name), made durable, then linked or renamed into its
// place, so a crash leaves either no upper object or a complete one.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <functional>

#include "fs/base/result.h"
#include "fs/base/unique_fd.h"
#include "fs/layer/origin_map.h"

namespace strata::copyup {

struct CopyUpRequest {
  int src_fd = -1;          // the lower object: O_PATH (non-dir) or directory fd
  // src_fd of a regular file is open for reading (not O_PATH): the data and
  // the xattrs are read from it directly, with no reopen through /proc.
  bool src_readable = false;
  struct stat st {};        // its lstat
  int upper_parent = -1;    // the parent directory in the upper layer
  const char* name = "";    // the object's name there
  int workdir = -1;         // WORKDIR/work
  bool with_data = true;    // false: an O_TRUNC open makes the data moot
  bool durable = true;      // fsync the data before it is published
  ino_t origin_ino = 0;     // recorded so st_ino survives copy-up and remount
  const layer::OriginStore* origins = nullptr;  // where it is recorded
  // Set for chunked copy-up: prepares the (empty, O_RDWR) temporary file
  // instead of copying data; on failure the data is copied in full.
  std::function<Status(int tmp_fd)> init_without_data;
};

struct CopyUpResult {
  UniqueFd fd;  // the upper object: O_RDONLY|O_DIRECTORY for dirs, O_RDWR for
               // regular files, else O_PATH
  struct stat st {};
  uint64_t bytes_copied = 0;
};

Result<CopyUpResult> CopyUp(const CopyUpRequest& req);

}  // namespace strata::copyup
