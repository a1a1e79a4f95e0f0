// SmallMutex: a 4-byte mutex for objects that exist by the hundred thousand.
//
// std::mutex is 40 bytes on glibc; a Node has three of them, which was a
// fifth of the daemon's memory per cached inode (issue 3 counts bytes per
// inode). This one is a futex word through C++20 atomic wait/notify (a futex
// on Linux): 0 free, 1 held, 2 held with possible waiters, so an uncontended
// lock and unlock are one atomic operation each and never enter the kernel.
// Not recursive, no fairness; use it with std::lock_guard / unique_lock.
#pragma once

#include <atomic>
#include <cstdint>

#include "fs/base/thread_annotations.h"

namespace strata {

class STRATA_THREAD_ANNOTATION(capability("mutex")) SmallMutex {
 public:
  SmallMutex() = default;
  SmallMutex(const SmallMutex&) = delete;
  SmallMutex& operator=(const SmallMutex&) = delete;

  void lock() STRATA_THREAD_ANNOTATION(acquire_capability()) {
    uint32_t seen = kFree;
    if (state_.compare_exchange_strong(seen, kHeld, std::memory_order_acquire)) return;
    // Contended: announce a waiter (2) and sleep until the word changes. A
    // thread that gets the lock this way keeps it at 2, since others may wait.
    if (seen != kContended) seen = state_.exchange(kContended, std::memory_order_acquire);
    while (seen != kFree) {
      state_.wait(kContended, std::memory_order_relaxed);
      seen = state_.exchange(kContended, std::memory_order_acquire);
    }
  }

  bool try_lock() STRATA_THREAD_ANNOTATION(try_acquire_capability(true)) {
    uint32_t seen = kFree;
    return state_.compare_exchange_strong(seen, kHeld, std::memory_order_acquire);
  }

  void unlock() STRATA_THREAD_ANNOTATION(release_capability()) {
    if (state_.exchange(kFree, std::memory_order_release) == kContended) state_.notify_one();
  }

 private:
  static constexpr uint32_t kFree = 0, kHeld = 1, kContended = 2;
  std::atomic<uint32_t> state_{kFree};
};

static_assert(sizeof(SmallMutex) == 4);

}  // namespace strata
