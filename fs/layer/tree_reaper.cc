#include "fs/layer/tree_reaper.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <system_error>

#include <spdlog/spdlog.h>

#include "fs/layer/work_dir.h"

namespace strata::layer {

TreeReaper::TreeReaper(int workfd) : workfd_(workfd) {
  CPU_ZERO(&cpus_);
  if (::sched_getaffinity(0, sizeof cpus_, &cpus_) != 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) CPU_SET(cpu, &cpus_);
  }
}

TreeReaper::~TreeReaper() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  // The thread stops after the tree in hand: the rest is deleted here, at
  // this thread's own priority, so an unmount under load does not wait on
  // the reaper's lowered one.
  std::deque<std::string> left;
  {
    std::lock_guard lock(mu_);
    left.swap(queue_);
  }
  for (const auto& name : left) (void)RemoveTree(workfd_, name.c_str());
}

void TreeReaper::Remove(std::string name) {
  std::unique_lock lock(mu_);
  // Never started once stopping: the destructor deletes what is left.
  if (!thread_.joinable() && !stopping_) {
    try {
      thread_ = std::thread([this] { Run(); });
    } catch (const std::system_error& e) {
      // No thread to be had (a thread limit): delete it here, as the caller
      // would have without a reaper, rather than fail the removal.
      lock.unlock();
      spdlog::warn("cannot start the work-directory reaper ({}): deleting in the request", e.what());
      (void)RemoveTree(workfd_, name.c_str());
      return;
    }
  }
  queue_.push_back(std::move(name));
  lock.unlock();
  wake_.notify_one();
}

void TreeReaper::Drain() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return queue_.empty() && !busy_; });
}

void TreeReaper::Run() {
  // Deleting is background work: it should take the CPU the requests leave
  // idle (callers waiting on round trips leave plenty), not compete with
  // them. A niceness, not SCHED_IDLE, so it still progresses on a busy host.
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 10);
  // Started by a request worker, it inherited that worker's pinning to one
  // CPU (cpu_local): any CPU the daemon may use will do.
  (void)::sched_setaffinity(0, sizeof cpus_, &cpus_);
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) break;
    std::string name = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    Status s = RemoveTree(workfd_, name.c_str());
    if (!s.ok())
      spdlog::warn("cannot delete '{}' in the work directory: {} (the next mount removes it)",
                   name, std::strerror(s.error()));
    lock.lock();
    busy_ = false;
    if (queue_.empty()) idle_.notify_all();
  }
  busy_ = false;
  idle_.notify_all();
}

}  // namespace strata::layer
