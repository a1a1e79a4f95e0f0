// CpuLocalReader: let the worker on the caller's CPU take each FUSE request.
//
// A FUSE request is a round trip: the calling process queues it and sleeps,
// a daemon thread wakes, answers, and wakes the caller. The kernel wakes the
// daemon thread that has waited longest in read(), wherever it last ran. On
// a small VM (issue 3: 2 vCPUs, guest halt-polling off) that is usually the
// other, idle vCPU, and waking an idle vCPU costs an exit to the host each
// way: `ls -lR` of the benchmark's /usr took 1.55 s with the threads left to
// the scheduler, 3.0 s with the daemon pinned to the other CPU, 0.87 s with
// daemon and caller pinned to the same one.
//
// So each worker is pinned to one CPU of the daemon's allowed set (the
// fewest-workers CPU when it starts) and waits, not in read(), but in an
// epoll instance of its CPU that watches the device (edge-triggered): each
// request queued wakes one waiter of every CPU's instance, which the kernel
// does at once for the one on its own CPU, while one on an idle CPU needs an
// interrupt and a wake-up first. The local worker therefore almost always
// reads the request first (93% of them in `ls -lR` with the caller pinned),
// on a non-blocking fd; the others find nothing (EAGAIN) and wait again.
// Measured on the benchmark against cpu_local=0 (bench/RESULTS.md,
// 2026-12-04): warm `find` 0.122 -> 0.088 s, `ls -lR` 1.55 -> 1.25 s, `tar c`
// 3.9 -> 3.0 s; writing many small files into an upper on a loop device
// loses 5-15% (not on the root ext4; likely the loop device's and the
// journal's threads sharing the pinned CPU, not confirmed).
//
// Every CPU's instance wakes for every request, so this is for small CPU
// sets: with fewer than 2 or more than kMaxCpus allowed CPUs the reader is
// not made and workers block in read() as libfuse would.
#pragma once

#include <sched.h>
#include <sys/types.h>

#include <atomic>
#include <memory>
#include <optional>
#include <vector>

#include "fs/base/unique_fd.h"

namespace strata {

class CpuLocalReader {
 public:
  static constexpr size_t kMaxCpus = 8;

  // The CPUs workers may be pinned to: those of `allowed`, or empty when
  // there are fewer than 2 or more than kMaxCpus of them.
  static std::vector<int> PickupCpus(const cpu_set_t& allowed);

  // For the CPUs this process may run on, woken by `wake_fd` (the session's
  // device fd: every fd of a FUSE connection is readable at once); null when
  // PickupCpus is empty or the wake-up cannot be set up.
  static std::unique_ptr<CpuLocalReader> ForThisProcess(int wake_fd);

  CpuLocalReader(std::vector<int> cpus, int wake_fd);
  CpuLocalReader(const CpuLocalReader&) = delete;
  CpuLocalReader& operator=(const CpuLocalReader&) = delete;

  // The epoll instances and the end eventfd could be made.
  bool ok() const { return epolls_.size() == cpus_.size(); }

  size_t cpu_count() const { return cpus_.size(); }

  // read(2) of one request from `fd` (any fd of the connection `wake_fd`
  // belongs to) for the calling worker thread. Its first call pins the
  // thread and makes `fd` non-blocking; then it reads, and waits in its
  // CPU's epoll instance while there is nothing to read. Returns what
  // read(2) returns, except that it never fails with EAGAIN; EINTR from the
  // wait is returned (libfuse re-checks whether the session is exiting).
  // The first worker to read the end (0, ENODEV) wakes all the others.
  ssize_t Read(int fd, void* buf, size_t len);

  // Which CPU slot a new worker gets: the one with the fewest workers now.
  // Leave() when the worker ends (a thread-local guard does it in Read).
  size_t Join();
  void Leave(size_t slot);
  // Where the worker in `slot` should move, if it has two more workers than
  // another slot (the move is counted).
  std::optional<size_t> Rebalance(size_t slot);
  int workers_on(size_t slot) const { return workers_[slot].load(std::memory_order_relaxed); }

 private:
  size_t FewestSlot() const;
  void PinThisThread(int fd);
  void PinTo(size_t slot);
  void WakeEveryone();

  const std::vector<int> cpus_;
  std::unique_ptr<std::atomic<int>[]> workers_;
  UniqueFd wake_fd_;
  std::vector<UniqueFd> epolls_;  // one per slot: its workers wait there
  UniqueFd ended_fd_;             // readable once a worker saw the end
  std::atomic<bool> ended_{false};
};

}  // namespace strata
