// Resolver: one name of a merged directory across the layers, top down, with
// kernel overlayfs's rules (DESIGN.md §3) and never leaving the layers.
#include "fs/layer/resolver.h"

#include "fs/layer/origin_map.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdint>

#include "fs/sys/syscalls.h"
#include "tests/unit/layer_fixture.h"

namespace strata::layer {
namespace {

using unittest::MakeDeviceWhiteout;
using unittest::MakeDirs;
using unittest::MakeSymlink;
using unittest::SetXattr;
using unittest::WriteFile;

class ResolverTest : public unittest::LayerTest {
 protected:
  void SetUp() override { SetUpLayers(3); }

  // Resolves and expects the name to exist; returns the top layer (-1 if not).
  int LayerOf(std::string_view path) {
    auto r = ResolvePath(path);
    EXPECT_TRUE(r.ok()) << path << ": " << std::strerror(r.error());
    if (!r.ok() || !r->has_value()) return -1;
    return (*r)->layer;
  }
  bool Visible(std::string_view path) {
    auto r = ResolvePath(path);
    EXPECT_TRUE(r.ok()) << path << ": " << std::strerror(r.error());
    return r.ok() && r->has_value();
  }
  // Layers of the directory instances that merge at `path`, top first.
  std::vector<int> DirLayers(std::string_view path) {
    std::vector<int> out;
    auto r = ResolvePath(path);
    EXPECT_TRUE(r.ok() && r->has_value()) << path;
    if (r.ok() && r->has_value())
      for (const auto& d : (*r)->dirs) out.push_back(d.layer);
    return out;
  }
  // Content of the object `path` resolves to, read from its top layer.
  std::string ContentOf(std::string_view path) {
    auto r = ResolvePath(path);
    if (!r.ok() || !r->has_value()) return "<absent>";
    return unittest::ReadFile(stack().at(static_cast<size_t>((*r)->layer)).path + "/" +
                              std::string(path));
  }
};

TEST_F(ResolverTest, TopmostLayerWins) {
  WriteFile(Lower(0, "f"), "l0");
  WriteFile(Lower(1, "f"), "l1");
  WriteFile(Lower(2, "f"), "l2");
  WriteFile(Lower(2, "only2"), "l2");
  WriteFile(Lower(1, "g"), "l1");
  WriteFile(Upper("g"), "up");
  OpenStack();
  EXPECT_EQ(LayerOf("f"), LowerIndex(0));
  EXPECT_EQ(ContentOf("f"), "l0");
  EXPECT_EQ(LayerOf("only2"), LowerIndex(2));
  EXPECT_EQ(LayerOf("g"), LayerStack::kUpper);
  EXPECT_EQ(ContentOf("g"), "up");
  EXPECT_FALSE(Visible("absent"));
}

TEST_F(ResolverTest, ReadOnlyStackNumbersLowersFromZero) {
  WriteFile(Lower(1, "f"), "l1");
  OpenStack(/*with_upper=*/false);
  EXPECT_FALSE(stack().has_upper());
  EXPECT_EQ(LayerOf("f"), 1);
}

TEST_F(ResolverTest, DeviceWhiteoutStopsLookup) {
  WriteFile(Lower(2, "a"));
  MakeDeviceWhiteout(Lower(1, "a"));
  WriteFile(Lower(2, "b"));
  MakeDeviceWhiteout(Upper("b"));
  MakeDirs(Lower(2, "d/x"));
  MakeDeviceWhiteout(Lower(0, "d"));
  OpenStack();
  EXPECT_FALSE(Visible("a"));
  EXPECT_FALSE(Visible("b"));
  EXPECT_FALSE(Visible("d"));
  EXPECT_FALSE(Visible("d/x"));
}

TEST_F(ResolverTest, WhiteoutAboveOnlyHidesLayersBelowIt) {
  MakeDeviceWhiteout(Lower(2, "a"));  // at the bottom: hides nothing above
  WriteFile(Lower(0, "a"), "l0");
  OpenStack();
  EXPECT_EQ(LayerOf("a"), LowerIndex(0));
}

TEST_F(ResolverTest, OtherCharDevicesAreObjects) {
  unittest::MakeCharDevice(Lower(0, "null"), 1, 3);
  WriteFile(Lower(1, "null"), "hidden");
  OpenStack();
  auto r = ResolvePath("null");
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_TRUE(S_ISCHR((*r)->st.st_mode));
  EXPECT_EQ((*r)->layer, LowerIndex(0));
}

TEST_F(ResolverTest, WhiteoutFileHidesNameInLayersBelowOnly) {
  WriteFile(Lower(2, "a"), "l2");
  WriteFile(Lower(1, ".wh.a"));
  WriteFile(Lower(2, "b"), "l2");
  WriteFile(Lower(0, ".wh.b"));
  WriteFile(Upper("b"), "up");  // re-created above the whiteout
  OpenStack();
  EXPECT_FALSE(Visible("a"));
  EXPECT_EQ(LayerOf("b"), LayerStack::kUpper);
  EXPECT_EQ(ContentOf("b"), "up");
}

TEST_F(ResolverTest, WhiteoutFileNextToTheNameInTheSameLayer) {
  // An OCI layer that deletes NAME and re-creates it: NAME comes from that
  // layer, and nothing below it merges.
  WriteFile(Lower(2, "f"), "l2");
  WriteFile(Lower(1, ".wh.f"));
  WriteFile(Lower(1, "f"), "l1");
  MakeDirs(Lower(2, "d/old"));
  WriteFile(Lower(1, ".wh.d"));
  MakeDirs(Lower(1, "d/new"));
  OpenStack();
  EXPECT_EQ(LayerOf("f"), LowerIndex(1));
  EXPECT_EQ(ContentOf("f"), "l1");
  EXPECT_EQ(DirLayers("d"), std::vector<int>{LowerIndex(1)});
  EXPECT_TRUE(Visible("d/new"));
  EXPECT_FALSE(Visible("d/old"));
}

TEST_F(ResolverTest, XattrWhiteoutsInAnXDirectory) {
  for (const char* x : {"trusted.overlay.whiteout", "user.overlay.whiteout"}) {
    SCOPED_TRACE(x);
    std::string d = std::string("d-") + x;
    WriteFile(Lower(2, d + "/gone"), "l2");
    WriteFile(Lower(2, d + "/kept"), "l2");
    WriteFile(Lower(1, d + "/gone"));
    SetXattr(Lower(1, d + "/gone"), x, "");
    SetXattr(Lower(1, d), "trusted.overlay.opaque", "x");
  }
  // Without the "x" marker on its directory, the same file is an ordinary file.
  WriteFile(Lower(2, "plain/f"), "l2");
  WriteFile(Lower(1, "plain/f"));
  SetXattr(Lower(1, "plain/f"), "trusted.overlay.whiteout", "");
  OpenStack();
  for (const char* x : {"trusted.overlay.whiteout", "user.overlay.whiteout"}) {
    SCOPED_TRACE(x);
    std::string d = std::string("d-") + x;
    EXPECT_FALSE(Visible(d + "/gone"));
    EXPECT_EQ(LayerOf(d + "/kept"), LowerIndex(2));
    // "x" is not opaque: the directory still merges with the one below.
    EXPECT_EQ(DirLayers(d), (std::vector<int>{LowerIndex(1), LowerIndex(2)}));
  }
  EXPECT_EQ(LayerOf("plain/f"), LowerIndex(1));
  EXPECT_EQ(ContentOf("plain/f"), "");
}

TEST_F(ResolverTest, NonDirectoryHidesEverythingBelow) {
  WriteFile(Lower(0, "x"), "file");
  MakeDirs(Lower(1, "x/sub"));
  MakeSymlink("target", Upper("y"));
  MakeDirs(Lower(0, "y/sub"));
  OpenStack();
  auto r = ResolvePath("x");
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_TRUE(S_ISREG((*r)->st.st_mode));
  EXPECT_TRUE((*r)->dirs.empty());
  EXPECT_EQ(ResolvePath("x/sub").error(), ENOTDIR);
  r = ResolvePath("y");
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_TRUE(S_ISLNK((*r)->st.st_mode));
  EXPECT_EQ((*r)->layer, LayerStack::kUpper);
}

TEST_F(ResolverTest, DirectoriesMergeTopFirst) {
  MakeDirs(Upper("d"));
  MakeDirs(Lower(0, "d"));
  MakeDirs(Lower(2, "d"));
  WriteFile(Lower(2, "d/bottom"));
  WriteFile(Lower(0, "d/middle"));
  WriteFile(Upper("d/top"));
  OpenStack();
  EXPECT_EQ(DirLayers("d"), (std::vector<int>{0, LowerIndex(0), LowerIndex(2)}));
  EXPECT_EQ(LayerOf("d/bottom"), LowerIndex(2));
  EXPECT_EQ(LayerOf("d/middle"), LowerIndex(0));
  EXPECT_EQ(LayerOf("d/top"), 0);
}

TEST_F(ResolverTest, MergeStopsAtANonDirectoryBelow) {
  MakeDirs(Upper("d"));
  WriteFile(Lower(0, "d"), "file");
  MakeDirs(Lower(1, "d"));
  WriteFile(Lower(1, "d/deep"));
  OpenStack();
  EXPECT_EQ(DirLayers("d"), std::vector<int>{0});
  EXPECT_FALSE(Visible("d/deep"));
}

TEST_F(ResolverTest, MergeStopsAtEveryFormOfOpaqueDirectory) {
  struct Form {
    const char* dir;
    const char* xattr;  // nullptr: a `.wh..wh..opq` file instead
  };
  const Form forms[] = {{"t", "trusted.overlay.opaque"},
                        {"u", "user.overlay.opaque"},
                        {"f", "user.fuseoverlayfs.opaque"},
                        {"m", nullptr}};
  for (const Form& f : forms) {
    std::string d = f.dir;
    WriteFile(Lower(2, d + "/below"));
    WriteFile(Lower(1, d + "/mid"));
    if (f.xattr)
      SetXattr(Lower(1, d), f.xattr, "y");
    else
      WriteFile(Lower(1, d + "/.wh..wh..opq"));
    WriteFile(Lower(0, d + "/top"));
  }
  OpenStack();
  for (const Form& f : forms) {
    SCOPED_TRACE(f.dir);
    std::string d = f.dir;
    EXPECT_EQ(DirLayers(d), (std::vector<int>{LowerIndex(0), LowerIndex(1)}));
    EXPECT_TRUE(Visible(d + "/top"));
    EXPECT_TRUE(Visible(d + "/mid"));
    EXPECT_FALSE(Visible(d + "/below"));
    EXPECT_FALSE(Visible(d + "/.wh..wh..opq"));
  }
}

TEST_F(ResolverTest, OpaqueTopDirectoryMergesNothing) {
  MakeDirs(Upper("d"));
  SetXattr(Upper("d"), "trusted.overlay.opaque", "y");
  WriteFile(Lower(0, "d/f"));
  OpenStack();
  EXPECT_EQ(DirLayers("d"), std::vector<int>{0});
  EXPECT_FALSE(Visible("d/f"));
}

TEST_F(ResolverTest, MetadataNamesNeverResolve) {
  WriteFile(Lower(0, ".wh.foo"));
  WriteFile(Lower(0, "d/.wh..wh..opq"));
  WriteFile(Upper(".wh.bar"));
  OpenStack();
  EXPECT_FALSE(Visible(".wh.foo"));
  EXPECT_FALSE(Visible(".wh.bar"));
  EXPECT_FALSE(Visible("d/.wh..wh..opq"));
  EXPECT_FALSE(Visible(".wh..wh..opq"));
}

TEST_F(ResolverTest, HostileNamesAreRejected) {
  MakeDirs(Lower(0, "a/b"));
  OpenStack();
  auto root = RootDirs();
  for (std::string_view name : {std::string_view(".."), std::string_view("."), std::string_view(""),
                                std::string_view("a/b"), std::string_view("/a"),
                                std::string_view("a/"), std::string_view("a\0b", 3)}) {
    auto r = Resolve(stack(), root, name);
    EXPECT_FALSE(r.ok()) << "'" << name << "'";
    EXPECT_EQ(r.error(), EINVAL) << "'" << name << "'";
  }
}

TEST_F(ResolverTest, SymlinkToRootIsNeverFollowed) {
  // A hostile layer: `etc -> /` and `up -> ..`. Resolve must see the links
  // themselves and never an object outside the layers.
  MakeSymlink("/", Lower(0, "etc"));
  MakeSymlink("..", Lower(0, "up"));
  MakeDirs(Lower(1, "etc"));
  OpenStack();
  auto r = ResolvePath("etc");
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_TRUE(S_ISLNK((*r)->st.st_mode));
  EXPECT_TRUE((*r)->dirs.empty());
  EXPECT_EQ((*r)->st.st_ino, InoOf(Lower(0, "etc"))) << "the link itself, not its target";
  EXPECT_EQ(ResolvePath("etc/passwd").error(), ENOTDIR);
  EXPECT_EQ(ResolvePath("up/lower1").error(), ENOTDIR);
}

TEST_F(ResolverTest, SymlinkBelowADirectoryEndsTheMerge) {
  // Upper has a real directory `etc`; the lower's `etc -> /etc` must not be
  // merged into it (that would list the host's /etc).
  MakeDirs(Upper("etc"));
  MakeSymlink("/etc", Lower(0, "etc"));
  OpenStack();
  EXPECT_EQ(DirLayers("etc"), std::vector<int>{0});
  EXPECT_FALSE(Visible("etc/passwd"));
  EXPECT_FALSE(Visible("etc/hostname"));
}

TEST_F(ResolverTest, OpenDirInstanceRefusesSymlinks) {
  MakeSymlink("/", Lower(0, "link"));
  OpenStack();
  auto inst = OpenDirInstance(LowerIndex(0), stack().at(LowerIndex(0)).root.get(), "link");
  EXPECT_FALSE(inst.ok());
}

TEST_F(ResolverTest, FirstLowerSkipsLowerLayersAboveIt) {
  WriteFile(Lower(0, "f"), "l0");
  WriteFile(Lower(1, "f"), "l1");
  WriteFile(Lower(0, "g"), "l0");
  WriteFile(Upper("g"), "up");
  OpenStack();
  auto root = RootDirs();
  auto r = Resolve(stack(), root, "f", LowerIndex(1));
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->layer, LowerIndex(1));
  // The upper can change at any time: it is always looked at.
  r = Resolve(stack(), root, "g", LowerIndex(1));
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->layer, 0);
}

