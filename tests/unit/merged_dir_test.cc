// Merged directory listing: union, de-duplication, whiteouts and layer
// metadata hidden, opaque cut, d_type, and inode numbers that agree with
// what Resolve reports for the same name.
#include "fs/layer/merged_dir.h"

#include "fs/layer/origin_map.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <set>

#include "tests/unit/layer_fixture.h"

namespace strata::layer {
namespace {

using unittest::MakeDeviceWhiteout;
using unittest::MakeDirs;
using unittest::MakeSymlink;
using unittest::SetXattr;
using unittest::WriteFile;
using Names = std::vector<std::string>;


class MergedDirTest : public unittest::LayerTest {
 protected:
  void SetUp() override { SetUpLayers(3); }

  // Records what copy-up records: the number the upper object at `path` reports.
  void RecordOrigin(const std::string& path, ino_t origin) {
    UniqueFd obj(::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    ASSERT_TRUE(obj.valid());
    ASSERT_TRUE(SetOrigin(stack().origins(), obj.get(), InoOf(path), origin).ok());
  }

  std::map<std::string, MergedEntry> ByName(std::string_view dir) {
    std::map<std::string, MergedEntry> out;
    for (auto& e : ListAt(dir)) {
      EXPECT_TRUE(out.emplace(e.name, e).second) << "listed twice: " << e.name;
    }
    return out;
  }

  // Every listed entry's inode number and type agree with Resolve's.
  void ExpectConsistentWithResolve(std::string_view dir) {
    std::string prefix = dir.empty() ? "" : std::string(dir) + "/";
    for (const auto& e : ListAt(dir)) {
      SCOPED_TRACE(prefix + e.name);
      auto r = ResolvePath(prefix + e.name);
      ASSERT_TRUE(r.ok() && r->has_value()) << "listed but does not resolve";
      EXPECT_EQ(e.ino, (*r)->ino);
      EXPECT_EQ(e.type, IFTODT((*r)->st.st_mode));
      EXPECT_EQ(e.layer, (*r)->layer);
    }
  }
};

TEST_F(MergedDirTest, UnionWithoutDuplicates) {
  WriteFile(Upper("d/u"));
  WriteFile(Upper("d/common"));
  WriteFile(Lower(0, "d/l0"));
  WriteFile(Lower(0, "d/common"));
  WriteFile(Lower(2, "d/l2"));
  WriteFile(Lower(2, "d/common"));
  MakeDirs(Lower(1, "d/sub"));
  MakeDirs(Lower(2, "d/sub"));
  OpenStack();
  EXPECT_EQ(NamesAt("d"), (Names{"common", "l0", "l2", "sub", "u"}));
  auto m = ByName("d");
  EXPECT_EQ(m["common"].layer, 0);
  EXPECT_EQ(m["l0"].layer, LowerIndex(0));
  EXPECT_EQ(m["l2"].layer, LowerIndex(2));
  EXPECT_EQ(m["sub"].layer, LowerIndex(1));
  ExpectConsistentWithResolve("d");
}

TEST_F(MergedDirTest, RootListing) {
  WriteFile(Upper("a"));
  WriteFile(Lower(1, "b"));
  OpenStack();
  EXPECT_EQ(NamesAt(""), (Names{"a", "b"}));
  ExpectConsistentWithResolve("");
}

TEST_F(MergedDirTest, WhiteoutsHiddenInEveryForm) {
  for (const char* n : {"dev", "whfile", "xattr_t", "xattr_u", "kept"}) WriteFile(Lower(2, std::string("d/") + n));
  MakeDeviceWhiteout(Lower(1, "d/dev"));
  WriteFile(Lower(1, "d/.wh.whfile"));
  WriteFile(Lower(1, "d/xattr_t"));
  SetXattr(Lower(1, "d/xattr_t"), "trusted.overlay.whiteout", "");
  WriteFile(Lower(1, "d/xattr_u"));
  SetXattr(Lower(1, "d/xattr_u"), "user.overlay.whiteout", "");
  SetXattr(Lower(1, "d"), "trusted.overlay.opaque", "x");
  // Whiteouts of names nothing below has are not listed either.
  MakeDeviceWhiteout(Upper("d/nothing"));
  WriteFile(Upper("d/.wh.nothing2"));
  OpenStack();
  EXPECT_EQ(NamesAt("d"), (Names{"kept"}));
}

TEST_F(MergedDirTest, WhiteoutFileHidesOnlyLayersBelow) {
  WriteFile(Lower(2, "d/f"), "l2");
  WriteFile(Lower(1, "d/.wh.f"));
  WriteFile(Lower(1, "d/f"), "l1");  // re-created in the same layer
  WriteFile(Lower(2, "d/g"));
  WriteFile(Lower(1, "d/.wh.g"));
  WriteFile(Lower(0, "d/g"));  // re-created above
  OpenStack();
  auto m = ByName("d");
  EXPECT_EQ(NamesAt("d"), (Names{"f", "g"}));
  EXPECT_EQ(m["f"].layer, LowerIndex(1));
  EXPECT_EQ(m["g"].layer, LowerIndex(0));
  ExpectConsistentWithResolve("d");
}

TEST_F(MergedDirTest, MetadataNamesNeverListed) {
  WriteFile(Lower(0, "d/.wh..wh..opq"));
  WriteFile(Lower(0, "d/.wh.x"));
  WriteFile(Lower(0, "d/real"));
  WriteFile(Upper(".wh.y"));
  WriteFile(Upper("top"));
  OpenStack();
  EXPECT_EQ(NamesAt("d"), (Names{"real"}));
  EXPECT_EQ(NamesAt(""), (Names{"d", "top"}));
}

TEST_F(MergedDirTest, OpaqueDirectoryCutsTheListing) {
  WriteFile(Lower(2, "t/below"));
  WriteFile(Lower(1, "t/mid"));
  SetXattr(Lower(1, "t"), "user.overlay.opaque", "y");
  WriteFile(Lower(0, "t/top"));
  WriteFile(Lower(2, "m/below"));
  WriteFile(Lower(1, "m/.wh..wh..opq"));
  WriteFile(Lower(1, "m/mid"));
  OpenStack();
  EXPECT_EQ(NamesAt("t"), (Names{"mid", "top"}));
  EXPECT_EQ(NamesAt("m"), (Names{"mid"}));
}

TEST_F(MergedDirTest, NonDirectoryAboveCutsTheListing) {
  MakeDirs(Upper("d"));
  WriteFile(Upper("d/u"));
  WriteFile(Lower(0, "d"), "a file");
  WriteFile(Lower(1, "d/below"));
  OpenStack();
  EXPECT_EQ(NamesAt("d"), (Names{"u"}));
}

TEST_F(MergedDirTest, DTypesAreCorrect) {
  WriteFile(Lower(1, "d/file"));
  MakeDirs(Lower(1, "d/dir"));
  MakeSymlink("file", Lower(1, "d/link"));
  unittest::MakeFifo(Lower(1, "d/fifo"));
  unittest::MakeCharDevice(Lower(1, "d/null"), 1, 3);
  // Same names above with other types: the top one's type is listed.
  MakeDirs(Lower(0, "d/file_then_dir"));
  WriteFile(Lower(1, "d/file_then_dir"));
  MakeSymlink("x", Upper("d/dir_then_link"));
  MakeDirs(Lower(1, "d/dir_then_link"));
  // A non-empty file carrying the whiteout xattr in an "x" directory is a file.
  WriteFile(Lower(1, "d/notwhiteout"), "data");
  SetXattr(Lower(1, "d/notwhiteout"), "trusted.overlay.whiteout", "");
  SetXattr(Lower(1, "d"), "trusted.overlay.opaque", "x");
  OpenStack();
  auto m = ByName("d");
  EXPECT_EQ(m["file"].type, DT_REG);
  EXPECT_EQ(m["dir"].type, DT_DIR);
  EXPECT_EQ(m["link"].type, DT_LNK);
  EXPECT_EQ(m["fifo"].type, DT_FIFO);
  EXPECT_EQ(m["null"].type, DT_CHR);
  EXPECT_EQ(m["file_then_dir"].type, DT_DIR);
  EXPECT_EQ(m["dir_then_link"].type, DT_LNK);
  EXPECT_EQ(m["notwhiteout"].type, DT_REG);
  ExpectConsistentWithResolve("d");
}

TEST_F(MergedDirTest, InodeNumbersOfMergedDirectoriesAndCopyUps) {
  MakeDirs(Upper("d/merged"));
  MakeDirs(Lower(1, "d/merged"));
  MakeDirs(Upper("d/pure"));
  WriteFile(Upper("d/copied"));
  WriteFile(Lower(0, "d/copied"));
  WriteFile(Upper("d/upperonly"));
  WriteFile(Lower(2, "d/lower"));
  OpenStack();
  RecordOrigin(Upper("d/copied"), InoOf(Lower(0, "d/copied")));
  auto m = ByName("d");
  EXPECT_EQ(m["merged"].ino, InoOf(Lower(1, "d/merged")));
  EXPECT_EQ(m["pure"].ino, InoOf(Upper("d/pure")));
  EXPECT_EQ(m["copied"].ino, InoOf(Lower(0, "d/copied")));
  EXPECT_EQ(m["upperonly"].ino, InoOf(Upper("d/upperonly")));
  EXPECT_EQ(m["lower"].ino, InoOf(Lower(2, "d/lower")));
  ExpectConsistentWithResolve("d");
}

TEST_F(MergedDirTest, InodeOfAnOpaqueUpperDirectoryOverALowerOne) {
  // rmdir + mkdir through the mount: an opaque upper directory that does not
  // merge with the lower one of the same name, so it reports its own number.
  MakeDirs(Upper("d/re"));
  SetXattr(Upper("d/re"), "trusted.overlay.opaque", "y");
  MakeDirs(Lower(0, "d/re"));
  OpenStack();
  ExpectConsistentWithResolve("d");
}

TEST_F(MergedDirTest, InodeOfUpperDirectoriesCutByWhiteoutFiles) {
  // `.wh.NAME` beside the upper directory NAME, or in a lower layer between
  // it and a lower directory NAME: no merge, so the upper's own number.
  MakeDirs(Upper("d/beside"));
  WriteFile(Upper("d/.wh.beside"));
  MakeDirs(Lower(1, "d/beside"));
  MakeDirs(Upper("d/between"));
  WriteFile(Lower(0, "d/.wh.between"));
  MakeDirs(Lower(1, "d/between"));
  // Re-created in the same lower layer: merges with that one only.
  MakeDirs(Upper("d/recreated"));
  WriteFile(Lower(0, "d/.wh.recreated"));
  MakeDirs(Lower(0, "d/recreated"));
  MakeDirs(Lower(1, "d/recreated"));
  OpenStack();
  auto m = ByName("d");
  EXPECT_EQ(m["beside"].ino, InoOf(Upper("d/beside")));
  EXPECT_EQ(m["between"].ino, InoOf(Upper("d/between")));
  EXPECT_EQ(m["recreated"].ino, InoOf(Lower(0, "d/recreated")));
  ExpectConsistentWithResolve("d");
}

TEST_F(MergedDirTest, LookupsAfterAListingOfTheSameInstances) {
  // A listing records which lower instances hold no `.wh.*` names, and later
  // lookups through the same instances rely on it: results must not change.
  WriteFile(Lower(2, "d/gone"));
  WriteFile(Lower(1, "d/.wh.gone"));
  MakeDirs(Lower(2, "d/re/old"));
  WriteFile(Lower(1, "d/.wh.re"));
  MakeDirs(Lower(1, "d/re/new"));
  WriteFile(Lower(0, "d/plain"));
  WriteFile(Lower(2, "d/kept"));
  OpenStack();
  auto dirs = DirsAt("d");
  auto before = [&](std::string_view name) {
    auto r = Resolve(stack(), dirs, name);
    EXPECT_TRUE(r.ok());
    return r.ok() && r->has_value() ? static_cast<int>((*r)->dirs.size()) * 100 + (*r)->layer : -1;
  };
  std::map<std::string, int> first;
  for (const char* n : {"gone", "re", "plain", "kept", "absent"}) first[n] = before(n);
  auto list = ListMerged(stack(), dirs);
  ASSERT_TRUE(list.ok());
  for (const char* n : {"gone", "re", "plain", "kept", "absent"}) EXPECT_EQ(before(n), first[n]) << n;
  EXPECT_EQ(first["gone"], -1);
  EXPECT_EQ(first["re"], 100 + LowerIndex(1));
  EXPECT_EQ(NamesAt("d"), (Names{"kept", "plain", "re"}));
}

TEST_F(MergedDirTest, InodeOfARenamedCopyUp) {
  // A copied-up file renamed within the upper keeps its recorded origin, and
  // nothing below has its new name. Symlinks too.
  WriteFile(Upper("d/renamed"));
  MakeSymlink("x", Upper("d/renamedlink"));
  WriteFile(Lower(0, "d/other"));
  OpenStack();
  RecordOrigin(Upper("d/renamed"), 0x7777777);
  RecordOrigin(Upper("d/renamedlink"), 0x7777778);
  auto m = ByName("d");
  EXPECT_EQ(m["renamed"].ino, 0x7777777u);
  EXPECT_EQ(m["renamedlink"].ino, 0x7777778u);
  ExpectConsistentWithResolve("d");
}

TEST_F(MergedDirTest, EmptyAndLargeDirectories) {
  MakeDirs(Upper("empty"));
  MakeDirs(Lower(0, "empty"));
  for (int i = 0; i < 600; ++i) WriteFile(Lower(i % 3, "big/f" + std::to_string(i)));
  for (int i = 0; i < 600; i += 2) MakeDeviceWhiteout(Upper("big/f" + std::to_string(i)));
  OpenStack();
  EXPECT_TRUE(NamesAt("empty").empty());
  auto names = NamesAt("big");
  EXPECT_EQ(names.size(), 300u);
  std::set<std::string> set(names.begin(), names.end());
  EXPECT_TRUE(set.count("f1"));
  EXPECT_FALSE(set.count("f0"));
}

TEST_F(MergedDirTest, OffsetsAreStrictlyIncreasingAndStable) {
  for (int i = 0; i < 50; ++i) WriteFile(Lower(0, "d/n" + std::to_string(i)));
  OpenStack();
  auto first = ListAt("d");
  ASSERT_EQ(first.size(), 50u);
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_GE(first[i].offset, kFirstEntryOffset);
    if (i > 0) {
      EXPECT_GT(first[i].offset, first[i - 1].offset);
    }
  }
  // Another entry appearing does not move the offsets of the others.
  WriteFile(Upper("d/newcomer"));
  std::map<std::string, uint64_t> before;
  for (auto& e : first) before[e.name] = e.offset;
  for (auto& e : ListAt("d")) {
    if (e.name != "newcomer") {
      EXPECT_EQ(e.offset, before[e.name]) << e.name;
    }
  }
}

}  // namespace
}  // namespace strata::layer
