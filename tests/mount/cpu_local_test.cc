// CPU-local request pickup (fs/sys/cpu_local_reader.h): the daemon's workers
// are pinned one CPU each over the CPUs it may use, cpu_local=0 leaves them
// to the scheduler, and requests sent from every CPU are answered as on
// kernel overlayfs.
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/xattr.h>

#include <fstream>
#include <string>
#include <vector>

#include "tests/mount/diff_test_base.h"

namespace strata::mounttest {
namespace {

class CpuLocal : public DiffTestBase {
 protected:
  // Cpus_allowed_list of every thread of the daemon but its main one.
  std::vector<std::string> WorkerAffinities() {
    const long pid = StatsNumber("pid");
    std::vector<std::string> out;
    const std::string dir = "/proc/" + std::to_string(pid) + "/task";
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return out;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.' || std::to_string(pid) == e->d_name) continue;
      std::ifstream status(dir + "/" + e->d_name + "/status");
      for (std::string line; std::getline(status, line);)
        if (line.rfind("Cpus_allowed_list:", 0) == 0) out.push_back(line.substr(line.find_last_of("\t ") + 1));
    }
    closedir(d);
    return out;
  }
  // The CPUs the daemon (started from here) may pin workers to: all it may
  // use when there are 2 to 8 of them, else none.
  static std::vector<int> PickupCpus() {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    sched_getaffinity(0, sizeof allowed, &allowed);
    std::vector<int> cpus;
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
    if (cpus.size() < 2 || cpus.size() > 8) cpus.clear();
    return cpus;
  }
  // Runs a mix of requests from the test thread pinned to `cpu`.
  void RunOn(int cpu, int round) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    ASSERT_EQ(pthread_setaffinity_np(pthread_self(), sizeof one, &one), 0);
    const std::string n = std::to_string(round);
    Run({Mkdir("cpu" + n), Write("cpu" + n + "/f", 0, 20000, round, O_CREAT), Stat("cpu" + n + "/f"),
         Readdir("a"), Read("a/f_bottom"), Setxattr("cpu" + n + "/f", "user.k", "v" + n),
         Listxattr("cpu" + n + "/f"), Rename("cpu" + n + "/f", "cpu" + n + "/g"),
         Readdir("cpu" + n)});
  }
};

TEST_F(CpuLocal, WorkersArePinnedAndRequestsFromEveryCpuAreAnswered) {
  const std::vector<int> cpus = PickupCpus();
  cpu_set_t saved;
  sched_getaffinity(0, sizeof saved, &saved);
  ASSERT_NO_FATAL_FAILURE(StartSession());
  EXPECT_EQ(StatsNumber("cpu_local_cpus"), static_cast<long>(cpus.size())) << DaemonStats();
  int round = 0;
  for (int pass = 0; pass < 2; ++pass)
    for (int cpu : cpus) RunOn(cpu, ++round);
  sched_setaffinity(0, sizeof saved, &saved);
  if (cpus.empty()) RunOn(sched_getcpu(), ++round);  // 1 or > 8 CPUs: not pinned
  std::vector<std::string> affinities = WorkerAffinities();
  ASSERT_FALSE(affinities.empty());
  for (const std::string& a : affinities) {
    SCOPED_TRACE(a);
    const bool pinned = a.find_first_of(",-") == std::string::npos;
    EXPECT_EQ(pinned, !cpus.empty() || CPU_COUNT(&saved) == 1);
  }
  FinishAndCompare();
}

TEST_F(CpuLocal, OffOptionLeavesWorkersToTheScheduler) {
  ASSERT_NO_FATAL_FAILURE(StartSession({.daemon_options = ",cpu_local=0"}));
  Run({Mkdir("d"), Write("d/f", 0, 5000, 3, O_CREAT), Readdir("d"), Read("a/f_bottom")});
  EXPECT_EQ(StatsNumber("cpu_local_cpus"), 0) << DaemonStats();
  cpu_set_t allowed;
  sched_getaffinity(0, sizeof allowed, &allowed);
  if (CPU_COUNT(&allowed) > 1)
    for (const std::string& a : WorkerAffinities()) {
      SCOPED_TRACE(a);
      EXPECT_NE(a.find_first_of(",-"), std::string::npos) << "a worker pinned with cpu_local=0";
    }
  FinishAndCompare();
}

}  // namespace
}  // namespace strata::mounttest
