// readdir_attrs (fs/core/stat_after_listing.h): a caller that only lists
// names gets its directories' other entries without attributes; once it
// stats a name of such a listing, its later listings carry them all; with
// readdir_attrs=all every listing does. What callers see is the same as on
// kernel overlayfs either way.
#include <string>

#include "tests/mount/diff_test_base.h"

namespace strata::mounttest {
namespace {

using ReaddirAttrs = DiffTestBase;

TEST_F(ReaddirAttrs, NameOnlyListingIsBareUntilTheCallerStatsWhatItListed) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  ASSERT_EQ(StatsNumber("listings_bare"), 0) << DaemonStats();

  // Listing names only (a find): files come without attributes.
  Run({Readdir("a")});
  EXPECT_GE(StatsNumber("listings_bare"), 1) << DaemonStats();
  const long with_attrs = StatsNumber("listings_with_attrs");

  // Stat what was listed (an ls -l): each name is looked up, and answers as
  // the kernel's do.
  long lookups = OpCount("lookup");
  Run({Stat("a/f_bottom"), Stat("a/shadowed"), Stat("a/f_mid")});
  EXPECT_GE(OpCount("lookup"), lookups + 3) << DaemonStats();

  // From now on this caller's listings carry every entry's attributes, so
  // stats of what it lists need no lookup (b/z: b/x and b/y are whited out).
  const long bare = StatsNumber("listings_bare");
  Run({Readdir("b")});
  EXPECT_EQ(StatsNumber("listings_bare"), bare) << DaemonStats();
  EXPECT_GT(StatsNumber("listings_with_attrs"), with_attrs) << DaemonStats();
  lookups = OpCount("lookup");
  Run({Stat("b/z")});
  EXPECT_EQ(OpCount("lookup"), lookups) << DaemonStats();
  FinishAndCompare();
}

TEST_F(ReaddirAttrs, EveryChunkOfABigListingIsReaddirplus) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Mkdir("big")});
  // 400 names of 100 bytes: several chunks of the kernel's 32 KiB buffer.
  for (int i = 0; i < 400; ++i)
    Run({Mkfifo("big/" + std::string(96, 'n') + std::to_string(1000 + i))});
  Run({Mkdir("big/sub")});
  const long plain = OpCount("readdir");
  const long plus = OpCount("readdirplus");
  Run({Readdir("big")});
  EXPECT_EQ(OpCount("readdir"), plain) << DaemonStats();
  EXPECT_GE(OpCount("readdirplus"), plus + 3) << DaemonStats();
  FinishAndCompare();
}

TEST_F(ReaddirAttrs, AllOptionGivesAttributesToEveryListing) {
  ASSERT_NO_FATAL_FAILURE(StartSession({.daemon_options = ",readdir_attrs=all"}));
  Run({Readdir("a")});
  EXPECT_EQ(StatsNumber("listings_bare"), 0) << DaemonStats();
  EXPECT_GE(StatsNumber("listings_with_attrs"), 1) << DaemonStats();
  const long lookups = OpCount("lookup");
  Run({Stat("a/f_bottom"), Stat("a/shadowed"), Stat("a/f_mid")});
  EXPECT_EQ(OpCount("lookup"), lookups) << DaemonStats();
  FinishAndCompare();
}

}  // namespace
}  // namespace strata::mounttest
