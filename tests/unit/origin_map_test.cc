// Origins: the inode number a copied-up object keeps reporting, as an xattr
// on the upper object (trusted.overlay.strata.origin) or, where trusted.*
// cannot be set, in the map WORKDIR/strata-origin.
#include "fs/layer/origin_map.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "fs/sys/syscalls.h"
#include "tests/unit/layer_fixture.h"

namespace strata::layer {
namespace {

class OriginMapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unittest::MakeDirs(dir_ / "work");
    unittest::MakeDirs(dir_ / "upper");
    root_ = UniqueFd(::open((dir_ / "work").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    upper_ = UniqueFd(::open((dir_ / "upper").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_.valid() && upper_.valid());
    auto map = OpenOriginMap(root_.get());
    ASSERT_TRUE(map.ok()) << std::strerror(map.error());
    map_ = std::move(*map);
    map_store_.map_fd = map_.get();
    map_store_.map_in_use = true;  // what a rootless mount uses
  }
  // An upper object and an O_PATH fd on it.
  UniqueFd MakeObject(const std::string& name) {
    unittest::WriteFile(dir_ / ("upper/" + name), "x");
    return UniqueFd(::openat(upper_.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  }
  ino_t InoOf(const std::string& name) {
    return unittest::Lstat(dir_ / ("upper/" + name)).st_ino;
  }
  size_t MapEntries() { return unittest::ListDir(dir_ / ("work/" + std::string(kOriginDirName))).size(); }

  unittest::TempDir dir_;
  UniqueFd root_, upper_, map_;
  OriginStore map_store_;
};

TEST_F(OriginMapTest, OnTheObjectWhenTrustedXattrsWork) {
  OriginStore store{map_.get(), false, false};
  ProbeOriginStore(root_.get(), &store);
  if (::geteuid() != 0) {
    // Unprivileged: trusted.* is refused, so the map takes over.
    EXPECT_FALSE(store.on_objects);
    EXPECT_TRUE(store.map_in_use);
    return;
  }
  ASSERT_TRUE(store.on_objects);
  EXPECT_FALSE(store.map_in_use) << "an empty map is not consulted";
  UniqueFd f = MakeObject("f");
  const ino_t ino = InoOf("f");
  EXPECT_EQ(GetOrigin(store, upper_.get(), "f", ino), 0u);
  ASSERT_TRUE(SetOrigin(store, f.get(), ino, 1000).ok());
  EXPECT_EQ(GetOrigin(store, upper_.get(), "f", ino), 1000u);
  ASSERT_TRUE(SetOrigin(store, f.get(), ino, 2000).ok());
  EXPECT_EQ(GetOrigin(store, upper_.get(), "f", ino), 2000u);
  EXPECT_EQ(MapEntries(), 0u) << "no inode spent in the work directory";
  // The xattr follows the object through a rename and goes with it.
  ASSERT_EQ(::renameat(upper_.get(), "f", upper_.get(), "g"), 0);
  EXPECT_EQ(GetOrigin(store, upper_.get(), "g", ino), 2000u);
  EXPECT_EQ(GetOrigin(store, upper_.get(), "f", ino), 0u);
}

TEST_F(OriginMapTest, MapSetGetReplaceRemove) {
  UniqueFd f = MakeObject("f");
  EXPECT_EQ(GetOrigin(map_store_, upper_.get(), "f", 42), 0u);
  ASSERT_TRUE(SetOrigin(map_store_, f.get(), 42, 1000).ok());
  EXPECT_EQ(GetOrigin(map_store_, upper_.get(), "f", 42), 1000u);
  ASSERT_TRUE(SetOrigin(map_store_, f.get(), 42, 2000).ok());
  EXPECT_EQ(GetOrigin(map_store_, upper_.get(), "f", 42), 2000u);
  const ino_t big = ~ino_t{0} - 1;
  ASSERT_TRUE(SetOrigin(map_store_, f.get(), big, big - 5).ok());
  EXPECT_EQ(GetOrigin(map_store_, upper_.get(), "f", big), big - 5);
  RemoveOrigin(map_store_, 42);
  EXPECT_EQ(GetOrigin(map_store_, upper_.get(), "f", 42), 0u);
  RemoveOrigin(map_store_, 42);  // twice is harmless
  EXPECT_EQ(MapEntries(), 1u) << "no temporaries left behind";
}

TEST_F(OriginMapTest, MapSurvivesReopeningAndIsConsultedWhenItHasEntries) {
  UniqueFd f = MakeObject("f");
  ASSERT_TRUE(SetOrigin(map_store_, f.get(), 7, 70).ok());
  map_.reset();
  auto again = OpenOriginMap(root_.get());
  ASSERT_TRUE(again.ok());
  OriginStore store{again->get(), false, false};
  ProbeOriginStore(root_.get(), &store);
  EXPECT_TRUE(store.map_in_use);
  EXPECT_EQ(GetOrigin(store, upper_.get(), "f", 7), 70u);
}

TEST_F(OriginMapTest, MalformedEntriesAreIgnored) {
  const std::string map_dir = dir_ / ("work/" + std::string(kOriginDirName));
  unittest::MakeSymlink("12abc", map_dir + "/5");
  unittest::WriteFile(map_dir + "/8", "80");
  unittest::MakeSymlink(std::string(40, '9'), map_dir + "/9");
  for (ino_t i : {ino_t{5}, ino_t{8}, ino_t{9}})
    EXPECT_EQ(GetOrigin(map_store_, upper_.get(), "none", i), 0u) << i;
  if (::geteuid() == 0) {
    UniqueFd f = MakeObject("f");
    ASSERT_TRUE(sys::SetXattr(f.get(), kOriginXattr, "12abc", 0).ok());
    OriginStore store{-1, true, false};
    EXPECT_EQ(GetOrigin(store, upper_.get(), "f", InoOf("f")), 0u);
  }
}

TEST_F(OriginMapTest, NoMapWithoutAnUpper) {
  OriginStore none;
  UniqueFd f = MakeObject("f");
  EXPECT_EQ(GetOrigin(none, upper_.get(), "f", 42), 0u);
  EXPECT_TRUE(SetOrigin(none, f.get(), 42, 1).ok());
  RemoveOrigin(none, 42);
}

}  // namespace
}  // namespace strata::layer
