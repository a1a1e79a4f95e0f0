// Origin map: WORKDIR/strata-origin, upper inode number -> reported number,
// so st_ino survives copy-up and remount without junk on the upper objects.
#include "fs/layer/origin_map.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include "tests/unit/layer_fixture.h"

namespace strata::layer {
namespace {

class OriginMapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unittest::MakeDirs(dir_ / "work");
    root_ = UniqueFd(::open((dir_ / "work").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_.valid());
    auto map = OpenOriginMap(root_.get());
    ASSERT_TRUE(map.ok()) << std::strerror(map.error());
    map_ = std::move(*map);
  }
  unittest::TempDir dir_;
  UniqueFd root_, map_;
};

TEST_F(OriginMapTest, SetGetReplaceRemove) {
  EXPECT_EQ(GetOrigin(map_.get(), 42), 0u);
  ASSERT_TRUE(SetOrigin(map_.get(), 42, 1000).ok());
  EXPECT_EQ(GetOrigin(map_.get(), 42), 1000u);
  ASSERT_TRUE(SetOrigin(map_.get(), 42, 2000).ok());
  EXPECT_EQ(GetOrigin(map_.get(), 42), 2000u);
  const ino_t big = ~ino_t{0} - 1;
  ASSERT_TRUE(SetOrigin(map_.get(), big, big - 5).ok());
  EXPECT_EQ(GetOrigin(map_.get(), big), big - 5);
  RemoveOrigin(map_.get(), 42);
  EXPECT_EQ(GetOrigin(map_.get(), 42), 0u);
  RemoveOrigin(map_.get(), 42);  // twice is harmless
  // No temporaries left behind.
  EXPECT_EQ(unittest::ListDir(dir_ / ("work/" + std::string(kOriginDirName))).size(), 1u);
}

TEST_F(OriginMapTest, SurvivesReopening) {
  ASSERT_TRUE(SetOrigin(map_.get(), 7, 70).ok());
  map_.reset();
  auto again = OpenOriginMap(root_.get());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(GetOrigin(again->get(), 7), 70u);
}

TEST_F(OriginMapTest, MalformedEntriesAreIgnored) {
  const std::string map_dir = dir_ / ("work/" + std::string(kOriginDirName));
  unittest::MakeSymlink("12abc", map_dir + "/5");
  unittest::WriteFile(map_dir + "/8", "80");
  unittest::MakeSymlink(std::string(40, '9'), map_dir + "/9");
  for (ino_t i : {ino_t{5}, ino_t{8}, ino_t{9}}) EXPECT_EQ(GetOrigin(map_.get(), i), 0u) << i;
}

TEST_F(OriginMapTest, NoMapWithoutAnUpper) {
  EXPECT_EQ(GetOrigin(-1, 42), 0u);
  EXPECT_TRUE(SetOrigin(-1, 42, 1).ok());
  RemoveOrigin(-1, 42);
}

}  // namespace
}  // namespace strata::layer
