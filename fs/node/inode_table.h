// InodeTable: nodeid -> Node, with kernel lookup counts, and real object ->
// Node so that one object keeps one nodeid.
//
// Nodeids come from a counter and are never reused (the node's address is not
// its nodeid). A node leaves the nodeid map when the kernel forgets it; it stays
// findable by key while anything (a child, an open file) still holds it, so a
// directory never gets two live nodes.
//
// Both maps are intrusive (IntrusiveHash): a node is linked through its own
// fields, and while the kernel holds it, it holds itself (Node::kernel_ref_).
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <mutex>

#include "fs/node/intrusive_hash.h"
#include "fs/node/node.h"

namespace strata {

class InodeTable {
 public:
  static constexpr uint64_t kRootId = 1;

  explicit InodeTable(std::shared_ptr<Node> root);
  // Lets go of the nodes the kernel held. Nodes still held elsewhere must not
  // outlive the table.
  ~InodeTable();
  InodeTable(const InodeTable&) = delete;
  InodeTable& operator=(const InodeTable&) = delete;

  // The node for a nodeid the kernel holds, or nullptr.
  std::shared_ptr<Node> Get(uint64_t nodeid) const;

  // Makes the node for a nodeid, best with std::make_shared.
  using NodeFactory = std::function<std::shared_ptr<Node>(uint64_t nodeid)>;

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
  friend class Node;  // its destructor unlinks it (NodeDestroyed)

  struct IdOf {
    uint64_t operator()(const Node& n) const { return n.nodeid(); }
  };
  struct KeyOfNode {
    const NodeKey& operator()(const Node& n) const { return n.key; }
  };
  struct IdHash {
    size_t operator()(uint64_t id) const { return id; }
  };

  static constexpr size_t kShards = 16;
  struct IdShard {
    mutable std::mutex mu;
    // Nodes the kernel holds (lookups > 0), each holding itself.
    IntrusiveHash<Node, uint64_t, IdOf, IdHash, &Node::id_next_> nodes;
  };
  struct KeyShard {
    mutable std::mutex mu;
    // Keyed nodes, live or being destroyed (those fail weak_from_this).
    IntrusiveHash<Node, NodeKey, KeyOfNode, NodeKeyHash, &Node::key_next_> nodes;
  };
  IdShard& id_shard(uint64_t id) const { return ids_[id % kShards]; }
  KeyShard& key_shard(const NodeKey& k) const { return keys_[NodeKeyHash()(k) % kShards]; }
  void InsertId(const std::shared_ptr<Node>& node);
  // The live node under `key` in `ks` (locked), or nullptr.
  static std::shared_ptr<Node> LiveByKey(KeyShard& ks, const NodeKey& key);
  void NodeDestroyed(Node* node);

  mutable std::array<IdShard, kShards> ids_;
  mutable std::array<KeyShard, kShards> keys_;
  std::atomic<uint64_t> next_id_{kRootId + 1};
};

}  // namespace strata
