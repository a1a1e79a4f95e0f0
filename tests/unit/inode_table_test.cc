// InodeTable: nodeids never reused, one live node per object key, kernel
// lookup counts, forget, and re-keying after copy-up.
#include "fs/node/inode_table.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <thread>
#include <vector>

namespace strata {
namespace {

std::shared_ptr<Node> MakeRootNode() {
  return std::make_shared<Node>(InodeTable::kRootId, S_IFDIR, 2, std::make_shared<Placement>());
}

class InodeTableTest : public ::testing::Test {
 protected:
  // Looks `key` up, counting how often a new node had to be made.
  std::shared_ptr<Node> Lookup(const NodeKey& key, ino_t ino = 100) {
    return table_.LookupOrInsert(key, [&](uint64_t id) {
      ++made_;
      return std::make_shared<Node>(id, S_IFREG, ino, std::make_shared<Placement>());
    });
  }

  InodeTable table_{MakeRootNode()};
  int made_ = 0;
};

TEST_F(InodeTableTest, RootIsThereAndNeverForgotten) {
  auto root = table_.Get(InodeTable::kRootId);
  ASSERT_NE(root, nullptr);
  EXPECT_TRUE(root->is_dir());
  EXPECT_EQ(table_.size(), 1u);
  table_.Forget(InodeTable::kRootId, 1000);
  EXPECT_EQ(table_.Get(InodeTable::kRootId), root);
}

TEST_F(InodeTableTest, SameKeySameNodeAndLookupsCounted) {
  NodeKey k{1, 10, 0};
  auto a = Lookup(k);
  auto b = Lookup(k);
  EXPECT_EQ(a, b);
  EXPECT_EQ(made_, 1);
  EXPECT_GT(a->nodeid(), InodeTable::kRootId);
  EXPECT_EQ(a->lookups.load(), 2u);
  EXPECT_EQ(table_.Get(a->nodeid()), a);
  EXPECT_EQ(table_.Find(k), a);
  EXPECT_EQ(table_.size(), 2u);
}

TEST_F(InodeTableTest, DifferentKeysDifferentNodes) {
  auto a = Lookup({1, 10, 0});
  auto b = Lookup({1, 10, 1});  // another path of a hard-linked lower file
  auto c = Lookup({2, 10, 0});  // same number on another filesystem
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a->nodeid(), b->nodeid());
  EXPECT_NE(a->nodeid(), c->nodeid());
  EXPECT_EQ(made_, 3);
}

TEST_F(InodeTableTest, ForgetDropsTheNodeidWhenTheCountReachesZero) {
  NodeKey k{1, 10, 0};
  const uint64_t id = Lookup(k)->nodeid();
  Lookup(k);
  Lookup(k);
  table_.Forget(id, 2);
  ASSERT_NE(table_.Get(id), nullptr);
  EXPECT_EQ(table_.Get(id)->lookups.load(), 1u);
  table_.Forget(id, 1);
  EXPECT_EQ(table_.Get(id), nullptr);
  EXPECT_EQ(table_.size(), 1u);
  // Nothing holds the node any more: its key is gone too.
  EXPECT_EQ(table_.Find(k), nullptr);
}

TEST_F(InodeTableTest, ForgetMoreThanCountedOrUnknownIsHarmless) {
  auto n = Lookup({1, 10, 0});
  const uint64_t id = n->nodeid();
  n.reset();
  table_.Forget(id, 50);
  EXPECT_EQ(table_.Get(id), nullptr);
  table_.Forget(id, 1);
  table_.Forget(987654321, 1);
  EXPECT_EQ(table_.size(), 1u);
}

TEST_F(InodeTableTest, NodeidsAreNeverReused) {
  NodeKey k{1, 10, 0};
  const uint64_t first = Lookup(k)->nodeid();
  table_.Forget(first, 1);
  const uint64_t second = Lookup(k)->nodeid();
  EXPECT_NE(first, second);
  EXPECT_GT(second, first);
  EXPECT_EQ(made_, 2);
}

TEST_F(InodeTableTest, AForgottenNodeStillHeldKeepsItsIdentity) {
  // A child or an open file holds the node after the kernel forgot it: a new
  // lookup must find the same node (one object, one node), under its nodeid.
  NodeKey k{1, 10, 0};
  auto held = Lookup(k);
  const uint64_t id = held->nodeid();
  table_.Forget(id, 1);
  EXPECT_EQ(table_.Get(id), nullptr);
  EXPECT_EQ(table_.Find(k), held);
  auto again = Lookup(k);
  EXPECT_EQ(again, held);
  EXPECT_EQ(made_, 1);
  EXPECT_EQ(again->lookups.load(), 1u);
  EXPECT_EQ(table_.Get(id), held);
}

TEST_F(InodeTableTest, AddLookupOnAHeldNode) {
  auto n = Lookup({1, 10, 0});
  table_.AddLookup(n);
  EXPECT_EQ(n->lookups.load(), 2u);
  table_.Forget(n->nodeid(), 2);
  EXPECT_EQ(table_.Get(n->nodeid()), nullptr);
  table_.AddLookup(n);  // back in the kernel's hands
  EXPECT_EQ(table_.Get(n->nodeid()), n);
}

TEST_F(InodeTableTest, RekeyAfterCopyUp) {
  NodeKey lower{1, 10, 0}, upper{1, 99, 0};
  auto n = Lookup(lower);
  table_.Rekey(n, upper);
  EXPECT_EQ(table_.Find(upper), n);
  EXPECT_EQ(table_.Find(lower), nullptr);
  EXPECT_EQ(Lookup(upper), n);
  EXPECT_EQ(made_, 1);
  // The node keeps its nodeid and reported inode number.
  EXPECT_EQ(table_.Get(n->nodeid()), n);
  EXPECT_EQ(n->ino(), 100u);
}

TEST_F(InodeTableTest, RekeyOntoAReusedNumberTakesTheKeyWhole) {
  // A copy-up's new inode has the number a node still held by key had.
  NodeKey lower{1, 10, 0}, reused{1, 99, 0};
  auto old_holder = Lookup(reused);
  auto n = Lookup(lower);
  table_.Rekey(n, reused);
  EXPECT_EQ(table_.Find(reused), n);
  // The displaced node is out of the key map for good: not found again once
  // the rekeyed node is gone.
  table_.Forget(n->nodeid(), 1);
  n.reset();
  EXPECT_EQ(table_.Find(reused), nullptr);
  EXPECT_NE(old_holder, nullptr);
}

TEST_F(InodeTableTest, UnkeyedNodeIsNotFoundByKey) {
  NodeKey k{1, 10, 0};
  auto n = Lookup(k);
  table_.Unkey(n);
  EXPECT_EQ(table_.Find(k), nullptr);
  auto fresh = Lookup(k);
  EXPECT_NE(fresh, n);
  EXPECT_EQ(made_, 2);
  // Unkeying the old node again must not remove the new one's key.
  table_.Unkey(n);
  EXPECT_EQ(table_.Find(k), fresh);
}

TEST_F(InodeTableTest, AReusedInodeNumberGetsAFreshNode) {
  // The object behind a key was deleted and its inode number reused: the live
  // node is rejected, a new one takes the key, the old one stays reachable
  // by its nodeid for as long as the kernel holds it.
  NodeKey k{1, 10, 0};
  auto old = Lookup(k);
  auto make = [](uint64_t id) {
    return std::make_shared<Node>(id, S_IFREG, 100, std::make_shared<Placement>());
  };
  auto fresh = table_.LookupOrInsert(k, make, [](const Node&) { return false; });
  EXPECT_NE(fresh, old);
  EXPECT_NE(fresh->nodeid(), old->nodeid());
  EXPECT_EQ(table_.Find(k), fresh);
  EXPECT_EQ(table_.Get(old->nodeid()), old);
  // Dropping the old node must not take the new node's key with it.
  const uint64_t old_id = old->nodeid();
  old.reset();
  table_.Forget(old_id, 1);
  EXPECT_EQ(table_.Get(old_id), nullptr);
  EXPECT_EQ(table_.Find(k), fresh);
  // Accepted by the check: the same node again.
  EXPECT_EQ(table_.LookupOrInsert(k, make, [](const Node&) { return true; }), fresh);
}

TEST_F(InodeTableTest, ConcurrentLookupsAndForgetsBalance) {
  constexpr int kThreads = 4, kRounds = 2000, kKeys = 37;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        NodeKey k{1, static_cast<ino_t>(1000 + (i * 7 + t) % kKeys), 0};
        auto n = table_.LookupOrInsert(k, [](uint64_t id) {
          return std::make_shared<Node>(id, S_IFREG, 5, std::make_shared<Placement>());
        });
        EXPECT_EQ(n->key, k);
        table_.Forget(n->nodeid(), 1);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(table_.size(), 1u);
}

}  // namespace
}  // namespace strata
