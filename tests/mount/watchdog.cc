#include "tests/mount/watchdog.h"

#include <sys/mount.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "tests/mount/mount_registry.h"

namespace strata::mounttest {
namespace {

std::mutex& ChildMutex() {
  static std::mutex mutex;
  return mutex;
}
std::vector<pid_t>& Children() {  // guarded by ChildMutex()
  static std::vector<pid_t> children;
  return children;
}

}  // namespace

void RegisterChild(pid_t pid) {
  std::lock_guard lock(ChildMutex());
  Children().push_back(pid);
}

void UnregisterChild(pid_t pid) {
  std::lock_guard lock(ChildMutex());
  auto& children = Children();
  children.erase(std::remove(children.begin(), children.end(), pid), children.end());
}

Watchdog::Watchdog(std::string what, int seconds)
    : what_(std::move(what)), thread_([this, seconds] { Run(seconds); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
  }
  cancelled_cv_.notify_all();
  thread_.join();
}

void Watchdog::Run(int seconds) {
  std::unique_lock lock(mutex_);
  if (cancelled_cv_.wait_for(lock, std::chrono::seconds(seconds), [this] { return cancelled_; })) {
    return;
  }
  fprintf(stderr, "\nWATCHDOG: %s did not finish within %d s; tearing down mounts and failing\n",
          what_.c_str(), seconds);
  {
    std::lock_guard child_lock(ChildMutex());
    for (pid_t pid : Children()) kill(pid, SIGKILL);
  }
  std::vector<std::string> mounts = RegisteredMounts();
  for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) {
    AbortFuseConnection(*it);
    umount2(it->c_str(), MNT_DETACH);
    fprintf(stderr, "WATCHDOG: detached %s\n", it->c_str());
  }
  fflush(stderr);
  _exit(3);
}

}  // namespace strata::mounttest
