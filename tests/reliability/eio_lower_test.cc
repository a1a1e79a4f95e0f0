// Faults from below, EIO (issue 7.4): a lower layer whose reads fail. This
// kernel has no device-mapper "error" target, so the lower is eio_fs (a
// read-only passthrough FUSE filesystem, eio_fs.cc) that fails read() of
// files named *bad*, getattr of *badstat* and readdir of *baddir* with EIO.
//
// Kernel overlayfs accepts a FUSE lower, so every operation runs on a kernel
// overlay and on stratafs stacked on the same eio_fs mount, and their errnos
// are compared. Besides the kernel's answer, stratafs must: give EIO (never
// wrong data, never a crash), leave no partial copy-up in the upper nor a
// temp file in the work directory, keep serving everything else, and say
// what happened in its log.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <sstream>
#include <thread>

#include "tests/reliability/harness.h"

namespace strata::reltest {
namespace {

using namespace std::chrono_literals;

int Errno(bool ok) { return ok ? 0 : errno; }

std::string EioFsPath() {
  const char* p = std::getenv("EIO_FS");
  return p && *p ? p : "eio_fs";
}

// eio_fs SOURCE MOUNTPOINT -f as a child; unmounted and reaped on destruction.
class EioFs {
 public:
  EioFs(const std::string& source, const std::string& mnt, const std::string& log) : mnt_(mnt) {
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::setpgid(0, 0);
      const std::string exe = EioFsPath();
      const char* argv[] = {exe.c_str(), source.c_str(), mnt.c_str(), "-f", "-o", "allow_other", nullptr};
      ::execv(argv[0], const_cast<char**>(argv));
      ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (pid_ > 0 && std::chrono::steady_clock::now() < deadline) {
      if (IsMounted(mnt_, "fuse.eio_fs")) {
        ok_ = true;
        return;
      }
      int status;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(2ms);
    }
  }
  ~EioFs() {
    if (::umount2(mnt_.c_str(), 0) != 0) DetachAll(mnt_);
    if (pid_ <= 0) return;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    int status;
    while (::waitpid(pid_, &status, WNOHANG) != pid_) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(2ms);
    }
  }
  EioFs(const EioFs&) = delete;
  EioFs& operator=(const EioFs&) = delete;
  bool ok() const { return ok_; }

 private:
  std::string mnt_;
  pid_t pid_ = -1;
  bool ok_ = false;
};

// Reads the whole file through one fd: 0, or the errno of open/read.
int ReadErrno(const std::string& path, std::string* data = nullptr) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  char buf[65536];
  int e = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      e = errno;
      break;
    }
    if (n == 0) break;
    if (data) data->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return e;
}

// Lists a directory: 0, or the errno of opendir/readdir.
int ListErrno(const std::string& path, std::vector<std::string>* names = nullptr) {
  DIR* d = ::opendir(path.c_str());
  if (!d) return errno;
  errno = 0;
  while (dirent* e = ::readdir(d))
    if (names && std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) names->push_back(e->d_name);
  int e = errno;
  ::closedir(d);
  return e;
}

struct Op {
  const char* what;
  std::function<int(const std::string& root)> run;  // errno
};

// The operations compared; each is run once per mount, in this order.
const std::vector<Op>& Ops() {
  static const std::vector<Op> ops = {
      {"read bad", [](const std::string& m) { return ReadErrno(m + "/bad"); }},
      {"open bad O_RDONLY", [](const std::string& m) {
         int fd = ::open((m + "/bad").c_str(), O_RDONLY);
         if (fd < 0) return errno;
         ::close(fd);
         return 0;
       }},
      {"pread bad at 64 KiB", [](const std::string& m) {
         int fd = ::open((m + "/bad").c_str(), O_RDONLY);
         if (fd < 0) return errno;
         char b[16];
         int e = Errno(::pread(fd, b, sizeof b, 65536) >= 0);
         ::close(fd);
         return e;
       }},
      {"chmod bad (copy-up)", [](const std::string& m) { return Errno(::chmod((m + "/bad").c_str(), 0600) == 0); }},
      {"open bad O_WRONLY|O_APPEND (copy-up)", [](const std::string& m) {
         int fd = ::open((m + "/bad").c_str(), O_WRONLY | O_APPEND);
         if (fd < 0) return errno;
         int e = Errno(::write(fd, "x", 1) == 1);
         ::close(fd);
         return e;
       }},
      {"truncate bad to 10 (copy-up)", [](const std::string& m) { return Errno(::truncate((m + "/bad").c_str(), 10) == 0); }},
      {"setxattr user.x on bad (copy-up)", [](const std::string& m) {
         return Errno(::setxattr((m + "/bad").c_str(), "user.x", "1", 1, 0) == 0);
       }},
      {"list baddir", [](const std::string& m) { return ListErrno(m + "/baddir"); }},
      {"stat badstat", [](const std::string& m) {
         struct stat st;
         return Errno(::stat((m + "/badstat").c_str(), &st) == 0);
       }},
      {"chmod badstat", [](const std::string& m) { return Errno(::chmod((m + "/badstat").c_str(), 0600) == 0); }},
      {"read good", [](const std::string& m) { return ReadErrno(m + "/good"); }},
      {"chmod good (copy-up)", [](const std::string& m) { return Errno(::chmod((m + "/good").c_str(), 0600) == 0); }},
      {"read good after its copy-up", [](const std::string& m) {
         std::string d;
         int e = ReadErrno(m + "/good", &d);
         return e ? e : (d == "good\n" ? 0 : EBADMSG);
       }},
      {"list baddir/.. (root)", [](const std::string& m) { return ListErrno(m); }},
      {"create a new file", [](const std::string& m) { return WriteFile(m + "/new", "n") ? 0 : errno; }},
      {"read bad again", [](const std::string& m) { return ReadErrno(m + "/bad"); }},
      {"stat the root", [](const std::string& m) {
         struct stat st;
         return Errno(::stat(m.c_str(), &st) == 0);
       }},
  };
  return ops;
}

