#include "fs/node/inode_table.h"

namespace strata {

InodeTable::InodeTable(std::shared_ptr<Node> root) {
  root->lookups = 1;  // the kernel never forgets the root
  InsertId(root);
}

void InodeTable::InsertId(const std::shared_ptr<Node>& node) {
  IdShard& s = id_shard(node->nodeid());
  std::lock_guard lock(s.mu);
  s.nodes[node->nodeid()] = node;
}

std::shared_ptr<Node> InodeTable::Get(uint64_t nodeid) const {
  IdShard& s = id_shard(nodeid);
  std::lock_guard lock(s.mu);
  auto it = s.nodes.find(nodeid);
  return it == s.nodes.end() ? nullptr : it->second;
}

void InodeTable::AddLookup(const std::shared_ptr<Node>& node) {
  IdShard& s = id_shard(node->nodeid());
  std::lock_guard lock(s.mu);
  if (node->lookups.fetch_add(1) == 0) s.nodes[node->nodeid()] = node;
}

std::shared_ptr<Node> InodeTable::Adopt(std::unique_ptr<Node> node) {
  return std::shared_ptr<Node>(node.release(), [this](Node* n) {
    if (n->keyed) EraseExpiredKey(n->key);
    delete n;
  });
}

void InodeTable::EraseExpiredKey(const NodeKey& key) {
  KeyShard& ks = key_shard(key);
  std::lock_guard lock(ks.mu);
  auto it = ks.nodes.find(key);
  if (it != ks.nodes.end() && it->second.expired()) ks.nodes.erase(it);
}

std::shared_ptr<Node> InodeTable::Find(const NodeKey& key) const {
  std::shared_ptr<Node> node;
  KeyShard& ks = key_shard(key);
  std::lock_guard lock(ks.mu);
  auto it = ks.nodes.find(key);
  if (it != ks.nodes.end()) node = it->second.lock();
  return node;
}

std::shared_ptr<Node> InodeTable::LookupOrInsert(const NodeKey& key, const NodeFactory& make,
                                                 const std::function<bool(const Node&)>& still_same) {
  std::shared_ptr<Node> node;  // outlives the shard lock: its deleter takes it
  std::shared_ptr<Node> stale;
  {
    KeyShard& ks = key_shard(key);
    std::lock_guard lock(ks.mu);
    auto it = ks.nodes.find(key);
    if (it != ks.nodes.end()) node = it->second.lock();
    if (node && still_same && !still_same(*node)) {
      stale = std::move(node);
      stale->keyed = false;
    }
    if (!node) {
      node = Adopt(make(next_id_.fetch_add(1)));
      node->key = key;
      node->keyed = true;
      ks.nodes[key] = node;
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
    auto it = s.nodes.find(nodeid);
    if (it == s.nodes.end()) return;
    uint64_t prev = it->second->lookups.load();
    uint64_t next = prev > n ? prev - n : 0;
    it->second->lookups.store(next);
    if (next == 0) {
      dropped = std::move(it->second);
      s.nodes.erase(it);
    }
  }
}

void InodeTable::Unkey(const std::shared_ptr<Node>& node) {
  if (!node->keyed) return;
  KeyShard& ks = key_shard(node->key);
  std::lock_guard lock(ks.mu);
  auto it = ks.nodes.find(node->key);
  // Compare without locking the weak_ptr: no reference may drop under ks.mu.
  if (it != ks.nodes.end() && !it->second.owner_before(node) && !node.owner_before(it->second))
    ks.nodes.erase(it);
  node->keyed = false;
}

void InodeTable::Rekey(const std::shared_ptr<Node>& node, const NodeKey& key) {
  Unkey(node);
  KeyShard& ks = key_shard(key);
  std::lock_guard lock(ks.mu);
  node->key = key;
  node->keyed = true;
  ks.nodes[key] = node;
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
