// IntrusiveHash: a chained hash table whose links live in the objects it
// holds, so that an entry costs no allocation of its own.
//
// The inode table keeps every cached inode in two maps (by nodeid and by real
// object); as std::unordered_map entries those were two heap nodes and ~110
// bytes per inode, a third of a node's footprint (bench/RESULTS.md, memory).
// Here an entry is one pointer in the object plus its share of the buckets.
//
// Not thread-safe; the caller locks. It owns nothing: an object must be
// erased before it is destroyed.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace strata {

// KeyOf()(const T&) gives an object's key, Hash()(key) its hash, and
// `T::*Next` is the object's link, reserved for this table.
template <typename T, typename Key, typename KeyOf, typename Hash, T* T::*Next>
class IntrusiveHash {
 public:
  // The first object whose key is `key` and that `accept` takes, or nullptr.
  template <typename Accept>
  T* FindIf(const Key& key, Accept&& accept) const {
    if (buckets_.empty()) return nullptr;
    for (T* n = buckets_[Index(key)]; n != nullptr; n = n->*Next)
      if (KeyOf()(*n) == key && accept(*n)) return n;
    return nullptr;
  }
  T* Find(const Key& key) const {
    return FindIf(key, [](const T&) { return true; });
  }

  // Links `obj`, which must not be linked yet, under its current key.
  void Insert(T* obj) {
    if (size_ + 1 > kMaxLoad * buckets_.size())
      Resize(buckets_.empty() ? kMinBuckets : buckets_.size() * 2);
    T*& head = buckets_[Index(KeyOf()(*obj))];
    obj->*Next = head;
    head = obj;
    ++size_;
  }

  // Unlinks `obj`, found under its current key; false if it is not linked.
  bool Erase(T* obj) {
    if (buckets_.empty()) return false;
    for (T** link = &buckets_[Index(KeyOf()(*obj))]; *link != nullptr; link = &((*link)->*Next)) {
      if (*link != obj) continue;
      *link = obj->*Next;
      obj->*Next = nullptr;
      --size_;
      // Give the buckets back once the kernel forgot most inodes.
      if (buckets_.size() > kMinBuckets && size_ < buckets_.size() / 4) Resize(buckets_.size() / 4);
      return true;
    }
    return false;
  }

  // Calls f(T*) for every object; f must not insert or erase.
  template <typename F>
  void ForEach(F&& f) const {
    for (T* head : buckets_)
      for (T* n = head; n != nullptr;) {
        T* next = n->*Next;
        f(n);
        n = next;
      }
  }

  // Unlinks every object, calling f(T*) on each once it is unlinked.
  template <typename F>
  void EraseAll(F&& f) {
    std::vector<T*> old;
    old.swap(buckets_);
    size_ = 0;
    shift_ = 64;
    for (T* head : old)
      for (T* n = head; n != nullptr;) {
        T* next = n->*Next;
        n->*Next = nullptr;
        f(n);
        n = next;
      }
  }

  size_t size() const { return size_; }

 private:
  static constexpr size_t kMinBuckets = 16;
  // Chains of 1 to 2 objects: a bucket costs as much as a link, and a short
  // walk through hot nodes is cheaper than the memory.
  static constexpr size_t kMaxLoad = 2;

  // Fibonacci hashing on top of Hash: the callers shard by the low bits of
  // the same hash, so those are equal within one table.
  size_t Index(const Key& key) const {
    const uint64_t h = static_cast<uint64_t>(Hash()(key)) * 0x9E3779B97F4A7C15ull;
    return static_cast<size_t>(h >> shift_);
  }

  void Resize(size_t count) {  // count: a power of two
    std::vector<T*> old(count, nullptr);
    old.swap(buckets_);
    shift_ = 64 - std::countr_zero(count);
    for (T* head : old)
      for (T* n = head; n != nullptr;) {
        T* next = n->*Next;
        T*& slot = buckets_[Index(KeyOf()(*n))];
        n->*Next = slot;
        slot = n;
        n = next;
      }
  }

  std::vector<T*> buckets_;
  int shift_ = 64;
  size_t size_ = 0;
};

}  // namespace strata
