// Node: one object of the merged view, as the kernel knows it by a nodeid.
//
// Lock order (outermost first):
//   1. UnionFs::rename_mu_ (cross-directory renames only)
//   2. Node::ns_mu of directories, two at once only in nodeid order
//   3. Node::copyup_mu (one node at a time; a parent's copy-up always
//      completes before its child's starts, never nested)
//   4. Node::mu (leaf: guards parent/name/listing; no call out while held)
//   5. InodeTable shard locks (leaf)
// No lock is ever held across a fuse_reply_*.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "fs/base/compact_name.h"
#include "fs/base/small_mutex.h"
#include "fs/base/thread_annotations.h"
#include "fs/base/unique_fd.h"
#include "fs/layer/merged_dir.h"
#include "fs/layer/resolver.h"

namespace strata {

// A directory's instances, top first. Most placements are files', which
// have none: this takes 8 bytes where a vector takes 24 (one placement per
// cached inode).
class DirList {
 public:
  DirList& operator=(std::vector<layer::DirInstance>&& v) {
    if (v.empty()) v_.reset();
    else v_ = std::make_unique<std::vector<layer::DirInstance>>(std::move(v));
    return *this;
  }
  void push_back(layer::DirInstance&& d) {
    if (!v_) v_ = std::make_unique<std::vector<layer::DirInstance>>();
    v_->push_back(std::move(d));
  }
  size_t size() const { return v_ ? v_->size() : 0; }
  bool empty() const { return size() == 0; }
  const layer::DirInstance& front() const { return v_->front(); }
  const layer::DirInstance& operator[](size_t i) const { return (*v_)[i]; }
  const layer::DirInstance* begin() const { return v_ ? v_->data() : nullptr; }
  const layer::DirInstance* end() const { return v_ ? v_->data() + v_->size() : nullptr; }
  operator std::span<const layer::DirInstance>() const {  // NOLINT: a view, as a vector gives
    return v_ ? std::span<const layer::DirInstance>(*v_) : std::span<const layer::DirInstance>();
  }

 private:
  std::unique_ptr<std::vector<layer::DirInstance>> v_;
};

// Where a node's object lives right now. Immutable once published; copy-up
// publishes a new one, so readers take a snapshot without holding a lock.
//
// A directory holds an fd per instance (its children are looked up in them).
// A non-directory holds no fd: it is reached as (its parent's instance in
// `layer`, its name), checked against (dev, ino) so a replaced name is never
// mistaken for it; that keeps the daemon's fd count to the directories it
// knows. Only an upper file with several hard links holds an O_PATH fd, since
// any of its names may go away while another remains.
struct Placement {
  int layer = 0;  // top layer
  UniqueFd fd;    // O_PATH, only for multi-link upper files (see above)
  dev_t dev = 0;  // identity of the top object
  ino_t real_ino = 0;
  DirList dirs;   // directories: instances, top first
  // True when the directory merges instances from several layers; the kernel
  // reports nlink 1 for those.
  bool merged() const { return dirs.size() > 1; }
};

// Identity of a real object, used to give one node to one object.
// A lower file with several hard links is one object at several paths, each
// of which copies up on its own (kernel overlayfs without index=on): `salt`
// then tells the paths apart; it is 0 for everything else.
struct NodeKey {
  dev_t dev = 0;
  ino_t ino = 0;
  uint64_t salt = 0;
  bool operator==(const NodeKey&) const = default;
};

struct NodeKeyHash {
  size_t operator()(const NodeKey& k) const {
    return std::hash<uint64_t>()((k.ino * 0x9E3779B97F4A7C15ull) ^ k.dev ^ (k.salt * 31));
  }
};

using Listing = std::vector<layer::MergedEntry>;

class InodeTable;

// Held by shared_ptr; make it with std::make_shared (node and count in one
// allocation). The InodeTable links it into its maps through the node's own
// fields and unlinks it when it is destroyed.
class Node : public std::enable_shared_from_this<Node> {
 public:
  Node(uint64_t nodeid, mode_t type, ino_t ino, std::shared_ptr<const Placement> placement)
      : nodeid_(nodeid), type_(type), ino_(ino), layer_(placement->layer),
        placement_(std::move(placement)) {}
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  uint64_t nodeid() const { return nodeid_; }
  mode_t type() const { return type_; }
  bool is_dir() const { return S_ISDIR(type_); }
  // The inode number the merged view reports; survives copy-up (but for a
  // lower file with several links, see UnionFs::CopyUpOne).
  ino_t ino() const { return ino_.load(std::memory_order_relaxed); }
  void set_ino(ino_t ino) { ino_.store(ino, std::memory_order_relaxed); }

