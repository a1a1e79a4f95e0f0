// Faults from below (issue 7.4): the upper's filesystem full (a 16 MiB
// loop-mounted ext4), a lower directory removed underneath a live mount, and a
// work directory on another filesystem. Each gives an errno (never a hang or a
// partial file), leaves the old state intact, and the daemon keeps serving.
//
// EIO from a lower is in eio_lower_test.cc (a fault-injecting FUSE lower:
// this kernel has no device-mapper "error" target).
#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "tests/reliability/harness.h"

namespace strata::reltest {
namespace {

int Errno(bool ok) { return ok ? 0 : errno; }

// A small ext4 on a loop device (mount -o loop: the loop device is released
// with the last unmount); lazily unmounted on destruction.
class LoopExt4 {
 public:
  LoopExt4(const std::string& image, const std::string& dir, int mib) : dir_(dir) {
    int fd = ::open(image.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(mib) << 20) != 0) return;
    ::close(fd);
    // -m 0: no blocks reserved for root (the daemon is root and would use them).
    if (!RunCommand({"mkfs.ext4", "-q", "-F", "-m", "0", "-E", "nodiscard", image})) return;
    ok_ = RunCommand({"mount", "-o", "loop", image, dir_});
  }
  ~LoopExt4() {
    if (ok_ && ::umount2(dir_.c_str(), 0) != 0) DetachAll(dir_);
  }
  bool ok() const { return ok_; }

 private:
  std::string dir_;
  bool ok_ = false;
};

// Writes 1 MiB blocks of a known pattern until the first error; returns
// that errno and in *written how many bytes the kernel acknowledged.
int FillUp(const std::string& path, size_t* written) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  const std::string block = Pattern(99, 1 << 20);
  *written = 0;
  int e = 0;
  for (int i = 0; i < 64 && e == 0; ++i) {
    size_t off = 0;
    while (off < block.size()) {
      ssize_t n = ::write(fd, block.data() + off, block.size() - off);
      if (n < 0) {
        e = errno;
        break;
      }
      off += n;
      *written += n;
    }
  }
  if (e == 0) e = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return e;
}

class FaultsFromBelow : public ::testing::Test {
 protected:
  void SetUp() override {
    ::umask(0);
    ASSERT_FALSE(dir_.path().empty());
    l1_ = dir_.Sub("l1");
    l2_ = dir_.Sub("l2");
    mnt_ = dir_.Sub("mnt");
  }
  ScratchDir dir_{"faults"};
  std::string l1_, l2_, mnt_;
};

