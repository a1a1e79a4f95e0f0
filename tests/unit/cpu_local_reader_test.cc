// CpuLocalReader (fs/sys/cpu_local_reader.h): which CPUs workers are pinned
// to, how they are spread, and the read-or-wait loop, on pipes.
#include "fs/sys/cpu_local_reader.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace strata {
namespace {

cpu_set_t SetOf(std::initializer_list<int> cpus) {
  cpu_set_t s;
  CPU_ZERO(&s);
  for (int c : cpus) CPU_SET(c, &s);
  return s;
}

class Pipe {
 public:
  Pipe() { EXPECT_EQ(::pipe2(fds_, O_CLOEXEC), 0); }
  ~Pipe() {
    CloseWriter();
    ::close(fds_[0]);
  }
  int reader() const { return fds_[0]; }
  void Write(const std::string& s) { ASSERT_EQ(::write(fds_[1], s.data(), s.size()), ssize_t(s.size())); }
  void CloseWriter() {
    if (fds_[1] >= 0) ::close(fds_[1]);
    fds_[1] = -1;
  }

 private:
  int fds_[2] = {-1, -1};
};

TEST(CpuLocalReader, PickupCpusNeedsTwoToEightCpus) {
  EXPECT_TRUE(CpuLocalReader::PickupCpus(SetOf({})).empty());
  EXPECT_TRUE(CpuLocalReader::PickupCpus(SetOf({3})).empty()) << "one CPU: nothing to choose";
  EXPECT_EQ(CpuLocalReader::PickupCpus(SetOf({0, 1})), (std::vector<int>{0, 1}));
  EXPECT_EQ(CpuLocalReader::PickupCpus(SetOf({2, 5, 7})), (std::vector<int>{2, 5, 7}));
  EXPECT_EQ(CpuLocalReader::PickupCpus(SetOf({0, 1, 2, 3, 4, 5, 6, 7})).size(), 8u);
  EXPECT_TRUE(CpuLocalReader::PickupCpus(SetOf({0, 1, 2, 3, 4, 5, 6, 7, 8})).empty())
      << "every CPU's instance wakes for each request: not for many CPUs";
}

TEST(CpuLocalReader, NewWorkersGoWhereFewestAre) {
  Pipe p;
  CpuLocalReader r({4, 6}, p.reader());
  EXPECT_EQ(r.Join(), 0u);
  EXPECT_EQ(r.Join(), 1u);
  EXPECT_EQ(r.Join(), 0u);
  r.Leave(1);
  EXPECT_EQ(r.Join(), 1u);
  EXPECT_EQ(r.workers_on(0), 2);
  EXPECT_EQ(r.workers_on(1), 1);
}

TEST(CpuLocalReader, AWorkerMovesOnlyWhenTwoMoreShareItsCpu) {
  Pipe p;
  CpuLocalReader r({0, 1}, p.reader());
  r.Join();
  r.Join();
  r.Join();
  r.Join();  // 2 and 2
  EXPECT_FALSE(r.Rebalance(0).has_value());
  r.Leave(1);  // 2 and 1: uneven by one, which the next Join evens out
  EXPECT_FALSE(r.Rebalance(0).has_value());
  r.Leave(1);  // 2 and 0: libfuse ended both workers of CPU 1
  auto to = r.Rebalance(0);
  ASSERT_TRUE(to.has_value());
  EXPECT_EQ(*to, 1u);
  EXPECT_EQ(r.workers_on(0), 1);
  EXPECT_EQ(r.workers_on(1), 1);
  EXPECT_FALSE(r.Rebalance(0).has_value());
}

std::vector<int> AllowedCpus() {
  cpu_set_t s;
  CPU_ZERO(&s);
  EXPECT_EQ(::sched_getaffinity(0, sizeof s, &s), 0);
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &s)) cpus.push_back(c);
  return cpus;
}

