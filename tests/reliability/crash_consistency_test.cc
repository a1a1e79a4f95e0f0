// Crash consistency (issue 7.1): the daemon is killed with SIGKILL at random
// moments while a worker copies up large files, creates directories, renames,
// unlinks (whiteouts) and writes with fsync. After every kill the dead mount is
// detached, stratafs is mounted again over the same upper, and the tree is
// checked against a model of the operations the worker saw succeed:
//   - every acknowledged operation is visible (a daemon kill loses no page
//     cache, so this is stronger than "every fsync'ed write survives");
//   - the one operation in flight is either wholly there or wholly absent,
//     except the bytes of an interrupted write, each of which is old or new;
//   - no partial copy-up: a copied-up file always has the lower's full content;
//   - WORKDIR/work is empty once the daemon has mounted again;
//   - kernel overlayfs mounts the same upper and shows the very same tree.
//
// STRATA_CRASH_KILLS (default 100) sets the number of kill points,
// STRATA_CRASH_SEED the seed (printed, so a failure can be replayed).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <random>
#include <thread>

#include "tests/reliability/harness.h"

namespace strata::reltest {
namespace {

using namespace std::chrono_literals;

enum class Kind { kChmod, kAppendFsync, kPwrite, kTruncate, kCreateFsync, kMkdir, kUnlink, kRmdir, kRename };

struct Op {
  Op() = default;
  Op(Kind k, std::string a_, std::string b_ = "", mode_t m = 0) : kind(k), a(std::move(a_)), b(std::move(b_)), mode(m) {}
  Kind kind = Kind::kChmod;
  std::string a, b;  // paths relative to the mount
  mode_t mode = 0;
  off_t off = 0;
  std::string data;
};

std::string Name(const Op& op) {
  static const char* names[] = {"chmod", "append+fsync", "pwrite", "truncate", "create+fsync",
                                "mkdir", "unlink", "rmdir", "rename"};
  return std::string(names[static_cast<int>(op.kind)]) + " " + op.a + (op.b.empty() ? "" : " " + op.b);
}

// Does `op` change file data in a way an interrupted syscall can leave half done?
bool IsDataOp(const Op& op) {
  return op.kind == Kind::kAppendFsync || op.kind == Kind::kPwrite || op.kind == Kind::kCreateFsync ||
         op.kind == Kind::kTruncate;
}

void Apply(Tree& m, const Op& op) {
  switch (op.kind) {
    case Kind::kChmod:
      m[op.a].mode = S_IFREG | op.mode;
      break;
    case Kind::kAppendFsync:
      m[op.a].data += op.data;
      break;
    case Kind::kPwrite: {
      auto& d = m[op.a].data;
      if (d.size() < op.off + op.data.size()) d.resize(op.off + op.data.size(), '\0');
      d.replace(op.off, op.data.size(), op.data);
      break;
    }
    case Kind::kTruncate:
      m[op.a].data.resize(op.off, '\0');
      break;
    case Kind::kCreateFsync: {
      TreeEntry e;
      e.mode = S_IFREG | 0644;
      e.data = op.data;
      m[op.a] = e;
      break;
    }
    case Kind::kMkdir: {
      TreeEntry e;
      e.mode = S_IFDIR | 0755;
      m[op.a] = e;
      break;
    }
    case Kind::kUnlink:
    case Kind::kRmdir:
      m.erase(op.a);
      break;
    case Kind::kRename: {
      TreeEntry e = m[op.a];
      m.erase(op.a);
      m[op.b] = e;
      break;
    }
  }
}

bool WriteAll(int fd, const std::string& data, off_t off) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, off + done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += n;
  }
  return true;
}

// Which syscall of a multi-call operation failed (for the failure message).
thread_local const char* g_step = "";