TEST_F(FaultsFromBelow, FullUpperGivesEnospcAndKeepsTheOldState) {
  const std::string big = Pattern(1, 24 << 20), small = Pattern(2, 4096), medium = Pattern(4, 3 << 20);
  ASSERT_TRUE(WriteFile(l2_ + "/medium", medium, 0644));
  ASSERT_TRUE(WriteFile(l2_ + "/big", big, 0644));
  ASSERT_TRUE(WriteFile(l2_ + "/small", small, 0644));
  const std::string fs = dir_.Sub("fs");
  LoopExt4 loop(dir_.path() + "/upper.img", fs, 16);
  ASSERT_TRUE(loop.ok()) << "cannot make and mount a loop ext4";
  StrataConfig c;
  c.lowers = {l1_, l2_};
  c.upper = fs + "/upper";
  c.work = fs + "/work";
  ::mkdir(c.upper.c_str(), 0755);
  ::mkdir(c.work.c_str(), 0755);
  StrataDaemon d(mnt_, c, dir_.path() + "/daemon.log");
  std::string err;
  ASSERT_TRUE(d.Start(&err)) << err;
  const std::string m = mnt_;

  // Copy-up of a 24 MiB lower file onto a 16 MiB filesystem.
  EXPECT_EQ(RunAs(0, 0, [&] { return Errno(::chmod((m + "/big").c_str(), 0600) == 0); }), ENOSPC);
  EXPECT_EQ(RunAs(0, 0, [&] { return Errno(::open((m + "/big").c_str(), O_WRONLY) >= 0); }), ENOSPC);
  EXPECT_EQ(RunAs(0, 0, [&] { return Errno(::truncate((m + "/big").c_str(), 1) == 0); }), ENOSPC);
  struct stat st;
  ASSERT_EQ(::stat((m + "/big").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u) << "mode changed although the copy-up failed";
  EXPECT_EQ(ReadFile(m + "/big"), big) << "the lower content is no longer what the mount shows";
  EXPECT_NE(::lstat((c.upper + "/big").c_str(), &st), 0) << "a partial copy-up is in the upper";
  EXPECT_TRUE(DirIsEmpty(c.work + "/work")) << "the failed copy-up left its temp file";

  // Fill the upper through the mount: write reports ENOSPC. Twice, with a
  // sync between, so space ext4 releases after the first ENOSPC (delayed
  // allocation reservations, preallocations) is used up as well.
  size_t written = 0, written2 = 0;
  EXPECT_EQ(RunAs(0, 0, [&] { return FillUp(m + "/fill", &written); }), ENOSPC);
  ::sync();
  EXPECT_EQ(RunAs(0, 0, [&] { return FillUp(m + "/fill2", &written2); }), ENOSPC);
  // A new file cannot get 4 MiB of data; creating it may or may not succeed.
  int e = RunAs(0, 0, [&] {
    int fd = ::open((m + "/new").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) return errno;
    const std::string data = Pattern(3, 4 << 20);
    size_t off = 0;
    int r = 0;
    while (off < data.size() && r == 0) {
      ssize_t n = ::write(fd, data.data() + off, data.size() - off);
      if (n < 0) r = errno;
      else off += n;
    }
    if (r == 0 && ::fsync(fd) != 0) r = errno;
    ::close(fd);
    return r;
  });
  EXPECT_EQ(e, ENOSPC);
  EXPECT_EQ(RunAs(0, 0, [&] { return Errno(::chmod((m + "/medium").c_str(), 0600) == 0); }), ENOSPC)
      << "copy-up of a 3 MiB file onto a full filesystem";
  EXPECT_EQ(ReadFile(m + "/medium"), medium);
  EXPECT_NE(::lstat((c.upper + "/medium").c_str(), &st), 0) << "a partial copy-up is in the upper";
  EXPECT_TRUE(DirIsEmpty(c.work + "/work")) << "the failed copy-up left its temp file";
  EXPECT_EQ(ReadFile(m + "/small"), small);
  EXPECT_EQ(ReadFile(m + "/big"), big);
  auto fill = ReadFile(m + "/fill");
  ASSERT_TRUE(fill.has_value());
  EXPECT_GE(fill->size(), written & ~((size_t{1} << 20) - 1)) << "acknowledged bytes lost";
  const std::string block = Pattern(99, 1 << 20);
  for (size_t off = 0; off + block.size() <= fill->size(); off += block.size())
    ASSERT_EQ(fill->compare(off, block.size(), block), 0) << "fill corrupted at " << off;

  // Space back: everything works again on the same daemon.
  ASSERT_EQ(::unlink((m + "/fill").c_str()), 0);
  ASSERT_EQ(::unlink((m + "/fill2").c_str()), 0);
  ::unlink((m + "/new").c_str());
  ::sync();
  EXPECT_EQ(RunAs(0, 0, [&] { return Errno(::chmod((m + "/small").c_str(), 0600) == 0); }), 0);
  EXPECT_EQ(ReadFile(m + "/small"), small);
  EXPECT_EQ(RunAs(0, 0, [&] { return WriteFile(m + "/after", "ok") ? 0 : errno; }), 0);
  EXPECT_EQ(ReadFile(m + "/after"), "ok");
  EXPECT_TRUE(d.alive()) << d.Log();
  EXPECT_TRUE(d.Stop());
}

TEST_F(FaultsFromBelow, LowerDirectoryRemovedUnderneathGivesErrnoNotHang) {
  ::mkdir((l2_ + "/gone").c_str(), 0755);
  ::mkdir((l2_ + "/gone/sub").c_str(), 0755);
  ASSERT_TRUE(WriteFile(l2_ + "/gone/a", "a"));
  ASSERT_TRUE(WriteFile(l2_ + "/gone/sub/b", "b"));
  ASSERT_TRUE(WriteFile(l2_ + "/vanishing", "v"));
  ASSERT_TRUE(WriteFile(l2_ + "/stays", "s"));
  StrataConfig c;
  c.lowers = {l1_, l2_};
  c.upper = dir_.Sub("upper");
  c.work = dir_.Sub("work");
  StrataDaemon d(mnt_, c, dir_.path() + "/daemon.log");
  std::string err;
  ASSERT_TRUE(d.Start(&err)) << err;
  const std::string m = mnt_;
  struct stat st;
  ASSERT_EQ(::stat((m + "/gone/a").c_str(), &st), 0);
  ASSERT_EQ(::stat((m + "/gone/sub/b").c_str(), &st), 0);
  ASSERT_EQ(::stat((m + "/vanishing").c_str(), &st), 0);
  int held = ::open((m + "/gone/a").c_str(), O_RDONLY);
  ASSERT_GE(held, 0);

  RemoveTree(l2_ + "/gone");
  ASSERT_EQ(::unlink((l2_ + "/vanishing").c_str()), 0);

  // Each must come back (an errno or a success), within the RunAs limit.
  int cases = 0;
  auto bounded = [&](const char* what, const std::function<int()>& fn) {
    int e = RunAs(0, 0, fn, std::chrono::seconds(15));
    ++cases;
    EXPECT_GE(e, 0) << what << " hung";
    EXPECT_TRUE(d.alive()) << what << " crashed the daemon: " << d.Log();
    return e;
  };
  bounded("list the removed dir", [&] {
    DIR* dir = ::opendir((m + "/gone").c_str());
    if (!dir) return errno;
    errno = 0;
    while (::readdir(dir)) {
    }
    int e2 = errno;
    ::closedir(dir);
    return e2;
  });
  bounded("stat below it", [&] { return Errno(::stat((m + "/gone/sub/b").c_str(), &st) == 0); });
  bounded("read below it", [&] { return ReadFile(m + "/gone/sub/b") ? 0 : errno; });
  bounded("create below it (parent copy-up)", [&] { return WriteFile(m + "/gone/new", "n") ? 0 : errno; });
  bounded("mkdir below it", [&] { return Errno(::mkdir((m + "/gone/sub/d").c_str(), 0755) == 0); });
  bounded("rename below it", [&] { return Errno(::rename((m + "/gone/a").c_str(), (m + "/gone/a2").c_str()) == 0); });
  bounded("rmdir it", [&] { return Errno(::rmdir((m + "/gone/sub").c_str()) == 0); });
  bounded("copy-up of a removed lower file", [&] { return Errno(::chmod((m + "/vanishing").c_str(), 0600) == 0); });
  bounded("unlink a removed lower file", [&] { return Errno(::unlink((m + "/vanishing").c_str()) == 0); });
  char buf[4];
  EXPECT_GE(::pread(held, buf, sizeof buf, 0), 0) << "an open file stops reading when its directory goes";
  ::close(held);
  // The rest of the mount is unaffected.
  EXPECT_EQ(ReadFile(m + "/stays"), "s");
  EXPECT_EQ(RunAs(0, 0, [&] { return Errno(::mkdir((m + "/freshdir").c_str(), 0755) == 0); }), 0);
  EXPECT_EQ(RunAs(0, 0, [&] { return WriteFile(m + "/fresh", "f") ? 0 : errno; }), 0);
  EXPECT_TRUE(d.alive()) << d.Log();
  EXPECT_TRUE(d.Stop());
  std::printf("faults: %d operations on a removed lower directory came back\n", cases);
}

// BUGS.md #2 (fixed): nodes were keyed by (st_dev, st_ino) with no check that
// the object behind a key is still the same one; once a looked-up lower file
// was deleted underneath, a new upper file that got its inode number was taken
// for the old node and create/open/write answered ESTALE.
TEST_F(FaultsFromBelow, NewFileReusingARemovedLowerInodeNumber) {
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(WriteFile(l2_ + "/f" + std::to_string(i), "old"));
  StrataConfig c;
  c.lowers = {l1_, l2_};
  c.upper = dir_.Sub("upper");
  c.work = dir_.Sub("work");
  StrataDaemon d(mnt_, c, dir_.path() + "/daemon.log");
  std::string err;
  ASSERT_TRUE(d.Start(&err)) << err;
  struct stat st;
  for (int i = 0; i < 20; ++i) ASSERT_EQ(::stat((mnt_ + "/f" + std::to_string(i)).c_str(), &st), 0);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(::unlink((l2_ + "/f" + std::to_string(i)).c_str()), 0);
  int failed = 0;
  for (int i = 0; i < 40; ++i) {
    const std::string p = mnt_ + "/n" + std::to_string(i);
    if (RunAs(0, 0, [&] { return WriteFile(p, "new") ? 0 : errno; }) != 0 || ReadFile(p) != "new") ++failed;
  }
  EXPECT_EQ(failed, 0) << failed << " of 40 new files could not be written and read back";
  EXPECT_TRUE(d.Stop());
}

TEST_F(FaultsFromBelow, WorkdirOnAnotherFilesystemIsRefusedClearly) {
  const std::string fs = dir_.Sub("fs");
  LoopExt4 loop(dir_.path() + "/other.img", fs, 8);
  ASSERT_TRUE(loop.ok());
  StrataConfig c;
  c.lowers = {l1_, l2_};
  c.upper = dir_.Sub("upper");
  c.work = fs;
  StrataDaemon d(mnt_, c, dir_.path() + "/daemon.log");
  std::string err;
  EXPECT_FALSE(d.Start(&err)) << "mounted with the workdir on another filesystem";
  EXPECT_FALSE(IsMounted(mnt_));
  const std::string log = d.Log();
  EXPECT_NE(log.find("stratafs:"), std::string::npos) << log;
  EXPECT_LE(std::count(log.begin(), log.end(), '\n'), 1) << "more than one line: " << log;
}

}  // namespace
}  // namespace strata::reltest
