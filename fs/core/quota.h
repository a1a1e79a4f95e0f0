// Quota of the writable layer (-o quota=SIZE,quota_inodes=N): a container that
// writes too much gets ENOSPC instead of filling the host. Usage counts the
// apparent size of regular files and symlinks in the upper, and its inodes; it
// is recomputed from the upper at every mount, so it survives remounts and
// changes made while unmounted.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <cstdint>

#include "fs/base/result.h"

namespace strata {

class Quota {
 public:
  Quota(uint64_t max_bytes, uint64_t max_inodes) : max_bytes_(max_bytes), max_inodes_(max_inodes) {}

  bool enabled() const { return max_bytes_ != 0 || max_inodes_ != 0; }
  uint64_t max_bytes() const { return max_bytes_; }
  uint64_t max_inodes() const { return max_inodes_; }
  uint64_t used_bytes() const { return bytes_.load(); }
  uint64_t used_inodes() const { return inodes_.load(); }

  // Walks the upper layer and sets the usage from what is there.
  Status Scan(int upper_root);

  // Claims `bytes` and `inodes` (negative values give back) or fails with
  // ENOSPC when the claim would pass a limit; nothing is claimed then.
  Status Charge(int64_t bytes, int64_t inodes);
  // Gives back unconditionally (removals, and claims that were not used).
  void Refund(int64_t bytes, int64_t inodes) { Adjust(-bytes, -inodes); }

 private:
  void Adjust(int64_t bytes, int64_t inodes);
  const uint64_t max_bytes_;
  const uint64_t max_inodes_;
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> inodes_{0};
};

// Bytes a quota counts for an object with this lstat.
inline int64_t QuotaBytes(const struct stat& st) {
  return (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) ? static_cast<int64_t>(st.st_size) : 0;
}

}  // namespace strata
