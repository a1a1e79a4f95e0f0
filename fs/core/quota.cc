#include "fs/core/quota.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "fs/sys/syscalls.h"

namespace strata {

namespace {

Status Walk(int dirfd, uint64_t* bytes, uint64_t* inodes) {
  auto entries = sys::ReadDir(dirfd);
  if (!entries.ok()) return Errno(entries.error());
  for (const auto& e : *entries) {
    auto st = sys::StatAt(dirfd, e.name.c_str());
    if (!st.ok()) continue;  // raced with a removal
    *inodes += 1;
    *bytes += static_cast<uint64_t>(QuotaBytes(*st));
    if (S_ISDIR(st->st_mode)) {
      auto sub = sys::OpenAt(dirfd, e.name.c_str(), O_RDONLY | O_DIRECTORY);
      if (!sub.ok()) return Errno(sub.error());
      STRATA_RETURN_IF_ERROR(Walk(sub->get(), bytes, inodes));
    }
  }
  return Status::Ok();
}

}  // namespace

Status Quota::Scan(int upper_root) {
  uint64_t bytes = 0, inodes = 0;
  STRATA_RETURN_IF_ERROR(Walk(upper_root, &bytes, &inodes));
  bytes_ = bytes;
  inodes_ = inodes;
  return Status::Ok();
}

Status Quota::Charge(int64_t bytes, int64_t inodes) {
  // Positive claims against a limit go through compare-and-swap so that two
  // writers cannot both pass the limit; everything else is a plain adjustment.
  const bool limit_bytes = bytes > 0 && max_bytes_;
  const bool limit_inodes = inodes > 0 && max_inodes_;
  if (limit_bytes) {
    uint64_t cur = bytes_.load();
    do {
      if (cur + static_cast<uint64_t>(bytes) > max_bytes_) return Errno(ENOSPC);
    } while (!bytes_.compare_exchange_weak(cur, cur + static_cast<uint64_t>(bytes)));
  }
  if (limit_inodes) {
    uint64_t cur = inodes_.load();
    do {
      if (cur + static_cast<uint64_t>(inodes) > max_inodes_) {
        if (limit_bytes) Adjust(-bytes, 0);
        return Errno(ENOSPC);
      }
    } while (!inodes_.compare_exchange_weak(cur, cur + static_cast<uint64_t>(inodes)));
  }
  Adjust(limit_bytes ? 0 : bytes, limit_inodes ? 0 : inodes);
  return Status::Ok();
}

void Quota::Adjust(int64_t bytes, int64_t inodes) {
  if (bytes > 0) bytes_.fetch_add(static_cast<uint64_t>(bytes));
  if (bytes < 0) {
    uint64_t cur = bytes_.load();
    uint64_t dec = static_cast<uint64_t>(-bytes);
    while (!bytes_.compare_exchange_weak(cur, cur > dec ? cur - dec : 0)) {
    }
  }
  if (inodes > 0) inodes_.fetch_add(static_cast<uint64_t>(inodes));
  if (inodes < 0) {
    uint64_t cur = inodes_.load();
    uint64_t dec = static_cast<uint64_t>(-inodes);
    while (!inodes_.compare_exchange_weak(cur, cur > dec ? cur - dec : 0)) {
    }
  }
}

}  // namespace strata
