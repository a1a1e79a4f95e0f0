// Whiteout and opaque-directory codec: every on-disk form is read, the
// kernel's form is written (DESIGN.md §2).
#include "fs/layer/whiteout.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/sysmacros.h>

#include "fs/sys/syscalls.h"
#include "tests/unit/layer_fixture.h"

namespace strata::layer {
namespace {

using unittest::GetXattr;
using unittest::Lstat;
using unittest::TempDir;

UniqueFd OpenDir(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  EXPECT_TRUE(fd.valid()) << path;
  return fd;
}

class WhiteoutTest : public ::testing::Test {
 protected:
  std::string P(std::string_view rel) const { return dir_ / rel; }
  DirMarkers Markers(std::string_view rel) {
    auto fd = OpenDir(P(rel));
    auto m = ReadDirMarkers(fd.get());
    EXPECT_TRUE(m.ok()) << std::strerror(m.error());
    return m.ok() ? *m : DirMarkers{};
  }
  TempDir dir_;
};

TEST_F(WhiteoutTest, OnlyCharDevice00IsADeviceWhiteout) {
  unittest::MakeDeviceWhiteout(P("wh"));
  unittest::MakeCharDevice(P("null"), 1, 3);
  unittest::MakeCharDevice(P("minor"), 0, 1);
  unittest::WriteFile(P("file"));
  ASSERT_EQ(::mknod(P("blk").c_str(), S_IFBLK | 0600, makedev(0, 0)), 0);
  unittest::MakeFifo(P("fifo"));

  EXPECT_TRUE(IsDeviceWhiteout(Lstat(P("wh"))));
  EXPECT_FALSE(IsDeviceWhiteout(Lstat(P("null"))));
  EXPECT_FALSE(IsDeviceWhiteout(Lstat(P("minor"))));
  EXPECT_FALSE(IsDeviceWhiteout(Lstat(P("file"))));
  EXPECT_FALSE(IsDeviceWhiteout(Lstat(P("blk"))));
  EXPECT_FALSE(IsDeviceWhiteout(Lstat(P("fifo"))));
}

TEST_F(WhiteoutTest, WhiteoutFileNames) {
  EXPECT_TRUE(IsWhiteoutFileName(".wh.foo"));
  EXPECT_TRUE(IsWhiteoutFileName(".wh..wh..opq"));
  EXPECT_FALSE(IsWhiteoutFileName("foo"));
  EXPECT_FALSE(IsWhiteoutFileName(".whfoo"));
  EXPECT_FALSE(IsWhiteoutFileName("a.wh.foo"));
  EXPECT_FALSE(IsWhiteoutFileName(".wh"));
}

TEST_F(WhiteoutTest, PlainDirectoryHasNoMarkers) {
  unittest::MakeDirs(P("d"));
  unittest::SetXattr(P("d"), "user.other", "y");
  DirMarkers m = Markers("d");
  EXPECT_FALSE(m.opaque);
  EXPECT_FALSE(m.xattr_whiteouts);
}

TEST_F(WhiteoutTest, EveryOpaqueXattrFormIsRead) {
  for (const char* x : {"trusted.overlay.opaque", "user.overlay.opaque", "user.fuseoverlayfs.opaque"}) {
    SCOPED_TRACE(x);
    std::string d = std::string("d-") + x;
    unittest::MakeDirs(P(d));
    unittest::SetXattr(P(d), x, "y");
    DirMarkers m = Markers(d);
    EXPECT_TRUE(m.opaque);
    EXPECT_FALSE(m.xattr_whiteouts);
  }
}

TEST_F(WhiteoutTest, OpaqueMarkerFileMakesItsDirectoryOpaque) {
  unittest::WriteFile(P("d/.wh..wh..opq"));
  EXPECT_TRUE(Markers("d").opaque);
}

TEST_F(WhiteoutTest, OtherOpaqueValuesAreNotOpaque) {
  // The kernel reads exactly one byte 'y'; anything else is not opaque.
  for (const char* v : {"n", "", "yes", "Y"}) {
    SCOPED_TRACE(std::string("value '") + v + "'");
    std::string d = std::string("d-") + (*v ? v : "empty");
    unittest::MakeDirs(P(d));
    unittest::SetXattr(P(d), "trusted.overlay.opaque", v);
    DirMarkers m = Markers(d);
    EXPECT_FALSE(m.opaque);
    EXPECT_FALSE(m.xattr_whiteouts);
  }
}

TEST_F(WhiteoutTest, OpaqueXIsNotOpaqueButMayHoldXattrWhiteouts) {
  for (const char* x : {"trusted.overlay.opaque", "user.overlay.opaque"}) {
    SCOPED_TRACE(x);
    std::string d = std::string("d-") + x;
    unittest::MakeDirs(P(d));
    unittest::SetXattr(P(d), x, "x");
    DirMarkers m = Markers(d);
    EXPECT_FALSE(m.opaque);
    EXPECT_TRUE(m.xattr_whiteouts);
  }
}

TEST_F(WhiteoutTest, OpaqueFoundAmongManyXattrs) {
  // More xattr names than fit a small listxattr buffer: the marker must still
  // be found.
  unittest::MakeDirs(P("d"));
  for (int i = 0; i < 30; ++i)  // ~1.3 KiB of names
    unittest::SetXattr(P("d"), "user.a-rather-long-attribute-name-number-" + std::to_string(i), "v");
  unittest::SetXattr(P("d"), "trusted.overlay.opaque", "y");
  EXPECT_TRUE(Markers("d").opaque);
}

TEST_F(WhiteoutTest, XattrMarkedWhiteouts) {
  unittest::MakeDirs(P("d"));
  unittest::WriteFile(P("d/trusted"));
  unittest::SetXattr(P("d/trusted"), "trusted.overlay.whiteout", "");
  unittest::WriteFile(P("d/user"));
  unittest::SetXattr(P("d/user"), "user.overlay.whiteout", "");
  unittest::WriteFile(P("d/nonempty"), "data");
  unittest::SetXattr(P("d/nonempty"), "trusted.overlay.whiteout", "");
  unittest::WriteFile(P("d/plain"));
  unittest::MakeDirs(P("d/dir"));
  unittest::SetXattr(P("d/dir"), "trusted.overlay.whiteout", "");
  auto fd = OpenDir(P("d"));
  auto is = [&](const char* name) { return IsXattrWhiteout(fd.get(), name, Lstat(P("d/") + name)); };
  EXPECT_TRUE(is("trusted"));
  EXPECT_TRUE(is("user"));
  EXPECT_FALSE(is("nonempty"));  // only a zero-size regular file qualifies
  EXPECT_FALSE(is("plain"));
  EXPECT_FALSE(is("dir"));
}

TEST_F(WhiteoutTest, XattrWhiteoutCheckDoesNotFollowSymlinks) {
  unittest::WriteFile(P("target"));
  unittest::SetXattr(P("target"), "trusted.overlay.whiteout", "");
  unittest::MakeSymlink(P("target"), P("d/link"));
  auto fd = OpenDir(P("d"));
  EXPECT_FALSE(IsXattrWhiteout(fd.get(), "link", Lstat(P("d/link"))));
}

TEST_F(WhiteoutTest, WhiteoutFileForAName) {
  unittest::WriteFile(P("d/.wh.gone"));
  unittest::WriteFile(P("d/kept"));
  auto fd = OpenDir(P("d"));
  EXPECT_TRUE(HasWhiteoutFile(fd.get(), "gone"));
  EXPECT_FALSE(HasWhiteoutFile(fd.get(), "kept"));
  EXPECT_FALSE(HasWhiteoutFile(fd.get(), "absent"));
}

TEST_F(WhiteoutTest, PrivateXattrs) {
  for (const char* x : {"trusted.overlay.opaque", "trusted.overlay.whiteout", "trusted.overlay.origin",
                        "user.overlay.opaque", "user.overlay.redirect", "user.strata.origin",
                        "user.strata.chunks", "user.fuseoverlayfs.opaque"})
    EXPECT_TRUE(IsPrivateXattr(x)) << x;
  for (const char* x : {"user.foo", "trusted.foo", "security.capability", "system.posix_acl_access",
                        "user.overlayfoo", "trusted.overlayx.y", "user.stratax", "user", ""})
    EXPECT_FALSE(IsPrivateXattr(x)) << x;
}

TEST_F(WhiteoutTest, MakeWhiteoutWritesACharDevice00) {
  unittest::MakeDirs(P("d"));
  auto fd = OpenDir(P("d"));
  ASSERT_TRUE(MakeWhiteout(fd.get(), "a", MarkerNamespace::kTrusted).ok());
  ASSERT_TRUE(MakeWhiteout(fd.get(), "b", MarkerNamespace::kUser).ok());
  for (const char* name : {"a", "b"}) {
    struct stat st = Lstat(P("d/") + name);
    EXPECT_TRUE(S_ISCHR(st.st_mode)) << name;
    EXPECT_EQ(st.st_rdev, makedev(0, 0)) << name;
  }
  // Nothing else: no `.wh.` files a kernel mount would list as junk.
  EXPECT_EQ(unittest::ListDir(P("d")), (std::vector<std::string>{"a", "b"}));
}

TEST_F(WhiteoutTest, MakeWhiteoutDoesNotReplace) {
  unittest::WriteFile(P("d/a"), "data");
  auto fd = OpenDir(P("d"));
  Status s = MakeWhiteout(fd.get(), "a", MarkerNamespace::kTrusted);
  EXPECT_EQ(s.error(), EEXIST);
  EXPECT_EQ(unittest::ReadFile(P("d/a")), "data");
}

TEST_F(WhiteoutTest, MakeWhiteoutViaReplacesAtomicallyThroughTheWorkDir) {
  unittest::WriteFile(P("d/file"), "data");
  unittest::MakeSymlink("/", P("d/link"));
  unittest::MakeDirs(P("work"));
  auto fd = OpenDir(P("d"));
  auto work = OpenDir(P("work"));
  for (const char* name : {"file", "link", "fresh"}) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(MakeWhiteoutVia(work.get(), fd.get(), name, MarkerNamespace::kTrusted).ok());
    EXPECT_TRUE(IsDeviceWhiteout(Lstat(P("d/") + name)));
  }
  // Nothing left in the work directory but the shared whiteout they link to.
  EXPECT_EQ(unittest::ListDir(P("work")), (std::vector<std::string>{"#whiteout"}));
  EXPECT_EQ(unittest::ListDir(P("d")), (std::vector<std::string>{"file", "fresh", "link"}));
  EXPECT_EQ(Lstat(P("work/#whiteout")).st_nlink, 4u);
}

TEST_F(WhiteoutTest, WhiteoutsShareOneInodeThroughTheWorkDir) {
  unittest::MakeDirs(P("d"));
  unittest::MakeDirs(P("work"));
  auto fd = OpenDir(P("d"));
  auto work = OpenDir(P("work"));
  for (const char* name : {"a", "b", "c"})
    ASSERT_TRUE(MakeWhiteout(fd.get(), name, MarkerNamespace::kTrusted, work.get()).ok());
  for (const char* name : {"a", "b", "c"}) {
    EXPECT_TRUE(IsDeviceWhiteout(Lstat(P("d/") + name))) << name;
    EXPECT_EQ(Lstat(P("d/") + name).st_ino, Lstat(P("work/#whiteout")).st_ino) << name;
  }
  // An existing name is never replaced, shared or not.
  unittest::WriteFile(P("d/e"), "data");
  EXPECT_EQ(MakeWhiteout(fd.get(), "e", MarkerNamespace::kTrusted, work.get()).error(), EEXIST);
  EXPECT_EQ(unittest::ReadFile(P("d/e")), "data");
  // The shared one gone (a remount empties the work directory): made anew.
  ASSERT_EQ(::unlink(P("work/#whiteout").c_str()), 0);
  ASSERT_TRUE(MakeWhiteout(fd.get(), "f", MarkerNamespace::kTrusted, work.get()).ok());
  EXPECT_TRUE(IsDeviceWhiteout(Lstat(P("d/f"))));
  EXPECT_EQ(Lstat(P("d/f")).st_ino, Lstat(P("work/#whiteout")).st_ino);
}

TEST_F(WhiteoutTest, SetOpaqueWritesTheKernelXattrOnly) {
  unittest::MakeDirs(P("t"));
  unittest::MakeDirs(P("u"));
  auto t = OpenDir(P("t"));
  auto u = OpenDir(P("u"));
  ASSERT_TRUE(SetOpaque(t.get(), MarkerNamespace::kTrusted).ok());
  ASSERT_TRUE(SetOpaque(u.get(), MarkerNamespace::kUser).ok());
  EXPECT_EQ(GetXattr(P("t"), "trusted.overlay.opaque"), "y");
  EXPECT_EQ(GetXattr(P("t"), "user.overlay.opaque"), std::nullopt);
  EXPECT_EQ(GetXattr(P("u"), "user.overlay.opaque"), "y");
  // No `.wh..wh..opq` next to the xattr (a kernel mount would list it).
  EXPECT_TRUE(unittest::ListDir(P("t")).empty());
  EXPECT_TRUE(unittest::ListDir(P("u")).empty());
  // And the reader agrees.
  EXPECT_TRUE(Markers("t").opaque);
  EXPECT_TRUE(Markers("u").opaque);
}

}  // namespace
}  // namespace strata::layer
