// InodeTable: nodeid -> Node, with kernel lookup counts, and real object ->
// Node so that one object keeps one nodeid.
//
// Nodeids come from a counter and are never reused (the node's address is not
// its nodeid). A node leaves the nodeid map when the kernel forgets it; it stays
// findable by key while anything (a child, an open file) still holds it, so a
// directory never gets two live nodes.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "fs/node/node.h"

namespace strata {

class InodeTable {
 public:
  static constexpr uint64_t kRootId = 1;

  explicit InodeTable(std::shared_ptr<Node> root);

  // The node for a nodeid the kernel holds, or nullptr.
  std::shared_ptr<Node> Get(uint64_t nodeid) const;

  using NodeFactory = std::function<std::unique_ptr<Node>(uint64_t nodeid)>;

  // Returns the live node for `key` or makes a new one with `make(nodeid)`,
  // and counts one kernel lookup on it. A live node that `still_same` rejects
  // (its inode number was freed and reused) loses the key to the new node.
  std::shared_ptr<Node> LookupOrInsert(const NodeKey& key, const NodeFactory& make,
                                       const std::function<bool(const Node&)>& still_same = {});

  // The live node for `key`, without counting a lookup; nullptr if none.
  std::shared_ptr<Node> Find(const NodeKey& key) const;

  // Counts one more kernel lookup of a node the caller already holds.
  void AddLookup(const std::shared_ptr<Node>& node);

  // The kernel dropped `n` lookups.
  void Forget(uint64_t nodeid, uint64_t n);

  // The node's object moved (copy-up) or is gone (`unkey`).
  void Rekey(const std::shared_ptr<Node>& node, const NodeKey& key);
  void Unkey(const std::shared_ptr<Node>& node);

  size_t size() const;

 private:
  static constexpr size_t kShards = 16;
  struct IdShard {
    mutable std::mutex mu;
    std::unordered_map<uint64_t, std::shared_ptr<Node>> nodes;
  };
  struct KeyShard {
    mutable std::mutex mu;
    std::unordered_map<NodeKey, std::weak_ptr<Node>, NodeKeyHash> nodes;
  };
  IdShard& id_shard(uint64_t id) const { return ids_[id % kShards]; }
  KeyShard& key_shard(const NodeKey& k) const { return keys_[NodeKeyHash()(k) % kShards]; }
  void InsertId(const std::shared_ptr<Node>& node);
  // Wraps a new node so that its key entry goes away with it.
  std::shared_ptr<Node> Adopt(std::unique_ptr<Node> node);
  void EraseExpiredKey(const NodeKey& key);

  mutable std::array<IdShard, kShards> ids_;
  mutable std::array<KeyShard, kShards> keys_;
  std::atomic<uint64_t> next_id_{kRootId + 1};
};

}  // namespace strata