class EioLower : public ::testing::Test {
 protected:
  void SetUp() override {
    ::umask(0);
    ASSERT_FALSE(dir_.path().empty());
    src_ = dir_.Sub("src");
    ASSERT_TRUE(WriteFile(src_ + "/good", "good\n", 0644));
    ASSERT_TRUE(WriteFile(src_ + "/bad", Pattern(7, 200000), 0644));
    ASSERT_TRUE(WriteFile(src_ + "/badstat", "s", 0644));
    ::mkdir((src_ + "/baddir").c_str(), 0755);
    ASSERT_TRUE(WriteFile(src_ + "/baddir/inside", "i", 0644));
    eio_mnt_ = dir_.Sub("eio");
    l1_ = dir_.Sub("l1");
    eio_ = std::make_unique<EioFs>(src_, eio_mnt_, dir_.path() + "/eio_fs.log");
    ASSERT_TRUE(eio_->ok()) << "eio_fs did not mount: " << ReadFile(dir_.path() + "/eio_fs.log").value_or("");
  }
  void TearDown() override { eio_.reset(); }

  StrataConfig Config(const std::string& tag) {
    StrataConfig c;
    c.lowers = {l1_, eio_mnt_};
    c.upper = dir_.Sub(tag + "-upper");
    c.work = dir_.Sub(tag + "-work");
    return c;
  }

  // Runs every op on `root`, bounded; -1 for an op that hung.
  std::vector<int> RunOps(const std::string& root) {
    std::vector<int> out;
    for (const Op& op : Ops()) out.push_back(RunAs(0, 0, [&] { return op.run(root); }, 15s));
    return out;
  }

  ScratchDir dir_{"eio"};
  std::string src_, eio_mnt_, l1_;
  std::unique_ptr<EioFs> eio_;
};

TEST_F(EioLower, TheFixtureInjectsEio) {
  const std::string& m = eio_mnt_;
  std::string d;
  EXPECT_EQ(ReadErrno(m + "/good", &d), 0);
  EXPECT_EQ(d, "good\n");
  EXPECT_EQ(ReadErrno(m + "/bad"), EIO);
  EXPECT_EQ(ListErrno(m + "/baddir"), EIO);
  struct stat st;
  EXPECT_EQ(Errno(::stat((m + "/badstat").c_str(), &st) == 0), EIO);
  EXPECT_EQ(Errno(::stat((m + "/bad").c_str(), &st) == 0), 0);
  EXPECT_EQ(st.st_size, 200000);
}

