// Syscall wrappers: confinement of path walks (no "..", no absolute paths, no
// symlinks), xattrs on O_PATH fds without following, directory reading.
#include "fs/sys/syscalls.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/xattr.h>

#include <algorithm>
#include <map>
#include <set>

#include "tests/unit/layer_fixture.h"

namespace strata::sys {
namespace {

using unittest::MakeDirs;
using unittest::MakeSymlink;
using unittest::WriteFile;

class SyscallsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(P("root/a/b/file"), "content");
    WriteFile(P("outside"), "secret");
    root_ = UniqueFd(::open(P("root").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_.valid());
  }
  std::string P(std::string_view rel) const { return dir_ / rel; }
  UniqueFd OPath(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    EXPECT_TRUE(fd.valid()) << path;
    return fd;
  }

  unittest::TempDir dir_;
  UniqueFd root_;
};

TEST_F(SyscallsTest, OpenBeneathOpensPathsInside) {
  auto fd = OpenBeneath(root_.get(), "a/b/file", O_RDONLY);
  ASSERT_TRUE(fd.ok()) << std::strerror(fd.error());
  char buf[16];
  EXPECT_EQ(::read(fd->get(), buf, sizeof buf), 7);
  EXPECT_TRUE(OpenBeneath(root_.get(), "a/./b/../b/file", O_RDONLY).ok());
}

TEST_F(SyscallsTest, OpenBeneathRefusesToLeave) {
  const std::string absolute = P("outside");
  for (const char* p : {"../outside", "a/../../outside", "/etc/passwd", absolute.c_str()}) {
    auto fd = OpenBeneath(root_.get(), p, O_RDONLY);
    EXPECT_FALSE(fd.ok()) << p;
    EXPECT_EQ(fd.error(), EXDEV) << p;
  }
}

TEST_F(SyscallsTest, OpenBeneathRefusesSymlinks) {
  MakeSymlink("/", P("root/etc"));
  MakeSymlink("b", P("root/a/inner"));  // even one that stays inside
  MakeSymlink("../outside", P("root/up"));
  for (const char* p : {"etc/passwd", "a/inner/file", "up"}) {
    auto fd = OpenBeneath(root_.get(), p, O_RDONLY);
    EXPECT_FALSE(fd.ok()) << p;
    EXPECT_EQ(fd.error(), ELOOP) << p;
  }
  // With O_PATH | O_NOFOLLOW the trailing link itself is returned.
  auto fd = OpenBeneath(root_.get(), "a/inner", O_PATH | O_NOFOLLOW);
  ASSERT_TRUE(fd.ok()) << std::strerror(fd.error());
  auto st = StatFd(fd->get());
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(S_ISLNK(st->st_mode));
}

TEST_F(SyscallsTest, OpenBeneathCreates) {
  auto fd = OpenBeneath(root_.get(), "a/new", O_WRONLY | O_CREAT | O_EXCL, 0640);
  ASSERT_TRUE(fd.ok()) << std::strerror(fd.error());
  // No permission beyond the requested ones (the umask may remove some).
  EXPECT_EQ(unittest::Lstat(P("root/a/new")).st_mode & 0777 & ~0640u, 0u);
}

TEST_F(SyscallsTest, OpenAtNeverFollowsTheName) {
  MakeSymlink("a/b/file", P("root/link"));
  auto fd = OpenAt(root_.get(), "link", O_RDONLY);
  EXPECT_FALSE(fd.ok());
  EXPECT_EQ(fd.error(), ELOOP);
  fd = OpenAt(root_.get(), "link", O_PATH);
  ASSERT_TRUE(fd.ok());
  EXPECT_TRUE(S_ISLNK(StatFd(fd->get())->st_mode));
  EXPECT_EQ(*ReadLinkFd(fd->get()), "a/b/file");
  EXPECT_TRUE(S_ISLNK(StatAt(root_.get(), "link")->st_mode));
  EXPECT_FALSE(StatAt(root_.get(), "missing").ok());
}

TEST_F(SyscallsTest, ReadLinkFdLongTarget) {
  std::string target(1000, 'x');
  MakeSymlink(target, P("root/long"));
  auto fd = OpenAt(root_.get(), "long", O_PATH);
  ASSERT_TRUE(fd.ok());
  EXPECT_EQ(*ReadLinkFd(fd->get()), target);
}

TEST_F(SyscallsTest, ReopenGivesRealAccess) {
  auto path = OpenAt(root_.get(), "a", O_PATH);
  ASSERT_TRUE(path.ok());
  auto opath = OpenBeneath(root_.get(), "a/b/file", O_PATH);
  ASSERT_TRUE(opath.ok());
  auto rd = Reopen(opath->get(), O_RDONLY);
  ASSERT_TRUE(rd.ok()) << std::strerror(rd.error());
  char buf[16];
  EXPECT_EQ(::read(rd->get(), buf, sizeof buf), 7);
}

TEST_F(SyscallsTest, XattrsOnOPathFdsOfFilesAndDirectories) {
  for (const char* rel : {"root/a/b/file", "root/a"}) {
    SCOPED_TRACE(rel);
    UniqueFd fd = OPath(P(rel));
    ASSERT_TRUE(SetXattr(fd.get(), "user.k", "v1", 0).ok());
    EXPECT_EQ(*GetXattr(fd.get(), "user.k"), "v1");
    EXPECT_EQ(*GetXattrSize(fd.get(), "user.k"), 2);
    EXPECT_EQ(SetXattr(fd.get(), "user.k", "v2", XATTR_CREATE).error(), EEXIST);
    EXPECT_EQ(SetXattr(fd.get(), "user.none", "v", XATTR_REPLACE).error(), ENODATA);
    ASSERT_TRUE(SetXattr(fd.get(), "trusted.t", "", 0).ok());
    EXPECT_EQ(*GetXattr(fd.get(), "trusted.t"), "");
    auto names = ListXattrs(fd.get());
    ASSERT_TRUE(names.ok());
    std::set<std::string> set(names->begin(), names->end());
    EXPECT_TRUE(set.count("user.k"));
    EXPECT_TRUE(set.count("trusted.t"));
    ASSERT_TRUE(RemoveXattr(fd.get(), "user.k").ok());
    EXPECT_EQ(GetXattr(fd.get(), "user.k").error(), ENODATA);
    EXPECT_EQ(RemoveXattr(fd.get(), "user.k").error(), ENODATA);
    EXPECT_EQ(unittest::GetXattr(P(rel), "user.k"), std::nullopt);
  }
}

TEST_F(SyscallsTest, XattrsOnASymlinkNeverFollowIt) {
  unittest::SetXattr(P("root/a/b/file"), "trusted.target", "target's");
  MakeSymlink("a/b/file", P("root/link"));
  auto fd = OpenAt(root_.get(), "link", O_PATH);
  ASSERT_TRUE(fd.ok());
  // The link's own attributes, not its target's.
  EXPECT_EQ(GetXattr(fd->get(), "trusted.target").error(), ENODATA);
  ASSERT_TRUE(SetXattr(fd->get(), "trusted.link", "mine", 0).ok());
  EXPECT_EQ(*GetXattr(fd->get(), "trusted.link"), "mine");
  EXPECT_EQ(unittest::GetXattr(P("root/link"), "trusted.link"), "mine");
  EXPECT_EQ(unittest::GetXattr(P("root/a/b/file"), "trusted.link"), std::nullopt);
  auto names = ListXattrs(fd->get());
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(std::count(names->begin(), names->end(), "trusted.target"), 0);
  EXPECT_EQ(std::count(names->begin(), names->end(), "trusted.link"), 1);
  // user.* is not allowed on symlinks; the error comes back, nothing follows.
  EXPECT_FALSE(SetXattr(fd->get(), "user.x", "v", 0).ok());
  EXPECT_EQ(unittest::GetXattr(P("root/a/b/file"), "user.x"), std::nullopt);
  ASSERT_TRUE(RemoveXattr(fd->get(), "trusted.link").ok());
  EXPECT_EQ(unittest::GetXattr(P("root/link"), "trusted.link"), std::nullopt);
  EXPECT_EQ(unittest::GetXattr(P("root/a/b/file"), "trusted.target"), "target's");
}

TEST_F(SyscallsTest, ChmodFdOnAnOPathFd) {
  UniqueFd fd = OPath(P("root/a/b/file"));
  ASSERT_TRUE(ChmodFd(fd.get(), 04751).ok());
  struct stat st;
  ASSERT_EQ(::stat(P("root/a/b/file").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04751u);
}

TEST_F(SyscallsTest, UtimensFdSetsTheObjectsOwnTimes) {
  MakeSymlink("b/file", P("root/a/link"));
  struct stat target_before;
  ASSERT_EQ(::stat(P("root/a/b/file").c_str(), &target_before), 0);
  const struct timespec times[2] = {{1000000000, 5}, {1200000000, 7}};
  UniqueFd link = OPath(P("root/a/link"));
  ASSERT_TRUE(UtimensFd(link.get(), times).ok());
  struct stat st;
  ASSERT_EQ(::lstat(P("root/a/link").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1200000000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 7);
  ASSERT_EQ(::stat(P("root/a/b/file").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, target_before.st_mtim.tv_sec) << "followed the symlink";

  UniqueFd file = OPath(P("root/a/b/file"));
  ASSERT_TRUE(UtimensFd(file.get(), times).ok());
  ASSERT_EQ(::stat(P("root/a/b/file").c_str(), &st), 0);
  EXPECT_EQ(st.st_atim.tv_sec, 1000000000);
  EXPECT_EQ(st.st_mtim.tv_sec, 1200000000);
  const struct timespec bad[2] = {{0, 2000000000}, {0, 0}};
  EXPECT_EQ(UtimensFd(file.get(), bad).error(), EINVAL);
}

TEST_F(SyscallsTest, SpliceCopyAcrossFilesystemsWithOffsets) {
  MakeDirs(P("other"));
  unittest::TmpfsMount other(P("other"));
  ASSERT_TRUE(other.mounted());
  std::string content(3 * 1024 * 1024 + 123, '\0');  // more than a pipe holds
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>('A' + i % 37);
  WriteFile(P("src"), content);
  UniqueFd in(::open(P("src").c_str(), O_RDONLY | O_CLOEXEC));
  UniqueFd out(::open(P("other/dst").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(in.valid() && out.valid());
  // From offset 100 of the source to offset 10 of the destination, asking
  // for more than is left: the copy is short by what the source lacks.
  loff_t off_in = 100, off_out = 10;
  auto n = SpliceCopy(in.get(), &off_in, out.get(), &off_out, content.size());
  ASSERT_TRUE(n.ok()) << std::strerror(n.error());
  EXPECT_EQ(*n, content.size() - 100);
  EXPECT_EQ(off_in, static_cast<loff_t>(content.size()));
  EXPECT_EQ(off_out, static_cast<loff_t>(10 + content.size() - 100));
  const std::string copied = unittest::ReadFile(P("other/dst"));
  ASSERT_EQ(copied.size(), 10 + content.size() - 100);
  EXPECT_EQ(copied.substr(0, 10), std::string(10, '\0'));
  EXPECT_TRUE(copied.substr(10) == content.substr(100));
  // At the end of the source: nothing, no error.
  n = SpliceCopy(in.get(), &off_in, out.get(), &off_out, 4096);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  // A destination that cannot be written: the error, and the pipe is usable after.
  UniqueFd read_only(::open(P("other/dst").c_str(), O_RDONLY | O_CLOEXEC));
  off_in = 0;
  off_out = 0;
  n = SpliceCopy(in.get(), &off_in, read_only.get(), &off_out, 4096);
  EXPECT_FALSE(n.ok());
  off_in = 0;
  off_out = 0;
  n = SpliceCopy(in.get(), &off_in, out.get(), &off_out, 5);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 5u);
  EXPECT_EQ(unittest::ReadFile(P("other/dst")).substr(0, 5), content.substr(0, 5));
}

// The *xattrat forms (Linux 6.13) act on (dirfd, name): on a file as the
// f*xattr calls do, and on a symlink itself, never on its target.
TEST_F(SyscallsTest, XattrsByNameNeverFollowASymlink) {
  UniqueFd b(::open(P("root/a/b").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(b.valid());
  ASSERT_TRUE(SetXattrAt(b.get(), "file", "user.k", "v1", 0).ok());
  EXPECT_EQ(unittest::GetXattr(P("root/a/b/file"), "user.k"), "v1");
  EXPECT_EQ(SetXattrAt(b.get(), "file", "user.k", "v2", XATTR_CREATE).error(), EEXIST);
  EXPECT_EQ(SetXattrAt(b.get(), "file", "user.none", "v", XATTR_REPLACE).error(), ENODATA);
  char names[256];
  auto n = ListXattrAt(b.get(), "file", names, sizeof names);
  ASSERT_TRUE(n.ok());
  EXPECT_NE(std::string(names, static_cast<size_t>(*n)).find("user.k"), std::string::npos);
  ASSERT_TRUE(RemoveXattrAt(b.get(), "file", "user.k").ok());
  EXPECT_EQ(unittest::GetXattr(P("root/a/b/file"), "user.k"), std::nullopt);
  EXPECT_EQ(RemoveXattrAt(b.get(), "file", "user.k").error(), ENODATA);
  EXPECT_EQ(SetXattrAt(b.get(), "missing", "user.k", "v", 0).error(), ENOENT);

  MakeSymlink("file", P("root/a/b/link"));
  ASSERT_TRUE(SetXattrAt(b.get(), "link", "trusted.link", "mine", 0).ok());
  EXPECT_EQ(unittest::GetXattr(P("root/a/b/link"), "trusted.link"), "mine");
  EXPECT_EQ(unittest::GetXattr(P("root/a/b/file"), "trusted.link"), std::nullopt);
  EXPECT_FALSE(SetXattrAt(b.get(), "link", "user.x", "v", 0).ok());  // not on symlinks
  EXPECT_EQ(unittest::GetXattr(P("root/a/b/file"), "user.x"), std::nullopt);
  ASSERT_TRUE(RemoveXattrAt(b.get(), "link", "trusted.link").ok());
  EXPECT_EQ(unittest::GetXattr(P("root/a/b/link"), "trusted.link"), std::nullopt);
}

TEST_F(SyscallsTest, RawXattrCallsReportSizes) {
  unittest::SetXattr(P("root/a"), "user.long", std::string(100, 'z'));
  UniqueFd fd = OPath(P("root/a"));
  EXPECT_EQ(*GetXattrRaw(fd.get(), "user.long", nullptr, 0), 100);
  char small[10];
  EXPECT_EQ(GetXattrRaw(fd.get(), "user.long", small, sizeof small).error(), ERANGE);
  auto list = ListXattrRaw(fd.get(), nullptr, 0);
  ASSERT_TRUE(list.ok());
  EXPECT_GE(*list, static_cast<ssize_t>(sizeof "user.long"));
}

TEST_F(SyscallsTest, ReadDirListsNamesTypesAndInodes) {
  MakeDirs(P("root/d/sub"));
  WriteFile(P("root/d/file"));
  MakeSymlink("x", P("root/d/link"));
  unittest::MakeFifo(P("root/d/fifo"));
  unittest::MakeDeviceWhiteout(P("root/d/wh"));
  UniqueFd d(::open(P("root/d").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  auto entries = ReadDir(d.get());
  ASSERT_TRUE(entries.ok());
  std::map<std::string, DirEntry> m;
  for (auto& e : *entries) m.emplace(e.name, e);
  EXPECT_EQ(m.size(), 5u);
  EXPECT_FALSE(m.count("."));
  EXPECT_FALSE(m.count(".."));
  EXPECT_EQ(m["sub"].type, DT_DIR);
  EXPECT_EQ(m["file"].type, DT_REG);
  EXPECT_EQ(m["link"].type, DT_LNK);
  EXPECT_EQ(m["fifo"].type, DT_FIFO);
  EXPECT_EQ(m["wh"].type, DT_CHR);
  for (auto& [name, e] : m) EXPECT_EQ(e.ino, unittest::Lstat(P("root/d/") + name).st_ino) << name;
}

TEST_F(SyscallsTest, ReadDirLargeDirectoryAndRepeatable) {
  for (int i = 0; i < 1500; ++i)
    WriteFile(P("root/big/a-fairly-long-file-name-to-fill-buffers-" + std::to_string(i)));
  UniqueFd d(::open(P("root/big").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  auto first = ReadDir(d.get());
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->size(), 1500u);
  std::set<std::string> names;
  for (auto& e : *first) names.insert(e.name);
  EXPECT_EQ(names.size(), 1500u);
  // The caller's fd offset is untouched: a second call sees everything again.
  auto second = ReadDir(d.get());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->size(), 1500u);
}

TEST_F(SyscallsTest, ReadDirOfAnEmptyDirectory) {
  MakeDirs(P("root/empty"));
  UniqueFd d(::open(P("root/empty").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  auto entries = ReadDir(d.get());
  ASSERT_TRUE(entries.ok());
  EXPECT_TRUE(entries->empty());
}

TEST_F(SyscallsTest, RenameAt2Flags) {
  WriteFile(P("root/x"), "x");
  WriteFile(P("root/y"), "y");
  EXPECT_EQ(RenameAt2(root_.get(), "x", root_.get(), "y", RENAME_NOREPLACE).error(), EEXIST);
  ASSERT_TRUE(RenameAt2(root_.get(), "x", root_.get(), "y", RENAME_EXCHANGE).ok());
  EXPECT_EQ(unittest::ReadFile(P("root/x")), "y");
  EXPECT_EQ(unittest::ReadFile(P("root/y")), "x");
  ASSERT_TRUE(RenameAt2(root_.get(), "x", root_.get(), "z", 0).ok());
  EXPECT_FALSE(unittest::Exists(P("root/x")));
}

TEST_F(SyscallsTest, PwriteAll) {
  WriteFile(P("root/w"));
  UniqueFd fd(::open(P("root/w").c_str(), O_WRONLY | O_CLOEXEC));
  std::string data(200000, 'q');
  ASSERT_TRUE(PwriteAll(fd.get(), data.data(), data.size(), 10).ok());
  std::string back = unittest::ReadFile(P("root/w"));
  ASSERT_EQ(back.size(), 200010u);
  EXPECT_EQ(back.substr(10), data);
  EXPECT_EQ(back.substr(0, 10), std::string(10, '\0'));
}

TEST_F(SyscallsTest, IsPlainName) {
  EXPECT_TRUE(IsPlainName("a"));
  EXPECT_TRUE(IsPlainName("..."));
  EXPECT_TRUE(IsPlainName(".hidden"));
  for (std::string_view bad : {std::string_view(""), std::string_view("."), std::string_view(".."),
                               std::string_view("a/b"), std::string_view("/"),
                               std::string_view("a\0", 2)})
    EXPECT_FALSE(IsPlainName(bad)) << "'" << bad << "'";
}

}  // namespace
}  // namespace strata::sys
