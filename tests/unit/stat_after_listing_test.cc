// StatAfterListing: a caller gets bare listings until it looks up a name in a
// directory it was listed bare; other callers and other directories do not
// change its guess; a slot taken by another thread starts over.
#include "fs/core/stat_after_listing.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace strata {
namespace {

TEST(StatAfterListingTest, NewCallerGetsBareListings) {
  StatAfterListing guess;
  EXPECT_FALSE(guess.WantsAttrs(100));
}

TEST(StatAfterListingTest, KernelRequestsWithoutCallerGetAttrs) {
  StatAfterListing guess;
  EXPECT_TRUE(guess.WantsAttrs(0));
  guess.ListedBare(0, 7);
  guess.LookedUp(0, 7);
  EXPECT_TRUE(guess.WantsAttrs(0));
}

TEST(StatAfterListingTest, LookupInABareDirectoryTurnsAttrsOn) {
  StatAfterListing guess;
  guess.ListedBare(100, 7);
  EXPECT_FALSE(guess.WantsAttrs(100));
  guess.LookedUp(100, 7);
  EXPECT_TRUE(guess.WantsAttrs(100));
  // For good: later bare-listing records do not turn it off.
  guess.ListedBare(100, 8);
  EXPECT_TRUE(guess.WantsAttrs(100));
}

TEST(StatAfterListingTest, LookupsElsewhereDoNotCount) {
  StatAfterListing guess;
  guess.ListedBare(100, 7);
  guess.LookedUp(100, 9);  // a directory it was not listed (find descending, a path walk)
  EXPECT_FALSE(guess.WantsAttrs(100));
  guess.LookedUp(101, 7);  // another process in the directory
  EXPECT_FALSE(guess.WantsAttrs(100));
  EXPECT_FALSE(guess.WantsAttrs(101));
}

TEST(StatAfterListingTest, WatchesOnlyTheLatestBareDirectories) {
  StatAfterListing guess;
  for (uint64_t dir = 1; dir <= StatAfterListing::kWatchedDirs + 1; ++dir) guess.ListedBare(100, dir);
  guess.LookedUp(100, 1);  // pushed out by the later ones
  EXPECT_FALSE(guess.WantsAttrs(100));
  guess.LookedUp(100, 2);
  EXPECT_TRUE(guess.WantsAttrs(100));
}

TEST(StatAfterListingTest, RelistingADirectoryKeepsTheOthersWatched) {
  StatAfterListing guess;
  guess.ListedBare(100, 1);
  // A big directory comes in many replies: it takes one place, not all.
  for (size_t i = 0; i < 10; ++i) guess.ListedBare(100, 2);
  guess.LookedUp(100, 1);
  EXPECT_TRUE(guess.WantsAttrs(100));
}

TEST(StatAfterListingTest, ACallerTakingTheSlotStartsOver) {
  StatAfterListing guess;
  const pid_t first = 100;
  const pid_t same_slot = first + static_cast<pid_t>(StatAfterListing::kSlots);
  guess.ListedBare(first, 7);
  guess.LookedUp(first, 7);
  ASSERT_TRUE(guess.WantsAttrs(first));
  guess.ListedBare(same_slot, 8);
  EXPECT_FALSE(guess.WantsAttrs(same_slot));
  EXPECT_FALSE(guess.WantsAttrs(first));  // forgotten: it would start bare again
  guess.LookedUp(same_slot, 7);           // the first caller's directory, not its own
  EXPECT_FALSE(guess.WantsAttrs(same_slot));
}

TEST(StatAfterListingTest, CallersInDifferentSlotsAreIndependent) {
  StatAfterListing guess;
  guess.ListedBare(100, 7);
  guess.ListedBare(101, 7);
  guess.LookedUp(101, 7);
  EXPECT_TRUE(guess.WantsAttrs(101));
  EXPECT_FALSE(guess.WantsAttrs(100));
}

TEST(StatAfterListingTest, ConcurrentCallersEachGetTheirOwnAnswer) {
  StatAfterListing guess;
  // Threads 0..7 list and look up in their own directory; even ones look up.
  std::vector<std::thread> threads;
  for (pid_t t = 0; t < 8; ++t) {
    threads.emplace_back([&guess, t] {
      const pid_t caller = 1000 + t;
      for (int i = 0; i < 2000; ++i) {
        guess.ListedBare(caller, static_cast<uint64_t>(t + 1));
        if (t % 2 == 0) guess.LookedUp(caller, static_cast<uint64_t>(t + 1));
        (void)guess.WantsAttrs(caller);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (pid_t t = 0; t < 8; ++t) EXPECT_EQ(guess.WantsAttrs(1000 + t), t % 2 == 0) << "thread " << t;
}

}  // namespace
}  // namespace strata
