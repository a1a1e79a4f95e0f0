// Through a real mount: removing the last link of a partly written chunked
// file deletes its chunk map from WORKDIR/strata-chunked (rm, and mv over
// it), and a file still open when it is removed keeps reading and writing
// correctly until it is closed, after which its map goes too. And a chunked
// file whose origin changed below gives EIO.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/reliability/harness.h"

namespace strata::reltest {
namespace {

using namespace std::chrono_literals;

constexpr size_t kSize = 1 << 20;

class ChunkedMountUnlink : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    lower_ = dir_.Sub("lower");
    mnt_ = dir_.Sub("mnt");
    for (const char* n : {"a", "b", "c", "d"}) ASSERT_TRUE(WriteFile(lower_ + "/" + n, Pattern(n[0], kSize)));
    config_.lowers = {lower_};
    config_.upper = dir_.Sub("upper");
    config_.work = dir_.Sub("work");
    config_.extra_opts = "copyup=chunked,chunk_size=64k";
    maps_ = config_.work + "/strata-chunked";
  }

  // pwrite through the mount on a fresh open.
  bool Poke(const std::string& name, const std::string& data, off_t off) {
    int fd = ::open((mnt_ + "/" + name).c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = ::pwrite(fd, data.data(), data.size(), off) == static_cast<ssize_t>(data.size());
    return ::close(fd) == 0 && ok;
  }

  // Waits (bounded) until WORKDIR/strata-chunked holds no map. The map of an
  // unlinked file goes when the kernel forgets its inode, which it sends on
  // its own once the file is closed: no request of ours triggers it.
  bool MapsGone() {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!DirIsEmpty(maps_)) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }

  ScratchDir dir_{"chunkunlink"};
  std::string lower_, mnt_, maps_;
  StrataConfig config_;
};

TEST_F(ChunkedMountUnlink, RemovingTheLastLinkDeletesTheMap) {
  std::string err;
  StrataDaemon d(mnt_, config_, dir_.path() + "/daemon.log");
  ASSERT_TRUE(d.Start(&err)) << err;

  ASSERT_TRUE(Poke("a", "xyz", 70000));
  ASSERT_FALSE(DirIsEmpty(maps_)) << "a partly written chunked file has a map";
  ASSERT_EQ(::unlink((mnt_ + "/a").c_str()), 0);
  EXPECT_TRUE(MapsGone()) << "rm left the map of a partly written chunked file";

  // mv over a partly written chunked file.
  ASSERT_TRUE(Poke("b", "xyz", 200000));
  ASSERT_TRUE(Poke("c", "uvw", 300000));
  ASSERT_EQ(::rename((mnt_ + "/c").c_str(), (mnt_ + "/b").c_str()), 0);
  // c's map stays (it is b now); b's old one goes.
  std::string expect = Pattern('c', kSize);
  expect.replace(300000, 3, "uvw");
  auto got = ReadFile(mnt_ + "/b");
  ASSERT_TRUE(got);
  EXPECT_TRUE(*got == expect) << "the renamed file lost its chunks";
  ASSERT_EQ(::unlink((mnt_ + "/b").c_str()), 0);
  EXPECT_TRUE(MapsGone()) << "mv over a chunked file, then rm, left a map";

  // Open across the unlink: no map yet when it goes, chunks written after.
  int fd = ::open((mnt_ + "/d").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::unlink((mnt_ + "/d").c_str()), 0);
  expect = Pattern('d', kSize);
  for (off_t off : {off_t{5}, off_t{400000}, off_t{kSize - 2}}) {
    ASSERT_EQ(::pwrite(fd, "AB", 2, off), 2);
    expect.replace(off, 2, "AB");
  }
  std::string back(kSize, '\0');
  ASSERT_EQ(::pread(fd, back.data(), kSize, 0), static_cast<ssize_t>(kSize));
  EXPECT_TRUE(back == expect) << "an open unlinked chunked file reads wrong data";
  ASSERT_EQ(::fsync(fd), 0);
  EXPECT_FALSE(DirIsEmpty(maps_)) << "the open file's map must live while it is open";
  ASSERT_EQ(::close(fd), 0);
  EXPECT_TRUE(MapsGone()) << "the map of an unlinked file outlived its last close";

  ASSERT_TRUE(d.Stop()) << d.Log();
  EXPECT_TRUE(DirIsEmpty(maps_));
}

// A chunked file whose origin changed in the lower layers (FORMAT.md §1)
// fails with EIO: never the upper's holes read as if they were the data.
using ChunkedMountOrigin = ChunkedMountUnlink;

TEST_F(ChunkedMountOrigin, ChangedOriginGivesEioNotHoles) {
  std::string err;
  {
    StrataDaemon d(mnt_, config_, dir_.path() + "/daemon.log");
    ASSERT_TRUE(d.Start(&err)) << err;
    ASSERT_TRUE(Poke("a", "xyz", 70000));                   // chunked, partly written
    ASSERT_EQ(::chmod((mnt_ + "/b").c_str(), 0600), 0);     // chunked, nothing written
    ASSERT_TRUE(Poke("c", "xyz", 70000));                   // its origin stays as it was
    ASSERT_TRUE(d.Stop()) << d.Log();
  }
  // The lower files change under the stopped stack (their mtime is part of
  // the recorded identity).
  for (const char* n : {"a", "b"}) ASSERT_TRUE(WriteFile(lower_ + "/" + n, Pattern('z', kSize)));

  StrataDaemon d(mnt_, config_, dir_.path() + "/daemon2.log");
  ASSERT_TRUE(d.Start(&err)) << err;
  for (const char* n : {"a", "b"}) {
    SCOPED_TRACE(n);
    errno = 0;
    int fd = ::open((mnt_ + "/" + n).c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_LT(fd, 0) << "opened a chunked file whose origin changed";
    EXPECT_EQ(errno, EIO);
    if (fd >= 0) ::close(fd);
    struct stat st;
    EXPECT_EQ(::stat((mnt_ + "/" + n).c_str(), &st), 0) << "stat needs no data";
  }
  std::string expect = Pattern('c', kSize);
  expect.replace(70000, 3, "xyz");
  auto got = ReadFile(mnt_ + "/c");
  ASSERT_TRUE(got);
  EXPECT_TRUE(*got == expect) << "an unchanged origin must keep working";
  ASSERT_TRUE(d.Stop()) << d.Log();
}

}  // namespace
}  // namespace strata::reltest
