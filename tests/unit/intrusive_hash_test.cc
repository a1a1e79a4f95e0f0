// IntrusiveHash: find, insert, erase through the objects' own links, with
// growth and shrinking of the buckets.
#include "fs/node/intrusive_hash.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace strata {
namespace {

struct Item {
  int key = 0;
  Item* next = nullptr;
};
struct ItemKey {
  int operator()(const Item& i) const { return i.key; }
};
// Every key in one of two hash values: long chains.
struct BadHash {
  size_t operator()(int k) const { return static_cast<size_t>(k % 2); }
};
struct GoodHash {
  size_t operator()(int k) const { return static_cast<size_t>(k); }
};

template <typename Hash>
using Table = IntrusiveHash<Item, int, ItemKey, Hash, &Item::next>;

// Gives items[i] the key i and links it into `t`.
template <typename Hash>
void Fill(std::vector<Item>& items, Table<Hash>& t) {
  for (size_t i = 0; i < items.size(); ++i) {
    items[i].key = static_cast<int>(i);
    t.Insert(&items[i]);
  }
}

TEST(IntrusiveHashTest, FindInsertErase) {
  std::vector<Item> items(1000);
  Table<GoodHash> t;
  Fill(items, t);
  EXPECT_EQ(t.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(t.Find(i), &items[i]);
  EXPECT_EQ(t.Find(1000), nullptr);
  for (int i = 0; i < 1000; i += 2) EXPECT_TRUE(t.Erase(&items[i]));
  EXPECT_FALSE(t.Erase(&items[0]));  // not linked any more
  EXPECT_EQ(t.size(), 500u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(t.Find(i), i % 2 ? &items[i] : nullptr);
}

TEST(IntrusiveHashTest, ShrinksAndStillFindsTheRest) {
  std::vector<Item> items(4096);
  Table<GoodHash> t;
  Fill(items, t);
  // Erase all but every 100th: the buckets shrink several times on the way.
  for (int i = 0; i < 4096; ++i) {
    if (i % 100 != 0) {
      ASSERT_TRUE(t.Erase(&items[i]));
    }
  }
  EXPECT_EQ(t.size(), 41u);
  for (int i = 0; i < 4096; ++i) ASSERT_EQ(t.Find(i), i % 100 == 0 ? &items[i] : nullptr) << i;
}

TEST(IntrusiveHashTest, EqualKeysAndCollisions) {
  std::vector<Item> items(64);
  Table<BadHash> t;
  for (int i = 0; i < 64; ++i) {
    items[i].key = i / 2;  // two objects per key
    t.Insert(&items[i]);
  }
  for (int k = 0; k < 32; ++k) {
    std::set<Item*> seen;
    t.FindIf(k, [&](Item& i) {
      seen.insert(&i);
      return false;
    });
    EXPECT_EQ(seen, (std::set<Item*>{&items[2 * k], &items[2 * k + 1]}));
  }
  // Erase removes that very object, not another one with the same key.
  EXPECT_TRUE(t.Erase(&items[11]));
  EXPECT_EQ(t.Find(5), &items[10]);
}

TEST(IntrusiveHashTest, EraseAllVisitsEachOnceAndEmpties) {
  std::vector<Item> items(100);
  Table<GoodHash> t;
  Fill(items, t);
  std::set<Item*> seen;
  t.EraseAll([&](Item* i) {
    EXPECT_EQ(i->next, nullptr);
    EXPECT_TRUE(seen.insert(i).second);
  });
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.Find(3), nullptr);
  t.Insert(&items[3]);  // usable again
  EXPECT_EQ(t.Find(3), &items[3]);
}

}  // namespace
}  // namespace strata