TEST_F(ResolverTest, ReportedInodeNumbers) {
  WriteFile(Lower(1, "lowerfile"));
  MakeDirs(Upper("merged"));
  MakeDirs(Lower(1, "merged"));
  MakeDirs(Lower(2, "merged"));
  MakeDirs(Upper("pureupper"));
  WriteFile(Upper("plainupper"));
  WriteFile(Upper("copied"));
  MakeSymlink("t", Upper("copiedlink"));
  WriteFile(Lower(0, "lowerorigin"));
  WriteFile(Upper("badorigin"));
  OpenStack();
  // Copy-up records the number an object had below in WORKDIR/strata-origin.
  const ino_t origin = 0x1234567;
  const OriginStore& store = stack().origins();
  ASSERT_GE(store.map_fd, 0);
  auto record = [&](const std::string& p, const std::string& value) {
    UniqueFd obj(::open(p.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    ASSERT_TRUE(obj.valid());
    if (store.on_objects) {
      ASSERT_TRUE(sys::SetXattr(obj.get(), kOriginXattr, value, 0).ok());
    } else {  // rootless: the map in the work directory
      MakeSymlink(value, dir_ / ("work/" + std::string(kOriginDirName) + "/" +
                                 std::to_string(InoOf(p))));
    }
  };
  record(Upper("copied"), std::to_string(origin));
  record(Upper("copiedlink"), std::to_string(origin + 1));
  record(Lower(0, "lowerorigin"), std::to_string(origin + 2));
  record(Upper("badorigin"), "not-a-number");
  ASSERT_TRUE(stack().single_fs());
  auto ino = [&](std::string_view p) -> ino_t {
    auto r = ResolvePath(p);
    EXPECT_TRUE(r.ok() && r->has_value()) << p;
    return r.ok() && r->has_value() ? (*r)->ino : 0;
  };
  EXPECT_EQ(ino("lowerfile"), InoOf(Lower(1, "lowerfile")));
  // A directory reports its topmost lower instance's number.
  EXPECT_EQ(ino("merged"), InoOf(Lower(1, "merged")));
  EXPECT_EQ(ino("pureupper"), InoOf(Upper("pureupper")));
  EXPECT_EQ(ino("plainupper"), InoOf(Upper("plainupper")));
  // A copied-up upper object reports its recorded number (st_ino kept).
  EXPECT_EQ(ino("copied"), origin);
  EXPECT_EQ(ino("copiedlink"), origin + 1);
  // Only upper objects are looked up in the map; a malformed entry is ignored.
  EXPECT_EQ(ino("lowerorigin"), InoOf(Lower(0, "lowerorigin")));
  EXPECT_EQ(ino("badorigin"), InoOf(Upper("badorigin")));
}

TEST_F(ResolverTest, ResolvedCarriesTheTopInstanceStat) {
  WriteFile(Lower(0, "f"), "12345", 0640);
  OpenStack();
  auto r = ResolvePath("f");
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->st.st_size, 5);
  EXPECT_EQ((*r)->st.st_mode & 07777, 0640u);
  EXPECT_EQ((*r)->st.st_ino, InoOf(Lower(0, "f")));
}

TEST_F(ResolverTest, LowerHasName) {
  WriteFile(Upper("onlyupper"));
  WriteFile(Upper("both"));
  WriteFile(Lower(1, "both"));
  WriteFile(Lower(2, "whited"));
  MakeDeviceWhiteout(Lower(0, "whited"));
  WriteFile(Lower(2, "whfile"));
  WriteFile(Lower(1, ".wh.whfile"));
  MakeDirs(Lower(2, "deep"));
  OpenStack();
  auto root = RootDirs();
  auto has = [&](std::string_view name) {
    auto r = LowerHasName(stack(), root, name);
    EXPECT_TRUE(r.ok()) << name;
    return r.ok() && *r;
  };
  EXPECT_FALSE(has("onlyupper"));
  EXPECT_TRUE(has("both"));
  EXPECT_FALSE(has("whited"));
  EXPECT_FALSE(has("whfile"));
  EXPECT_TRUE(has("deep"));
  EXPECT_FALSE(has("absent"));
}

TEST_F(ResolverTest, LowerHasNameRejectsHostileAndMetadataNames) {
  MakeDirs(Lower(0, "a/b"));
  WriteFile(Lower(0, ".wh.x"));
  WriteFile(Lower(0, "d/.wh..wh..opq"));
  OpenStack();
  auto root = RootDirs();
  for (std::string_view name : {std::string_view(".."), std::string_view("."), std::string_view(""),
                                std::string_view("a/b"), std::string_view("a\0b", 3)}) {
    auto r = LowerHasName(stack(), root, name);
    EXPECT_EQ(r.error(), EINVAL) << "'" << name << "'";
  }
  // Layer metadata is not a name of the merged view.
  auto r = LowerHasName(stack(), root, ".wh.x");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  auto d = DirsAt("d");
  r = LowerHasName(stack(), d, ".wh..wh..opq");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
}

TEST_F(ResolverTest, LowerHasNameRespectsTheOpaqueCut) {
  MakeDirs(Upper("d"));
  MakeDirs(Lower(0, "d"));
  SetXattr(Lower(0, "d"), "trusted.overlay.opaque", "y");
  WriteFile(Lower(1, "d/below"));
  WriteFile(Lower(0, "d/inside"));
  OpenStack();
  auto dirs = DirsAt("d");
  auto below = LowerHasName(stack(), dirs, "below");
  auto inside = LowerHasName(stack(), dirs, "inside");
  ASSERT_TRUE(below.ok() && inside.ok());
  EXPECT_FALSE(*below);
  EXPECT_TRUE(*inside);
}

}  // namespace
}  // namespace strata::layer
