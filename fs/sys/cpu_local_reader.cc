#include "fs/sys/cpu_local_reader.h"

#include <fcntl.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace strata {

namespace {

// What the calling thread took from a reader. The reader outlives its
// workers (libfuse joins them before the session ends).
struct WorkerSeat {
  CpuLocalReader* reader = nullptr;
  size_t slot = 0;
  int nonblocking_fd = -1;
  ~WorkerSeat() {
    if (reader != nullptr) reader->Leave(slot);
  }
};
thread_local WorkerSeat t_seat;

}  // namespace

std::vector<int> CpuLocalReader::PickupCpus(const cpu_set_t& allowed) {
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  if (cpus.size() < 2 || cpus.size() > kMaxCpus) cpus.clear();
  return cpus;
}

std::unique_ptr<CpuLocalReader> CpuLocalReader::ForThisProcess(int wake_fd) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (::sched_getaffinity(0, sizeof allowed, &allowed) != 0) return nullptr;
  std::vector<int> cpus = PickupCpus(allowed);
  if (cpus.empty()) return nullptr;
  auto reader = std::make_unique<CpuLocalReader>(std::move(cpus), wake_fd);
  if (!reader->ok()) return nullptr;
  return reader;
}

CpuLocalReader::CpuLocalReader(std::vector<int> cpus, int wake_fd)
    : cpus_(std::move(cpus)), workers_(new std::atomic<int>[cpus_.size()]) {
  for (size_t i = 0; i < cpus_.size(); ++i) workers_[i].store(0, std::memory_order_relaxed);
  // Our own descriptor of the wake-up source: the registration lasts as long
  // as it, whatever libfuse closes (each worker's cloned fd goes with it).
  wake_fd_ = UniqueFd(::fcntl(wake_fd, F_DUPFD_CLOEXEC, 0));
  if (!wake_fd_) {
    spdlog::warn("CPU-local pickup off: cannot duplicate the device fd: {}", std::strerror(errno));
    return;
  }
  ended_fd_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!ended_fd_) {
    spdlog::warn("CPU-local pickup off: eventfd: {}", std::strerror(errno));
    return;
  }
  for (size_t i = 0; i < cpus_.size(); ++i) {
    UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
    // Edge-triggered: each request queued is one edge, which wakes one
    // waiter of each CPU's instance; a worker always reads until EAGAIN
    // before it waits, so no request is left behind.
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    epoll_event end{};
    end.events = EPOLLIN;
    if (!ep || ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, wake_fd_.get(), &ev) != 0 ||
        ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, ended_fd_.get(), &end) != 0) {
      spdlog::warn("CPU-local pickup off: epoll: {}", std::strerror(errno));
      epolls_.clear();
      return;
    }
    epolls_.push_back(std::move(ep));
  }
}

size_t CpuLocalReader::FewestSlot() const {
  size_t fewest = 0;
  for (size_t i = 1; i < cpus_.size(); ++i)
    if (workers_on(i) < workers_on(fewest)) fewest = i;
  return fewest;
}

size_t CpuLocalReader::Join() {
  // Two workers starting at once may pick the same slot; the next ones even
  // it out, and being uneven costs only some remote pickups.
  const size_t slot = FewestSlot();
  workers_[slot].fetch_add(1, std::memory_order_relaxed);
  return slot;
}

void CpuLocalReader::Leave(size_t slot) { workers_[slot].fetch_sub(1, std::memory_order_relaxed); }

void CpuLocalReader::PinThisThread(int fd) {
  if (t_seat.reader == nullptr) {
    t_seat.reader = this;
    t_seat.slot = Join();
    PinTo(t_seat.slot);
  } else if (auto to = Rebalance(t_seat.slot)) {
    t_seat.slot = *to;
    PinTo(*to);
  }
  if (t_seat.nonblocking_fd != fd) {
    const int fl = ::fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK) == 0) ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    t_seat.nonblocking_fd = fd;
  }
}

std::optional<size_t> CpuLocalReader::Rebalance(size_t slot) {
  // libfuse ends idle workers wherever they are pinned, which can leave
  // one CPU with all the workers; one of them then moves (the CAS lets only
  // one of several that see it at once go).
  const size_t fewest = FewestSlot();
  int mine = workers_on(slot);
  if (mine < workers_on(fewest) + 2) return std::nullopt;
  if (!workers_[slot].compare_exchange_strong(mine, mine - 1, std::memory_order_relaxed))
    return std::nullopt;
  workers_[fewest].fetch_add(1, std::memory_order_relaxed);
  return fewest;
}

void CpuLocalReader::PinTo(size_t slot) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpus_[slot], &one);
  // A CPU taken away since start-up (cpuset change): the worker runs
  // unpinned, which is only slower.
  if (int e = ::pthread_setaffinity_np(::pthread_self(), sizeof one, &one); e != 0)
    spdlog::debug("pinning a worker to CPU {}: {}", cpus_[slot], std::strerror(e));
}

ssize_t CpuLocalReader::Read(int fd, void* buf, size_t len) {
  PinThisThread(fd);
  for (;;) {
    ssize_t n = ::read(fd, buf, len);
    if (n < 0 && errno == EAGAIN) {
      epoll_event ev{};
      if (::epoll_wait(epolls_[t_seat.slot].get(), &ev, 1, -1) < 0)
        return -1;  // EINTR (a signal: the session may be exiting)
      if ((ev.events & EPOLLIN) != 0 || (ev.events & (EPOLLERR | EPOLLHUP)) == 0) continue;
      // Only an error or hang-up: the connection is gone; read says how.
      n = ::read(fd, buf, len);
      if (n < 0 && errno == EAGAIN) errno = ENODEV;
    }
    if (n == 0 || (n < 0 && errno == ENODEV)) WakeEveryone();
    return n;
  }
}

void CpuLocalReader::WakeEveryone() {
  // The end was one edge, which woke one waiter per CPU; the ended eventfd
  // stays readable (level-triggered) and wakes the rest, each of which then
  // reads the end for itself.
  const int saved = errno;
  const uint64_t one = 1;
  if (!ended_.exchange(true)) (void)!::write(ended_fd_.get(), &one, sizeof one);
  errno = saved;
}

}  // namespace strata