TEST(CpuLocalReader, ReadWaitsForDataOnAPinnedThreadAndNonBlockingFd) {
  std::vector<int> allowed = AllowedCpus();
  ASSERT_FALSE(allowed.empty());
  // The last allowed CPU, so that being pinned is visible whenever there are two.
  Pipe p;
  CpuLocalReader r({allowed.back()}, p.reader());
  ASSERT_TRUE(r.ok());
  std::string got;
  ssize_t n = 0;
  int fd_flags = 0;
  cpu_set_t pinned;
  CPU_ZERO(&pinned);
  std::thread worker([&] {
    char buf[64];
    n = r.Read(p.reader(), buf, sizeof buf);  // waits in epoll: nothing written yet
    if (n > 0) got.assign(buf, static_cast<size_t>(n));
    fd_flags = ::fcntl(p.reader(), F_GETFL);
    ::pthread_getaffinity_np(::pthread_self(), sizeof pinned, &pinned);
  });
  p.Write("request");
  worker.join();
  EXPECT_EQ(n, 7);
  EXPECT_EQ(got, "request");
  EXPECT_NE(fd_flags & O_NONBLOCK, 0);
  EXPECT_EQ(CPU_COUNT(&pinned), 1);
  EXPECT_TRUE(CPU_ISSET(allowed.back(), &pinned));
  EXPECT_EQ(r.workers_on(0), 0) << "the worker's seat is given back when its thread ends";
}

TEST(CpuLocalReader, ReadReturnsEndOfFileInsteadOfWaiting) {
  Pipe p;
  CpuLocalReader r({AllowedCpus().front()}, p.reader());
  ASSERT_TRUE(r.ok());
  p.CloseWriter();
  ssize_t n = -2;
  std::thread worker([&] {
    char buf[16];
    n = r.Read(p.reader(), buf, sizeof buf);
  });
  worker.join();
  EXPECT_EQ(n, 0);
}

TEST(CpuLocalReader, EveryWaitingWorkerSeesTheEnd) {
  // Two workers per CPU instance: the hang-up is one edge, which wakes one
  // waiter of each instance; the others must not sleep on.
  std::vector<int> allowed = AllowedCpus();
  Pipe p;
  CpuLocalReader r({allowed.front(), allowed.back()}, p.reader());
  ASSERT_TRUE(r.ok());
  constexpr int kWorkers = 4;
  std::atomic<int> ended{0};
  std::vector<std::thread> workers;
  for (int i = 0; i < kWorkers; ++i)
    workers.emplace_back([&] {
      char buf[8];
      if (r.Read(p.reader(), buf, sizeof buf) == 0) ended.fetch_add(1);
    });
  while (r.workers_on(0) + r.workers_on(1) < kWorkers) std::this_thread::yield();
  p.CloseWriter();
  for (int waited_ms = 0; ended.load() < kWorkers && waited_ms < 10000; waited_ms += 10)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (ended.load() < kWorkers) {
    // The stuck threads cannot be joined: stop here rather than hang.
    ADD_FAILURE() << ended.load() << " of " << kWorkers << " workers saw the end in 10 s";
    std::abort();
  }
  for (auto& w : workers) w.join();
}

TEST(CpuLocalReader, ManyWorkersShareOneStreamWithoutLosingOrDuplicatingData) {
  std::vector<int> allowed = AllowedCpus();
  Pipe p;
  CpuLocalReader r({allowed.front(), allowed.back()}, p.reader());
  ASSERT_TRUE(r.ok());
  constexpr int kMessages = 2000;
  std::atomic<int> bytes{0};
  std::vector<std::thread> workers;
  for (int i = 0; i < 4; ++i)
    workers.emplace_back([&] {
      char buf[1];
      while (r.Read(p.reader(), buf, 1) == 1) bytes.fetch_add(1);
    });
  for (int i = 0; i < kMessages; ++i) p.Write("x");
  p.CloseWriter();
  for (auto& w : workers) w.join();
  EXPECT_EQ(bytes.load(), kMessages);
  EXPECT_EQ(r.workers_on(0) + r.workers_on(1), 0);
}

}  // namespace
}  // namespace strata
