#include "fs/node/inode_table.h"

#include <vector>

namespace strata {

Node::~Node() {
  if (table_ != nullptr) table_->NodeDestroyed(this);
}

InodeTable::InodeTable(std::shared_ptr<Node> root) {
  root->lookups = 1;  // the kernel never forgets the root
  InsertId(root);
}

InodeTable::~InodeTable() {
  // Break the kernel references (each node holds itself) outside the locks:
  // dropping one may destroy the node, whose destructor takes a key shard.
  std::vector<std::shared_ptr<Node>> held;
  for (auto& s : ids_) {
    std::lock_guard lock(s.mu);
    s.nodes.EraseAll([&](Node* n) { held.push_back(std::move(n->kernel_ref_)); });
  }
  held.clear();
}

void InodeTable::InsertId(const std::shared_ptr<Node>& node) {
  IdShard& s = id_shard(node->nodeid());
  std::lock_guard lock(s.mu);
  node->kernel_ref_ = node;
  s.nodes.Insert(node.get());
}

std::shared_ptr<Node> InodeTable::Get(uint64_t nodeid) const {
  IdShard& s = id_shard(nodeid);
  std::lock_guard lock(s.mu);
  Node* n = s.nodes.Find(nodeid);
  return n == nullptr ? nullptr : n->kernel_ref_;
}

void InodeTable::AddLookup(const std::shared_ptr<Node>& node) {
  IdShard& s = id_shard(node->nodeid());
  std::lock_guard lock(s.mu);
  if (node->lookups.fetch_add(1) == 0) {
    node->kernel_ref_ = node;
    s.nodes.Insert(node.get());
  }
}

// A node's destructor: its key entry goes with it. No other thread can change
// its key now (that takes a reference), but one may have unlinked it already
// (LookupOrInsert, Unkey), hence keyed_ under the lock.
void InodeTable::NodeDestroyed(Node* node) {
  KeyShard& ks = key_shard(node->key);
  std::lock_guard lock(ks.mu);
  if (node->keyed_) ks.nodes.Erase(node);
  node->keyed_ = false;
}

std::shared_ptr<Node> InodeTable::LiveByKey(KeyShard& ks, const NodeKey& key) {
  std::shared_ptr<Node> live;
  // A node whose last reference is gone but whose destructor has not yet
  // unlinked it fails weak_from_this(): skip it.
  ks.nodes.FindIf(key, [&](Node& n) {
    live = n.weak_from_this().lock();
    return live != nullptr;
  });
  return live;
}

std::shared_ptr<Node> InodeTable::Find(const NodeKey& key) const {
  KeyShard& ks = key_shard(key);
  std::lock_guard lock(ks.mu);
  return LiveByKey(ks, key);
}

std::shared_ptr<Node> InodeTable::LookupOrInsert(const NodeKey& key, const NodeFactory& make,
                                                 const std::function<bool(const Node&)>& still_same) {
  std::shared_ptr<Node> node;  // outlive the shard lock: a node's destructor takes it
  std::shared_ptr<Node> stale;
  {
    KeyShard& ks = key_shard(key);
    std::lock_guard lock(ks.mu);
    node = LiveByKey(ks, key);
    if (node && still_same && !still_same(*node)) {
      stale = std::move(node);
      ks.nodes.Erase(stale.get());
      stale->keyed_ = false;
    }
    if (!node) {
      node = make(next_id_.fetch_add(1));
      node->key = key;
      node->keyed_ = true;
      node->table_ = this;
      ks.nodes.Insert(node.get());
    }
  }
  AddLookup(node);
  return node;
}

void InodeTable::Forget(uint64_t nodeid, uint64_t n) {
  if (nodeid == kRootId) return;
  std::shared_ptr<Node> dropped;  // destroyed outside the shard lock
  IdShard& s = id_shard(nodeid);
  {
    std::lock_guard lock(s.mu);
    Node* node = s.nodes.Find(nodeid);
    if (node == nullptr) return;
    uint64_t prev = node->lookups.load();
    uint64_t next = prev > n ? prev - n : 0;
    node->lookups.store(next);
    if (next == 0) {
      s.nodes.Erase(node);
      dropped = std::move(node->kernel_ref_);
    }
  }
}

void InodeTable::Unkey(const std::shared_ptr<Node>& node) {
  KeyShard& ks = key_shard(node->key);
  std::lock_guard lock(ks.mu);
  if (!node->keyed_) return;
  ks.nodes.Erase(node.get());
  node->keyed_ = false;
}

void InodeTable::Rekey(const std::shared_ptr<Node>& node, const NodeKey& key) {
  Unkey(node);
  KeyShard& ks = key_shard(key);
  std::shared_ptr<Node> displaced;  // released outside the lock
  std::lock_guard lock(ks.mu);
  // One live node per key, as LookupOrInsert keeps it: a node still linked
  // under this key (its inode number was freed and reused) loses it.
  displaced = LiveByKey(ks, key);
  if (displaced) {
    ks.nodes.Erase(displaced.get());
    displaced->keyed_ = false;
  }
  node->key = key;
  node->keyed_ = true;
  node->table_ = this;
  ks.nodes.Insert(node.get());
}

size_t InodeTable::size() const {
  size_t n = 0;
  for (auto& s : ids_) {
    std::lock_guard lock(s.mu);
    n += s.nodes.size();
  }
  return n;
}

}  // namespace strata