TEST_F(EioLower, EioFromALowerLayerAsTheKernelGivesIt) {
  // The oracle. Kernel overlayfs takes a FUSE filesystem as a lower layer
  // (FUSE has no case-insensitive or weird dentry operations).
  const StrataConfig kc = Config("k");
  std::vector<int> kernel;
  {
    const std::string kmnt = dir_.Sub("kmnt");
    KernelOverlay k(kmnt, kc);
    ASSERT_TRUE(k.ok()) << "kernel overlayfs refused the FUSE lower: " << std::strerror(k.error());
    kernel = RunOps(kmnt);
  }

  const StrataConfig c = Config("s");
  const std::string mnt = dir_.Sub("mnt");
  StrataDaemon d(mnt, c, dir_.path() + "/daemon.log");
  std::string err;
  ASSERT_TRUE(d.Start(&err)) << err;
  const std::vector<int> strata = RunOps(mnt);

  std::ostringstream table;
  for (size_t i = 0; i < Ops().size(); ++i) {
    table << "  " << Ops()[i].what << ": kernel " << kernel[i] << ", stratafs " << strata[i] << "\n";
    EXPECT_EQ(strata[i], kernel[i]) << Ops()[i].what << " (errno values)";
  }
  std::printf("eio lower, errno per operation:\n%s", table.str().c_str());

  // Whatever the kernel does, these are stratafs's contract.
  auto at = [&](const char* what) {
    for (size_t i = 0; i < Ops().size(); ++i)
      if (std::string(Ops()[i].what) == what) return strata[i];
    ADD_FAILURE() << "no op " << what;
    return -2;
  };
  EXPECT_EQ(at("read bad"), EIO) << "a failed lower read must not look like data or EOF";
  EXPECT_EQ(at("read bad again"), EIO);
  EXPECT_EQ(at("chmod bad (copy-up)"), EIO);
  EXPECT_EQ(at("open bad O_WRONLY|O_APPEND (copy-up)"), EIO);
  EXPECT_EQ(at("truncate bad to 10 (copy-up)"), EIO);
  EXPECT_EQ(at("setxattr user.x on bad (copy-up)"), EIO);
  EXPECT_EQ(at("list baddir"), EIO);
  EXPECT_EQ(at("stat badstat"), EIO);
  EXPECT_EQ(at("read good after its copy-up"), 0);
  EXPECT_EQ(at("create a new file"), 0);
  EXPECT_EQ(at("stat the root"), 0);

  // Failed copy-ups leave nothing behind; the mount still shows the lower file.
  struct stat st;
  EXPECT_NE(::lstat((c.upper + "/bad").c_str(), &st), 0) << "a partial copy-up of 'bad' is in the upper";
  EXPECT_NE(::lstat((c.upper + "/badstat").c_str(), &st), 0) << "'badstat' was copied up";
  EXPECT_TRUE(DirIsEmpty(c.work + "/work")) << "a failed copy-up left its temp file";
  ASSERT_EQ(::stat((mnt + "/bad").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u) << "the mode changed although the copy-up failed";
  EXPECT_EQ(st.st_size, 200000) << "the size changed although the copy-up failed";
  EXPECT_EQ(ReadFile(c.upper + "/good"), "good\n") << "the good file's copy-up";
  // The kernel's upper after the same operations has the same entries.
  std::string e1, e2;
  const Tree su = Snapshot(c.upper, true, &e1), ku = Snapshot(kc.upper, true, &e2);
  EXPECT_EQ(DiffTrees(su, ku), "") << "stratafs upper vs kernel overlayfs upper";

  EXPECT_TRUE(d.alive()) << "the daemon died: " << d.Log();
  EXPECT_EQ(::stat(mnt.c_str(), &st), 0) << "the mount stopped serving";
  EXPECT_TRUE(d.Stop());
}

// BUGS.md #5 (fixed): an entry whose lower lookup fails with EIO stays in
// the merged listing, as with kernel overlayfs (which gives EIO on the stat).
TEST_F(EioLower, AnEntryWhoseStatFailsIsStillListed) {
  const std::string mnt = dir_.Sub("mnt");
  StrataDaemon d(mnt, Config("s"), dir_.path() + "/daemon.log");
  std::string err;
  ASSERT_TRUE(d.Start(&err)) << err;
  std::vector<std::string> names;
  ASSERT_EQ(ListErrno(mnt, &names), 0);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"bad", "baddir", "badstat", "good"}));
  EXPECT_TRUE(d.Stop());
}

// BUGS.md #6 (fixed): a copy-up failing with EIO from below is answered
// with EIO and logged once, naming the file, for the administrator.
TEST_F(EioLower, EioFromALowerIsLoggedOnce) {
  const std::string mnt = dir_.Sub("mnt");
  const std::string log = dir_.path() + "/daemon.log";
  StrataDaemon d(mnt, Config("s"), log);
  std::string err;
  ASSERT_TRUE(d.Start(&err)) << err;
  EXPECT_EQ(RunAs(0, 0, [&] { return Errno(::chmod((mnt + "/bad").c_str(), 0600) == 0); }), EIO);
  EXPECT_TRUE(d.Stop());
  const std::string text = ReadFile(log).value_or("");
  std::istringstream lines(text);
  std::string line;
  int about_it = 0;
  while (std::getline(lines, line))
    if (line.find("bad") != std::string::npos &&
        (line.find("Input/output error") != std::string::npos || line.find("EIO") != std::string::npos))
      ++about_it;
  EXPECT_EQ(about_it, 1) << "log:\n" << text;
}

}  // namespace
}  // namespace strata::reltest
