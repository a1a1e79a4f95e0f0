// Owner mapping (uidmapping=/gidmapping=/squash_to_*), fuse-overlayfs's
// format: HOST:SHOWN:LEN triples joined by ':'.
#include "fs/core/id_map.h"

#include <gtest/gtest.h>

namespace strata {
namespace {

TEST(IdMapTest, EmptyIsIdentity) {
  auto m = IdMap::Parse("");
  ASSERT_TRUE(m.has_value());
  EXPECT_TRUE(m->identity());
  EXPECT_EQ(m->ToShown(1234), 1234u);
  EXPECT_EQ(m->ToStored(1234), 1234u);
}

TEST(IdMapTest, OneRange) {
  auto m = IdMap::Parse("100000:0:65536");
  ASSERT_TRUE(m.has_value());
  EXPECT_FALSE(m->identity());
  EXPECT_EQ(m->ToShown(100000), 0u);
  EXPECT_EQ(m->ToShown(100000 + 65535), 65535u);
  EXPECT_EQ(m->ToShown(100000 + 65536), IdMap::kOverflowId);
  EXPECT_EQ(m->ToShown(0), IdMap::kOverflowId);
  EXPECT_EQ(m->ToStored(0), 100000u);
  EXPECT_EQ(m->ToStored(1000), 101000u);
  EXPECT_EQ(m->ToStored(70000), IdMap::kOverflowId);
}

TEST(IdMapTest, SeveralRangesRoundTrip) {
  auto m = IdMap::Parse("1000:0:1:100000:1:65535");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->ToShown(1000), 0u);
  EXPECT_EQ(m->ToShown(100000), 1u);
  EXPECT_EQ(m->ToShown(100009), 10u);
  for (uint32_t shown : {0u, 1u, 10u, 65535u}) EXPECT_EQ(m->ToShown(m->ToStored(shown)), shown);
}

TEST(IdMapTest, SquashShowsOneOwner) {
  auto m = IdMap::Parse("");
  ASSERT_TRUE(m.has_value());
  m->set_squash(0);
  EXPECT_FALSE(m->identity());
  EXPECT_EQ(m->ToShown(1000), 0u);
  EXPECT_EQ(m->ToShown(0), 0u);
}

TEST(IdMapTest, MalformedSpecsAreRejected) {
  for (const char* bad : {"1", "1:2", "1:2:3:4", "1:2:0", "a:b:c", "1:2:3:", ":1:2:3", "1::2:3",
                          "1,2,3", "-1:0:1", "1:2:3 ", "99999999999:0:1"})
    EXPECT_FALSE(IdMap::Parse(bad).has_value()) << bad;
}

}  // namespace
}  // namespace strata
