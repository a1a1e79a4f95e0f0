// SmallMutex: mutual exclusion under contention, try_lock, and waking waiters.
#include "fs/base/small_mutex.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

namespace strata {
namespace {

TEST(SmallMutexTest, ContendedIncrementsAreNeverLost) {
  SmallMutex mu;
  uint64_t counter = 0;  // plain: only the mutex protects it (TSan checks)
  constexpr int kThreads = 4, kRounds = 50000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < kRounds; ++i) {
        std::lock_guard lock(mu);
        ++counter;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, uint64_t{kThreads} * kRounds);
}

TEST(SmallMutexTest, TryLockFailsWhileHeldAndSucceedsAfter) {
  SmallMutex mu;
  ASSERT_TRUE(mu.try_lock());
  bool other_got_it = true;
  std::thread([&] { other_got_it = mu.try_lock(); }).join();
  EXPECT_FALSE(other_got_it);
  mu.unlock();
  std::thread([&] {
    other_got_it = mu.try_lock();
    if (other_got_it) mu.unlock();
  }).join();
  EXPECT_TRUE(other_got_it);
}

TEST(SmallMutexTest, UnlockWakesASleepingWaiter) {
  SmallMutex mu;
  std::atomic<bool> acquired{false};
  mu.lock();
  std::thread waiter([&] {
    std::lock_guard lock(mu);  // blocks: the word goes to "contended"
    acquired = true;
  });
  // Long enough for the waiter to reach the futex wait (the path under test);
  // it cannot get in while we hold the lock, however long that is.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(acquired.load());
  mu.unlock();
  waiter.join();  // returns only if unlock woke it
  EXPECT_TRUE(acquired.load());
}

}  // namespace
}  // namespace strata
