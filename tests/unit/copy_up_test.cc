// Copy-up engine: data (holes kept), mode, owner, timestamps and xattrs (but
// the overlay-private ones) preserved; built in WORKDIR/work and renamed into
// place, so the upper never shows a partial object.
#include "fs/copyup/copy_up.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdint>

#include "fs/copyup/copy_data.h"
#include "fs/copyup/copy_meta.h"
#include "fs/layer/origin_map.h"
#include "fs/sys/syscalls.h"
#include "tests/unit/layer_fixture.h"

namespace strata::copyup {
namespace {

using unittest::GetXattr;
using unittest::Lstat;
using unittest::MakeDirs;
using unittest::SetXattr;
using unittest::WriteFile;

constexpr off_t kMiB = 1 << 20;

void SetTimes(const std::string& path, time_t atime, long ans, time_t mtime, long mns) {
  struct timespec ts[2] = {{atime, ans}, {mtime, mns}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0) << path;
}

class CopyUpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* d : {"lower", "upper", "work", "origins"}) MakeDirs(P(d));
    upper_ = Open("upper");
    work_ = Open("work");
    origins_ = Open("origins");
    store_.map_fd = origins_.get();
    layer::ProbeOriginStore(work_.get(), &store_);
  }
  std::string P(std::string_view rel) const { return dir_ / rel; }
  UniqueFd Open(std::string_view rel, int flags = O_RDONLY | O_DIRECTORY) {
    UniqueFd fd(::open(P(rel).c_str(), flags | O_NOFOLLOW | O_CLOEXEC));
    EXPECT_TRUE(fd.valid()) << rel;
    return fd;
  }

  // Copies lower/NAME to upper/NAME the way the daemon does.
  Result<CopyUpResult> CopyUpName(const std::string& name, bool with_data = true,
                                  ino_t origin = 0) {
    const std::string src = "lower/" + name;
    struct stat st = Lstat(P(src));
    src_st_ = st;
    src_ = Open(src, S_ISDIR(st.st_mode) ? O_RDONLY | O_DIRECTORY : O_PATH);
    CopyUpRequest req;
    req.src_fd = src_.get();
    req.st = st;
    req.upper_parent = upper_.get();
    req.name = name.c_str();
    req.workdir = work_.get();
    req.with_data = with_data;
    req.durable = false;  // durability is not observable here; keep it fast
    req.origin_ino = origin;
    req.origins = &store_;
    return CopyUp(req);
  }

  // Compares the upper copy with the source as it was when copied (reading
  // the source for the copy may move its atime; the copy keeps the old one).
  // Call before reading the copy, for the same reason.
  void ExpectSameMeta(const std::string& name) {
    const struct stat& a = src_st_;
    struct stat b = Lstat(P("upper/" + name));
    EXPECT_EQ(a.st_mode, b.st_mode);
    EXPECT_EQ(a.st_uid, b.st_uid);
    EXPECT_EQ(a.st_gid, b.st_gid);
    EXPECT_EQ(a.st_mtim.tv_sec, b.st_mtim.tv_sec);
    EXPECT_EQ(a.st_mtim.tv_nsec, b.st_mtim.tv_nsec);
    EXPECT_EQ(a.st_atim.tv_sec, b.st_atim.tv_sec);
    EXPECT_EQ(a.st_atim.tv_nsec, b.st_atim.tv_nsec);
  }

  unittest::TempDir dir_;
  UniqueFd upper_, work_, src_, origins_;
  layer::OriginStore store_;
  struct stat src_st_ {};
};

TEST_F(CopyUpTest, RegularFileDataModeOwnerTimes) {
  WriteFile(P("lower/f"), "hello, world", 0640);
  ASSERT_EQ(::chown(P("lower/f").c_str(), 1234, 5678), 0);
  SetTimes(P("lower/f"), 1000000000, 123456789, 1200000000, 987654321);
  auto r = CopyUpName("f");
  ASSERT_TRUE(r.ok()) << std::strerror(r.error());
  ExpectSameMeta("f");
  EXPECT_EQ(unittest::ReadFile(P("upper/f")), "hello, world");
  EXPECT_EQ(r->bytes_copied, 12u);
  EXPECT_EQ(r->st.st_ino, Lstat(P("upper/f")).st_ino);
  auto st = sys::StatFd(r->fd.get());
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->st_ino, Lstat(P("upper/f")).st_ino);
  // Nothing left in the work directory; the lower is untouched.
  EXPECT_TRUE(unittest::ListDir(P("work")).empty());
  EXPECT_EQ(unittest::ReadFile(P("lower/f")), "hello, world");
}