// Performs one operation through the mount; 0 or an errno.
int Execute(const std::string& mnt, const Op& op) {
  g_step = "";
  const std::string a = mnt + "/" + op.a;
  const std::string b = mnt + "/" + op.b;
  auto rc = [](bool ok) { return ok ? 0 : (errno ? errno : EIO); };
  switch (op.kind) {
    case Kind::kChmod:
      return rc(::chmod(a.c_str(), op.mode) == 0);
    case Kind::kAppendFsync:
    case Kind::kPwrite:
    case Kind::kCreateFsync: {
      int flags = op.kind == Kind::kCreateFsync ? (O_WRONLY | O_CREAT | O_EXCL) : O_WRONLY;
      g_step = "open";
      int fd = ::open(a.c_str(), flags | O_CLOEXEC, 0644);
      if (fd < 0) return errno;
      off_t off = op.off;
      if (op.kind == Kind::kAppendFsync) {
        struct stat st;
        if (::fstat(fd, &st) != 0) {
          int e = errno;
          ::close(fd);
          return e;
        }
        off = st.st_size;
      }
      g_step = "write";
      errno = 0;
      bool ok = WriteAll(fd, op.data, off);
      if (ok && op.kind != Kind::kPwrite) {
        g_step = "fsync";
        ok = ::fsync(fd) == 0;
      }
      int e = ok ? 0 : (errno ? errno : EIO);
      if (e == 0) g_step = "close";
      if (::close(fd) != 0 && e == 0) e = errno;
      return e;
    }
    case Kind::kTruncate:
      return rc(::truncate(a.c_str(), op.off) == 0);
    case Kind::kMkdir:
      return rc(::mkdir(a.c_str(), 0755) == 0);
    case Kind::kUnlink:
      return rc(::unlink(a.c_str()) == 0);
    case Kind::kRmdir:
      return rc(::rmdir(a.c_str()) == 0);
    case Kind::kRename:
      return rc(::rename(a.c_str(), b.c_str()) == 0);
  }
  return EINVAL;
}

// Generates `count` valid operations starting from model `m` (not modified).
std::vector<Op> Generate(Tree m, std::mt19937_64& rng, int count, int* name_counter) {
  std::vector<Op> ops;
  auto pick = [&](auto pred) -> std::string {
    std::vector<std::string> c;
    for (const auto& [p, e] : m)
      if (pred(p, e)) c.push_back(p);
    if (c.empty()) return "";
    return c[rng() % c.size()];
  };
  auto is_file = [](const std::string&, const TreeEntry& e) { return S_ISREG(e.mode); };
  auto new_name = [&]() {
    std::string dir = pick([](const std::string& p, const TreeEntry& e) { return S_ISDIR(e.mode) && p.size() < 60; });
    if (rng() % 3 == 0) dir.clear();
    std::string n = "n" + std::to_string((*name_counter)++);
    return dir.empty() ? n : dir + "/" + n;
  };
  while (static_cast<int>(ops.size()) < count) {
    Op op;
    const unsigned r = rng() % 100;
    std::string file = pick(is_file);
    if (r < 20 && !file.empty()) {
      op = {Kind::kChmod, file, "", static_cast<mode_t>(0600 | (rng() % 2 ? 040 : 0) | (rng() % 2 ? 04 : 0))};
    } else if (r < 32 && !file.empty()) {
      op = {Kind::kAppendFsync, file};
      op.data = Pattern(rng(), 4096 + rng() % (256 << 10));
    } else if (r < 44 && !file.empty()) {
      op = {Kind::kPwrite, file};
      const size_t size = m[file].data.size();
      op.off = size ? rng() % size : 0;
      op.data = Pattern(rng(), 1 + rng() % (192 << 10));
    } else if (r < 50 && !file.empty()) {
      op = {Kind::kTruncate, file};
      op.off = rng() % (m[file].data.size() + 65536);
    } else if (r < 62) {
      op = {Kind::kCreateFsync, new_name()};
      op.data = Pattern(rng(), rng() % (512 << 10));
    } else if (r < 72) {
      op = {Kind::kMkdir, new_name()};
    } else if (r < 82 && !file.empty()) {
      op = {Kind::kUnlink, file};
    } else if (r < 86) {
      std::string dir = pick([&](const std::string& p, const TreeEntry& e) {
        if (!S_ISDIR(e.mode)) return false;
        auto it = m.upper_bound(p + "/");
        return it == m.end() || it->first.rfind(p + "/", 0) != 0;
      });
      if (dir.empty()) continue;
      op = {Kind::kRmdir, dir};
    } else if (!file.empty()) {
      std::string target = rng() % 3 == 0 ? pick(is_file) : new_name();
      if (target == file || target.empty()) continue;
      op = {Kind::kRename, file, target};
    } else {
      continue;
    }
    Apply(m, op);
    ops.push_back(std::move(op));
  }
  return ops;
}

// Is `actual` a state the interrupted data operation may leave behind: every
// byte either the old or the new one, the size in between?
bool MixedContent(const std::string& actual, const std::string& before, const std::string& after) {
  const size_t lo = std::min(before.size(), after.size()), hi = std::max(before.size(), after.size());
  if (actual.size() < lo || actual.size() > hi) return false;
  for (size_t i = 0; i < actual.size(); ++i) {
    const bool old_ok = i < before.size() && actual[i] == before[i];
    const bool new_ok = i < after.size() && actual[i] == after[i];
    const bool hole_ok = i >= before.size() && actual[i] == '\0';  // extended, not yet written
    if (!old_ok && !new_ok && !hole_ok) return false;
  }
  return true;
}

