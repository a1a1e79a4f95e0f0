// CompactName: inline and heap names, at the 15-byte boundary, copies.
#include "fs/base/compact_name.h"

#include <gtest/gtest.h>

#include <string>

namespace strata {
namespace {

TEST(CompactNameTest, EmptyByDefault) { EXPECT_EQ(CompactName().view(), ""); }

TEST(CompactNameTest, EveryLengthRoundTrips) {
  for (size_t len = 0; len <= 255; ++len) {
    std::string s;
    for (size_t i = 0; i < len; ++i) s.push_back(static_cast<char>('a' + i % 26));
    CompactName n(s);
    ASSERT_EQ(n.view(), s) << len;
    ASSERT_EQ(n.str(), s) << len;
  }
}

TEST(CompactNameTest, AssignAcrossInlineAndHeap) {
  const std::string long_name(200, 'x');
  CompactName n("short");
  n.Assign(long_name);
  EXPECT_EQ(n.view(), long_name);
  n.Assign("fifteen-bytes!!");  // exactly inline capacity
  EXPECT_EQ(n.view(), "fifteen-bytes!!");
  n.Assign("sixteen-bytes!!!");
  EXPECT_EQ(n.view(), "sixteen-bytes!!!");
  n.Assign("");
  EXPECT_EQ(n.view(), "");
}

TEST(CompactNameTest, CopiesAreIndependent) {
  CompactName a(std::string(40, 'a'));
  CompactName b(a);
  CompactName c("c");
  c = a;
  a.Assign("changed");
  EXPECT_EQ(b.view(), std::string(40, 'a'));
  EXPECT_EQ(c.view(), std::string(40, 'a'));
  c = c;  // self-assignment keeps the name
  EXPECT_EQ(c.view(), std::string(40, 'a'));
}

}  // namespace
}  // namespace strata
