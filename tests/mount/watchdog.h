// Bounds a test in time. If the deadline passes (typically a FUSE request
// that never gets an answer), the watchdog aborts the FUSE connections,
// lazily detaches every registered mount, kills registered children and
// exits the process with a message, so a hung daemon can never hang CI or
// leave mounts behind.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace strata::mounttest {

class Watchdog {
 public:
  Watchdog(std::string what, int seconds);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  void Run(int seconds);

  std::string what_;
  std::mutex mutex_;
  std::condition_variable cancelled_cv_;
  bool cancelled_ = false;  // guarded by mutex_
  std::thread thread_;
};

// Children (e.g. chrooted shells) the watchdog kills on expiry.
void RegisterChild(pid_t pid);
void UnregisterChild(pid_t pid);

}  // namespace strata::mounttest