// Empty when `actual` is consistent with ops[0..acked) done and ops[acked] maybe in flight.
std::string CheckAgainstModel(const Tree& actual, const Tree& before, const std::vector<Op>& ops, size_t acked) {
  Tree done = before;
  for (size_t i = 0; i < acked; ++i) Apply(done, ops[i]);
  std::string diff_done = DiffTrees(done, actual);
  if (diff_done.empty()) return "";
  if (acked >= ops.size()) return "after all " + std::to_string(acked) + " ops: " + diff_done;
  const Op& inflight = ops[acked];
  Tree next = done;
  Apply(next, inflight);
  if (DiffTrees(next, actual).empty()) return "";
  if (IsDataOp(inflight)) {
    // Everything but the written file as before; that file half written.
    Tree a = actual, d = done;
    auto it = a.find(inflight.a);
    const std::string& after = next[inflight.a].data;
    const std::string old = d.count(inflight.a) ? d[inflight.a].data : "";
    bool file_ok = it == a.end() ? !d.count(inflight.a) : MixedContent(it->second.data, old, after);
    if (it != a.end() && file_ok) {
      const TreeEntry& n = next[inflight.a];
      file_ok = it->second.mode == n.mode || (d.count(inflight.a) && it->second.mode == d[inflight.a].mode);
    }
    a.erase(inflight.a);
    d.erase(inflight.a);
    if (file_ok && DiffTrees(d, a).empty()) return "";
  }
  return "after " + std::to_string(acked) + " acknowledged ops, in flight '" + Name(inflight) +
         "': not the old state (" + diff_done + ") nor the new one (" + DiffTrees(next, actual) + ")";
}

struct WorkerRecord {
  int32_t index;
  int32_t err;
  int64_t when_ns;  // CLOCK_MONOTONIC at completion
  char step[8];
};