  std::shared_ptr<const Placement> placement() const { return placement_.load(); }
  void set_placement(std::shared_ptr<const Placement> p) {
    layer_.store(p->layer, std::memory_order_release);
    placement_.store(std::move(p));
  }
  // The top layer, cheaper than placement()->layer.
  int layer() const { return layer_.load(std::memory_order_acquire); }

  // Parent and name as last seen; used to copy up the object and its parents.
  std::shared_ptr<Node> parent() const {
    std::lock_guard lock(mu_);
    return parent_;
  }
  std::string name() const {
    std::lock_guard lock(mu_);
    return name_.str();
  }
  void set_location(std::shared_ptr<Node> parent, std::string_view name) {
    std::lock_guard lock(mu_);
    parent_ = std::move(parent);
    name_.Assign(name);
  }

  // Cached merged listing of a directory; dropped on every change inside it.
  std::shared_ptr<const Listing> listing() const {
    std::lock_guard lock(mu_);
    return listing_ ? listing_->listing : nullptr;
  }
  uint64_t listing_generation() const {
    std::lock_guard lock(mu_);
    return listing_ ? listing_->generation : 0;
  }
  // Caches `l` unless the directory changed since `generation` was read.
  void PublishListing(uint64_t generation, std::shared_ptr<const Listing> l) {
    std::lock_guard lock(mu_);
    if (generation != (listing_ ? listing_->generation : 0)) return;
    if (!listing_) listing_ = std::make_unique<ListingCache>();
    listing_->listing = std::move(l);
  }
  void InvalidateListing() {
    std::lock_guard lock(mu_);
    if (!listing_) listing_ = std::make_unique<ListingCache>();
    ++listing_->generation;
    listing_->listing.reset();
  }
  // Frees the cached listing without invalidating it: the next reader
  // rebuilds it from the layers, and a build in flight may still publish.
  void DropListing() {
    std::lock_guard lock(mu_);
    if (listing_) listing_->listing.reset();
  }

  // Whether the object has any xattr at all, learnt on the first xattr call:
  // the kernel asks for security.capability or ACLs on every write and stat.
  enum class Xattrs : int8_t { kUnknown, kNone, kSome };
  Xattrs xattrs() const { return xattrs_.load(std::memory_order_relaxed); }
  void set_xattrs(Xattrs x) { xattrs_.store(x, std::memory_order_relaxed); }

  SmallMutex& copyup_mu() { return copyup_mu_; }
  SmallMutex& ns_mu() { return ns_mu_; }

  // Kernel lookup count, managed by InodeTable.
  std::atomic<uint64_t> lookups{0};
  NodeKey key;  // guarded by the InodeTable key shard of its value

 private:
  friend class InodeTable;

  // Members ordered so that small ones pack (one of these per cached inode;
  // see bench/RESULTS.md, memory).
  const uint64_t nodeid_;
  const mode_t type_;
  mutable SmallMutex mu_;
  std::atomic<ino_t> ino_;
  std::atomic<int> layer_;
  std::atomic<Xattrs> xattrs_{Xattrs::kUnknown};
  bool keyed_ = false;  // in the table's key map; guarded like `key`
  std::atomic<std::shared_ptr<const Placement>> placement_;

  // InodeTable's: links of its two maps, the reference that keeps the node
  // alive while the kernel holds it, and the table that keyed it.
  Node* id_next_ = nullptr;
  Node* key_next_ = nullptr;
  std::shared_ptr<Node> kernel_ref_;
  InodeTable* table_ = nullptr;

  std::shared_ptr<Node> parent_ GUARDED_BY(mu_);
  CompactName name_ GUARDED_BY(mu_);
  // Directories only, made on first use: most nodes are files.
  struct ListingCache {
    std::shared_ptr<const Listing> listing;
    uint64_t generation = 0;
  };
  std::unique_ptr<ListingCache> listing_ GUARDED_BY(mu_);

  SmallMutex copyup_mu_;
  SmallMutex ns_mu_;
};

// With make_shared's 16-byte count, a node fits a 208-byte malloc chunk; a
// new member that breaks this costs every cached inode 16 bytes more.
static_assert(sizeof(Node) <= 184, "Node outgrew its allocation class");

}  // namespace strata