TEST_F(CopyUpTest, SetuidAndSetgidBitsSurviveTheOwnerChange) {
  // chown clears setuid/setgid, so the mode must be applied after it.
  WriteFile(P("lower/suid"), "#!/bin/true\n", 0755);
  ASSERT_EQ(::chown(P("lower/suid").c_str(), 1000, 1000), 0);
  ASSERT_EQ(::chmod(P("lower/suid").c_str(), 06755), 0);
  ASSERT_TRUE(CopyUpName("suid").ok());
  EXPECT_EQ(Lstat(P("upper/suid")).st_mode & 07777, 06755u);
  ExpectSameMeta("suid");
}

TEST_F(CopyUpTest, SparseFileKeepsItsHoles) {
  WriteFile(P("lower/sparse"), "head");
  {
    UniqueFd fd(::open(P("lower/sparse").c_str(), O_WRONLY | O_CLOEXEC));
    ASSERT_TRUE(sys::PwriteAll(fd.get(), "middle", 6, 8 * kMiB).ok());
    ASSERT_EQ(::ftruncate(fd.get(), 32 * kMiB), 0);  // a hole at the end too
  }
  struct stat src = Lstat(P("lower/sparse"));
  ASSERT_LT(src.st_blocks * 512, 2 * kMiB) << "the fixture itself should be sparse";
  auto r = CopyUpName("sparse");
  ASSERT_TRUE(r.ok()) << std::strerror(r.error());
  struct stat dst = Lstat(P("upper/sparse"));
  EXPECT_EQ(dst.st_size, 32 * kMiB);
  EXPECT_LT(dst.st_blocks * 512, 4 * kMiB) << "holes were filled in";
  std::string data = unittest::ReadFile(P("upper/sparse"));
  ASSERT_EQ(data.size(), static_cast<size_t>(32 * kMiB));
  EXPECT_EQ(data.substr(0, 4), "head");
  EXPECT_EQ(data.substr(8 * kMiB, 6), "middle");
  EXPECT_EQ(data.find_first_not_of('\0', 4), static_cast<size_t>(8 * kMiB));
  EXPECT_EQ(data.find_first_not_of('\0', 8 * kMiB + 6), std::string::npos);
  // The first hole is where the source's is.
  UniqueFd fd(::open(P("upper/sparse").c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_LT(::lseek(fd.get(), 0, SEEK_HOLE), 8 * kMiB);
}

TEST_F(CopyUpTest, CopyFileDataKeepsHolesWhateverTheMethod) {
  WriteFile(P("lower/src"));
  UniqueFd src(::open(P("lower/src").c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(sys::PwriteAll(src.get(), "x", 1, 4 * kMiB).ok());
  UniqueFd dst(::open(P("upper/dst").c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  auto method = CopyFileData(src.get(), dst.get(), 4 * kMiB + 1);
  ASSERT_TRUE(method.ok()) << std::strerror(method.error());
  struct stat st = Lstat(P("upper/dst"));
  EXPECT_EQ(st.st_size, 4 * kMiB + 1);
  EXPECT_LT(st.st_blocks * 512, kMiB);
  char c = 0;
  EXPECT_EQ(::pread(dst.get(), &c, 1, 4 * kMiB), 1);
  EXPECT_EQ(c, 'x');
}

// Lower and upper on different filesystems (the common case: layers on the
// host's disk, an upper elsewhere): neither a clone nor copy_file_range can
// cross, sendfile does, and holes stay holes.
TEST_F(CopyUpTest, CopyFileDataAcrossFilesystemsUsesSendfile) {
  MakeDirs(P("other"));
  unittest::TmpfsMount other(P("other"));
  ASSERT_TRUE(other.mounted());
  std::string content(kMiB + 4097, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>('a' + i % 19);
  WriteFile(P("lower/dense"), content);
  UniqueFd src(::open(P("lower/dense").c_str(), O_RDONLY | O_CLOEXEC));
  UniqueFd dst(::open(P("other/dense").c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  auto method = CopyFileData(src.get(), dst.get(), static_cast<off_t>(content.size()),
                             /*may_have_holes=*/false, /*will_fsync=*/true);
  ASSERT_TRUE(method.ok()) << std::strerror(method.error());
  EXPECT_EQ(*method, CopyMethod::kSendfile);
  EXPECT_TRUE(unittest::ReadFile(P("other/dense")) == content);

  // Data at 0 and past a 2 MiB hole: each segment lands at its own offset.
  WriteFile(P("lower/sparse"), "head");
  UniqueFd sparse(::open(P("lower/sparse").c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(sys::PwriteAll(sparse.get(), "tail", 4, 2 * kMiB).ok());
  UniqueFd dst2(::open(P("other/sparse").c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  method = CopyFileData(sparse.get(), dst2.get(), 2 * kMiB + 4);
  ASSERT_TRUE(method.ok()) << std::strerror(method.error());
  EXPECT_EQ(*method, CopyMethod::kSendfile);
  const std::string copied = unittest::ReadFile(P("other/sparse"));
  ASSERT_EQ(copied.size(), 2 * kMiB + 4);
  EXPECT_EQ(copied.substr(0, 4), "head");
  EXPECT_EQ(copied.substr(2 * kMiB), "tail");
  EXPECT_EQ(copied.find_first_not_of('\0', 4), static_cast<size_t>(2 * kMiB));
  EXPECT_LT(Lstat(P("other/sparse")).st_blocks * 512, kMiB);
}

TEST_F(CopyUpTest, MayHaveHolesOnlyWhenBlocksFallShort) {
  WriteFile(P("lower/dense"), std::string(3 * 4096 + 10, 'd'));
  ::fsync(UniqueFd(::open(P("lower/dense").c_str(), O_RDONLY | O_CLOEXEC)).get());
  EXPECT_FALSE(MayHaveHoles(Lstat(P("lower/dense"))));
  WriteFile(P("lower/sparse"));
  ASSERT_EQ(::truncate(P("lower/sparse").c_str(), 8 * kMiB), 0);
  EXPECT_TRUE(MayHaveHoles(Lstat(P("lower/sparse"))));
}

TEST_F(CopyUpTest, CopyFileDataOfADenseFileIsExact) {
  std::string content;
  for (int i = 0; i < 300000; ++i) content.push_back(static_cast<char>('a' + i % 23));
  WriteFile(P("lower/dense"), content);
  UniqueFd src(::open(P("lower/dense").c_str(), O_RDONLY | O_CLOEXEC));
  UniqueFd dst(::open(P("upper/dense").c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  auto method = CopyFileData(src.get(), dst.get(), static_cast<off_t>(content.size()),
                             /*may_have_holes=*/false);
  ASSERT_TRUE(method.ok()) << std::strerror(method.error());
  EXPECT_EQ(unittest::ReadFile(P("upper/dense")), content);
}

// A copy that will be fsynced starts each 16 MiB chunk's writeback as it goes:
// every chunk, the partial last one included, must still land intact, whether
// the source is copied as one range or segment by segment.
TEST_F(CopyUpTest, CopyFileDataStreamingToDiskIsExact) {
  std::string content(33 * kMiB + 7, '\0');
  for (size_t i = 0; i < content.size(); i += 512) content[i] = static_cast<char>('A' + (i / kMiB) % 26);
  content.back() = 'z';
  WriteFile(P("lower/big"), content);
  for (bool holes : {false, true}) {
    SCOPED_TRACE(holes ? "segment by segment" : "one range");
    const std::string name = holes ? "upper/big-seg" : "upper/big-one";
    UniqueFd src(::open(P("lower/big").c_str(), O_RDONLY | O_CLOEXEC));
    UniqueFd dst(::open(P(name).c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    auto method = CopyFileData(src.get(), dst.get(), static_cast<off_t>(content.size()), holes,
                               /*will_fsync=*/true);
    ASSERT_TRUE(method.ok()) << std::strerror(method.error());
    ASSERT_EQ(::fsync(dst.get()), 0);
    EXPECT_TRUE(unittest::ReadFile(P(name)) == content);
  }
}

TEST_F(CopyUpTest, EmptyFileAndWithoutData) {
  WriteFile(P("lower/empty"));
  ASSERT_TRUE(CopyUpName("empty").ok());
  EXPECT_EQ(Lstat(P("upper/empty")).st_size, 0);
  // An O_TRUNC open makes the data moot: the copy starts empty.
  WriteFile(P("lower/big"), std::string(100000, 'b'));
  auto r = CopyUpName("big", /*with_data=*/false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->bytes_copied, 0u);
  EXPECT_EQ(unittest::ReadFile(P("upper/big")), "");
}

TEST_F(CopyUpTest, XattrsCopiedButNotThePrivateOnes) {
  WriteFile(P("lower/x"), "data");
  SetXattr(P("lower/x"), "user.keep", "u");
  SetXattr(P("lower/x"), "trusted.keep", "t");
  SetXattr(P("lower/x"), "user.empty", "");
  SetXattr(P("lower/x"), "trusted.overlay.origin", "private");
  SetXattr(P("lower/x"), "user.overlay.redirect", "private");
  SetXattr(P("lower/x"), "user.strata.chunks", "private");
  SetXattr(P("lower/x"), "user.fuseoverlayfs.origin", "private");
  ASSERT_TRUE(CopyUpName("x").ok());
  EXPECT_EQ(unittest::ListXattrs(P("upper/x")),
            (std::vector<std::string>{"trusted.keep", "user.empty", "user.keep"}));
  EXPECT_EQ(GetXattr(P("upper/x"), "user.keep"), "u");
  EXPECT_EQ(GetXattr(P("upper/x"), "trusted.keep"), "t");
  EXPECT_EQ(GetXattr(P("upper/x"), "user.empty"), "");
}

TEST_F(CopyUpTest, FileCapabilitiesSurvive) {
  // Kernel overlayfs keeps security.capability on copy-up (it sets the owner
  // without ATTR_KILL_PRIV); a copied /usr/bin/ping must keep working.
  WriteFile(P("lower/ping"), "elf", 0755);
  ASSERT_EQ(::chown(P("lower/ping").c_str(), 0, 0), 0);
  // VFS_CAP_REVISION_2 | effective, permitted = CAP_NET_RAW (bit 13).
  const uint32_t cap[5] = {0x02000001u, 1u << 13, 0, 0, 0};
  SetXattr(P("lower/ping"), "security.capability",
           std::string_view(reinterpret_cast<const char*>(cap), sizeof cap));
  ASSERT_TRUE(GetXattr(P("lower/ping"), "security.capability").has_value());
  ASSERT_TRUE(CopyUpName("ping").ok());
  EXPECT_EQ(GetXattr(P("upper/ping"), "security.capability"),
            std::string(reinterpret_cast<const char*>(cap), sizeof cap));
}

TEST_F(CopyUpTest, OriginIsRecorded) {
  WriteFile(P("lower/f"), "x");
  unittest::MakeSymlink("t", P("lower/link"));
  MakeDirs(P("lower/d"));
  ASSERT_TRUE(CopyUpName("f", true, 0xABCDEF).ok());
  ASSERT_TRUE(CopyUpName("link", true, 0xABCDF0).ok());
  ASSERT_TRUE(CopyUpName("d", true, 0x123456).ok());
  EXPECT_EQ(layer::GetOrigin(store_, upper_.get(), "f", Lstat(P("upper/f")).st_ino), 0xABCDEFu);
  EXPECT_EQ(layer::GetOrigin(store_, upper_.get(), "link", Lstat(P("upper/link")).st_ino), 0xABCDF0u);
  // A directory keeps its number through its lower instance: nothing recorded.
  EXPECT_EQ(layer::GetOrigin(store_, upper_.get(), "d", Lstat(P("upper/d")).st_ino), 0u);
  // Nothing on the copies that a kernel mount of the upper would show: at
  // most the overlayfs-private origin xattr, which it hides.
  for (const char* n : {"f", "d"})
    for (const auto& x : unittest::ListXattrs(P("upper/") + n))
      EXPECT_EQ(x, layer::kOriginXattr) << n;
  // Without an origin nothing is recorded.
  WriteFile(P("lower/g"), "x");
  ASSERT_TRUE(CopyUpName("g").ok());
  EXPECT_EQ(layer::GetOrigin(store_, upper_.get(), "g", Lstat(P("upper/g")).st_ino), 0u);
  // On the objects when trusted.* works (no inode spent), else in the map.
  EXPECT_EQ(unittest::ListDir(P("origins")).size(), store_.on_objects ? 0u : 2u);
}

TEST_F(CopyUpTest, DirectoryWithoutItsChildren) {
  WriteFile(P("lower/d/child"), "c");
  MakeDirs(P("lower/d/sub"));
  ASSERT_EQ(::chmod(P("lower/d").c_str(), 0710), 0);
  ASSERT_EQ(::chown(P("lower/d").c_str(), 42, 43), 0);
  SetXattr(P("lower/d"), "user.tag", "dir");
  SetXattr(P("lower/d"), "trusted.overlay.opaque", "y");  // private: stays below
  SetTimes(P("lower/d"), 1100000000, 1, 1100000001, 2);
  auto r = CopyUpName("d");
  ASSERT_TRUE(r.ok()) << std::strerror(r.error());
  ExpectSameMeta("d");
  EXPECT_TRUE(unittest::ListDir(P("upper/d")).empty());
  EXPECT_EQ(GetXattr(P("upper/d"), "user.tag"), "dir");
  EXPECT_EQ(GetXattr(P("upper/d"), "trusted.overlay.opaque"), std::nullopt);
  // The returned fd is a directory fd on the new upper directory.
  struct stat st;
  ASSERT_EQ(::fstat(r->fd.get(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_ino, Lstat(P("upper/d")).st_ino);
}

TEST_F(CopyUpTest, SymlinkFifoAndDevice) {
  unittest::MakeSymlink("../somewhere/else", P("lower/link"));
  ASSERT_EQ(::lchown(P("lower/link").c_str(), 7, 8), 0);
  SetTimes(P("lower/link"), 1000, 5, 2000, 6);
  unittest::MakeFifo(P("lower/fifo"));
  ASSERT_EQ(::chown(P("lower/fifo").c_str(), 9, 10), 0);
  unittest::MakeCharDevice(P("lower/null"), 1, 3);
  for (const char* n : {"link", "fifo", "null"}) {
    SCOPED_TRACE(n);
    auto r = CopyUpName(n);
    ASSERT_TRUE(r.ok()) << std::strerror(r.error());
    ExpectSameMeta(n);
  }
  char target[64] = {};
  ASSERT_GT(::readlink(P("upper/link").c_str(), target, sizeof target - 1), 0);
  EXPECT_STREQ(target, "../somewhere/else");
  EXPECT_TRUE(S_ISFIFO(Lstat(P("upper/fifo")).st_mode));
  EXPECT_EQ(Lstat(P("upper/null")).st_rdev, makedev(1, 3));
  EXPECT_TRUE(unittest::ListDir(P("work")).empty());
}

TEST_F(CopyUpTest, NeverReplacesAnExistingUpperObject) {
  WriteFile(P("lower/f"), "lower");
  WriteFile(P("upper/f"), "already here");
  auto r = CopyUpName("f");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error(), EEXIST);
  EXPECT_EQ(unittest::ReadFile(P("upper/f")), "already here");
  // The half-built copy does not linger in the work directory.
  EXPECT_TRUE(unittest::ListDir(P("work")).empty());
}

TEST_F(CopyUpTest, ApplyOwnerModeTimesDoesNotFollowSymlinks) {
  WriteFile(P("work/target"), "t", 0600);
  unittest::MakeSymlink(P("work/target"), P("work/link"));
  struct stat want = Lstat(P("work/link"));
  want.st_uid = 55;
  want.st_gid = 66;
  want.st_mode = S_IFLNK | 0777;
  want.st_mtim = {1234, 0};
  want.st_atim = {1234, 0};
  ASSERT_TRUE(ApplyOwnerModeTimes(work_.get(), "link", want).ok());
  struct stat link = Lstat(P("work/link"));
  struct stat target = Lstat(P("work/target"));
  EXPECT_EQ(link.st_uid, 55u);
  EXPECT_EQ(link.st_mtim.tv_sec, 1234);
  EXPECT_EQ(target.st_uid, 0u);
  EXPECT_EQ(target.st_mode & 07777, 0600u);
  EXPECT_NE(target.st_mtim.tv_sec, 1234);
}

}  // namespace
}  // namespace strata::copyup