int64_t NowNs() {
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

class CrashConsistency : public ::testing::Test {
 protected:
  void SetUp() override {
    ::umask(0);
    ASSERT_FALSE(dir_.path().empty());
    l1_ = dir_.Sub("l1");
    l2_ = dir_.Sub("l2");
    mnt_ = dir_.Sub("mnt");
    std::mt19937_64 rng(7);
    // Large files to copy up (bottom layer) and a merged directory.
    for (int i = 0; i < 10; ++i)
      ASSERT_TRUE(WriteFile(l2_ + "/big" + std::to_string(i), Pattern(100 + i, (512 << 10) + rng() % (3 << 20))));
    ::mkdir((l2_ + "/d1").c_str(), 0755);
    ::mkdir((l1_ + "/d1").c_str(), 0755);
    ::mkdir((l2_ + "/d2").c_str(), 0755);
    ::mkdir((l2_ + "/d2/sub").c_str(), 0755);
    for (int i = 0; i < 4; ++i) {
      ASSERT_TRUE(WriteFile(l2_ + "/d1/f" + std::to_string(i), Pattern(200 + i, (256 << 10) * (i + 1))));
      ASSERT_TRUE(WriteFile(l1_ + "/d1/g" + std::to_string(i), Pattern(300 + i, (128 << 10) * (i + 1))));
      ASSERT_TRUE(WriteFile(l2_ + "/d2/sub/s" + std::to_string(i), Pattern(400 + i, 1000 * i)));
    }
  }

  StrataConfig Config(int run) {
    StrataConfig c;
    c.lowers = {l1_, l2_};
    c.upper = dir_.Sub("upper" + std::to_string(run));
    c.work = dir_.Sub("work" + std::to_string(run));
    return c;
  }

  ScratchDir dir_{"crash"};
  std::string l1_, l2_, mnt_;
};

TEST_F(CrashConsistency, KillNineAtRandomMomentsLosesNothing) {
  const long kills = EnvLong("STRATA_CRASH_KILLS", 100);
  const long seed = EnvLong("STRATA_CRASH_SEED", static_cast<long>(::time(nullptr) % 100000));
  const long rounds_per_upper = 10;
  std::printf("crash test: %ld kill points, seed %ld (STRATA_CRASH_SEED to replay)\n", kills, seed);
  std::mt19937_64 rng(seed);
  const std::string log = dir_.path() + "/daemon.log";
  const std::string kmnt = dir_.Sub("kmnt");

  long survived = 0, acked_total = 0, inflight_kills = 0;
  int name_counter = 0;
  for (long run = 0; survived < kills; ++run) {
    StrataConfig config = Config(static_cast<int>(run));
    StrataConfig kconfig = config;
    kconfig.work = dir_.Sub("kwork" + std::to_string(run));
    std::string err;
    Tree model;
    {
      StrataDaemon d(mnt_, config, log);
      ASSERT_TRUE(d.Start(&err)) << err;
      model = Snapshot(mnt_, true, &err);
      ASSERT_TRUE(err.empty()) << err;
      ASSERT_TRUE(d.Stop());
    }
    for (long round = 0; round < rounds_per_upper && survived < kills; ++round) {
      SCOPED_TRACE("seed " + std::to_string(seed) + " run " + std::to_string(run) + " round " + std::to_string(round));
      const std::vector<Op> ops = Generate(model, rng, 400, &name_counter);
      const auto delay = std::chrono::microseconds(rng() % 400000);

      StrataDaemon d(mnt_, config, log);
      ASSERT_TRUE(d.Start(&err)) << err;
      int pipefd[2];
      ASSERT_EQ(::pipe2(pipefd, O_CLOEXEC), 0);
      pid_t worker = ::fork();
      ASSERT_GE(worker, 0);
      if (worker == 0) {
        ::close(pipefd[0]);
        for (size_t i = 0; i < ops.size(); ++i) {
          WorkerRecord rec{static_cast<int32_t>(i), Execute(mnt_, ops[i]), NowNs(), {}};
          std::strncpy(rec.step, g_step, sizeof rec.step - 1);
          if (::write(pipefd[1], &rec, sizeof rec) != sizeof rec) ::_exit(3);
          if (rec.err != 0) ::_exit(1);
        }
        ::_exit(0);
      }
      ::close(pipefd[1]);
      std::this_thread::sleep_for(delay);
      ASSERT_TRUE(d.alive()) << "the daemon died on its own: " << d.Log();
      const int64_t kill_ns = NowNs();
      d.Kill9();

      // The worker must come back (with ENOTCONN/ECONNABORTED), not hang.
      const auto deadline = std::chrono::steady_clock::now() + 20s;
      int status = 0;
      while (::waitpid(worker, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
          ::kill(worker, SIGKILL);
          ::waitpid(worker, &status, 0);
          FAIL() << "worker hung after the daemon was killed";
        }
        std::this_thread::sleep_for(1ms);
      }
      size_t acked = 0;
      WorkerRecord rec;
      while (::read(pipefd[0], &rec, sizeof rec) == sizeof rec) {
        if (rec.err == 0) {
          acked = rec.index + 1;
        } else {
          // Before the kill nothing may fail; after it, the aborted connection's
          // errnos (the kernel answers EIO to a write cut off by the abort).
          EXPECT_TRUE(rec.when_ns >= kill_ns && (rec.err == ENOTCONN || rec.err == ECONNABORTED || rec.err == EIO))
              << "op '" << Name(ops[rec.index]) << "' failed in " << rec.step << " with " << std::strerror(rec.err)
              << (rec.when_ns < kill_ns ? " before" : " after") << " the kill";
        }
      }
      ::close(pipefd[0]);
      if (acked < ops.size()) ++inflight_kills;
      acked_total += acked;

      // A dead mount answers ENOTCONN; `umount -l` is the documented recovery.
      struct statfs sfs;
      EXPECT_NE(::statfs(mnt_.c_str(), &sfs), 0);
      EXPECT_EQ(errno, ENOTCONN);
      d.Detach();
      ASSERT_FALSE(IsMounted(mnt_));

      StrataDaemon again(mnt_, config, log);
      ASSERT_TRUE(again.Start(&err)) << err;
      // The first request proves the daemon is serving; work/ is cleaned by then.
      ASSERT_EQ(::statfs(mnt_.c_str(), &sfs), 0) << std::strerror(errno);
      EXPECT_TRUE(DirIsEmpty(config.work + "/work")) << "garbage left in " << config.work << "/work";
      Tree actual = Snapshot(mnt_, true, &err);
      ASSERT_TRUE(err.empty()) << err;
      std::string verdict = CheckAgainstModel(actual, model, ops, acked);
      ASSERT_TRUE(verdict.empty()) << verdict;
      ASSERT_TRUE(again.Stop()) << again.Log();

      // Kernel overlayfs reads the same upper and shows the same tree.
      {
        KernelOverlay k(kmnt, kconfig);
        ASSERT_TRUE(k.ok()) << "kernel overlayfs refused the upper: " << std::strerror(k.error());
        Tree kernel = Snapshot(kmnt, true, &err);
        ASSERT_TRUE(err.empty()) << err;
        std::string diff = DiffTrees(actual, kernel);
        ASSERT_TRUE(diff.empty()) << "stratafs vs kernel overlayfs: " << diff;
      }
      model = std::move(actual);
      ++survived;
    }
    RemoveTree(config.upper);
    RemoveTree(config.work);
    RemoveTree(kconfig.work);
  }
  std::printf("crash test: %ld kill points survived (%ld with an operation in flight), %ld acknowledged ops checked\n",
              survived, inflight_kills, acked_total);
  RecordProperty("kill_points", static_cast<int>(survived));
}

}  // namespace
}  // namespace strata::reltest
