// IoModeTable: every grant is one the kernel's iomode rules accept (no mixed
// modes on an inode, one backing file per inode), and backing ids are
// registered once per passthrough period and closed when it ends.
#include "fs/node/io_mode_table.h"

#include <gtest/gtest.h>

#include <map>
#include <thread>
#include <vector>

namespace strata {
namespace {

// A fake device: hands out backing ids, remembers which are registered.
class FakeBackings {
 public:
  IoModeTable MakeTable() {
    return IoModeTable(
        [this](int fd) -> Result<int> {
          std::lock_guard lock(mu_);
          if (fail_with_ != 0) return Errno(fail_with_);
          int id = next_id_++;
          registered_[id] = fd;
          ++opened_;
          return id;
        },
        [this](int id) {
          std::lock_guard lock(mu_);
          EXPECT_EQ(registered_.erase(id), 1u) << "closed backing id " << id << " twice";
        });
  }
  size_t registered() {
    std::lock_guard lock(mu_);
    return registered_.size();
  }
  int opened() {
    std::lock_guard lock(mu_);
    return opened_;
  }
  void FailWith(int e) {
    std::lock_guard lock(mu_);
    fail_with_ = e;
  }

 private:
  std::mutex mu_;
  std::map<int, int> registered_;
  int next_id_ = 1;
  int opened_ = 0;
  int fail_with_ = 0;
};

TEST(IoModeTable, EligibleOpensShareOneBackingFile) {
  FakeBackings dev;
  IoModeTable t = dev.MakeTable();
  auto a = t.Open(7, 100, true);
  auto b = t.Open(7, 101, true);
  EXPECT_TRUE(a.passthrough);
  EXPECT_TRUE(b.passthrough);
  EXPECT_EQ(a.backing_id, b.backing_id);
  EXPECT_EQ(dev.opened(), 1);
  t.Release(7, true);
  EXPECT_EQ(dev.registered(), 1u) << "closed while a passthrough file is still open";
  t.Release(7, true);
  EXPECT_EQ(dev.registered(), 0u);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.passthrough_opens(), 2u);
}

TEST(IoModeTable, CachedFileOpenKeepsLaterOpensCached) {
  // A lower file open read-only, then copied up by a writer: the kernel holds
  // the inode in cached mode until the reader closes.
  FakeBackings dev;
  IoModeTable t = dev.MakeTable();
  auto reader = t.Open(7, 100, false);
  EXPECT_FALSE(reader.passthrough);
  EXPECT_FALSE(reader.fallback);
  auto writer = t.Open(7, 101, true);
  EXPECT_FALSE(writer.passthrough);
  EXPECT_FALSE(writer.fallback);
  EXPECT_EQ(dev.opened(), 0);
  t.Release(7, false);
  t.Release(7, false);
  auto later = t.Open(7, 102, true);
  EXPECT_TRUE(later.passthrough) << "all cached files are closed";
  t.Release(7, true);
  EXPECT_EQ(dev.registered(), 0u);
}

TEST(IoModeTable, PassthroughInodeStaysPassthroughEvenWhenNotEligible) {
  FakeBackings dev;
  IoModeTable t = dev.MakeTable();
  auto a = t.Open(7, 100, true);
  auto b = t.Open(7, 101, false);
  EXPECT_TRUE(b.passthrough) << "the kernel would fail a cached open of this inode";
  EXPECT_EQ(b.backing_id, a.backing_id);
  t.Release(7, true);
  t.Release(7, true);
  EXPECT_EQ(t.size(), 0u);
}

TEST(IoModeTable, NodesAreIndependent) {
  FakeBackings dev;
  IoModeTable t = dev.MakeTable();
  auto a = t.Open(1, 100, true);
  auto b = t.Open(2, 101, false);
  auto c = t.Open(3, 102, true);
  EXPECT_TRUE(a.passthrough);
  EXPECT_FALSE(b.passthrough);
  EXPECT_TRUE(c.passthrough);
  EXPECT_NE(a.backing_id, c.backing_id);
  EXPECT_EQ(t.size(), 3u);
}

TEST(IoModeTable, FailedRegistrationFallsBackToCachedWithoutKeptPages) {
  FakeBackings dev;
  IoModeTable t = dev.MakeTable();
  dev.FailWith(ELOOP);
  auto a = t.Open(7, 100, true);
  EXPECT_FALSE(a.passthrough);
  EXPECT_TRUE(a.fallback);
  dev.FailWith(0);
  auto b = t.Open(7, 101, true);
  EXPECT_FALSE(b.passthrough) << "a cached file of the inode is still open";
  t.Release(7, false);
  t.Release(7, false);
  EXPECT_EQ(t.size(), 0u);
}

TEST(IoModeTable, DemoteCountsTheFileAsCached) {
  FakeBackings dev;
  IoModeTable t = dev.MakeTable();
  auto a = t.Open(7, 100, true);
  ASSERT_TRUE(a.passthrough);
  t.Demote(7);
  EXPECT_EQ(dev.registered(), 0u);
  auto b = t.Open(7, 101, true);
  EXPECT_FALSE(b.passthrough) << "the demoted file is open in cached mode";
  t.Release(7, false);
  t.Release(7, false);
  EXPECT_EQ(t.size(), 0u);
}

TEST(IoModeTable, DestructorClosesWhatIsStillRegistered) {
  FakeBackings dev;
  {
    IoModeTable t = dev.MakeTable();
    (void)t.Open(1, 100, true);
    (void)t.Open(2, 101, true);
  }
  EXPECT_EQ(dev.registered(), 0u);
}

TEST(IoModeTable, ConcurrentOpensAndReleasesBalance) {
  FakeBackings dev;
  IoModeTable t = dev.MakeTable();
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&t, th] {
      for (int i = 0; i < 2000; ++i) {
        uint64_t node = static_cast<uint64_t>(i % 8);
        auto g = t.Open(node, 100 + th, (i + th) % 3 != 0);
        t.Release(node, g.passthrough);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(dev.registered(), 0u);
}

}  // namespace
}  // namespace strata
