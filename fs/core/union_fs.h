// UnionFs: the merged filesystem's operations, in terms of nodeids, names and
// errno values, with no FUSE types — the FUSE glue in fs/ops/ decodes a
// request, calls one of these and replies once; unit tests call them directly.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "fs/base/result.h"
#include "fs/base/thread_annotations.h"
#include "fs/base/unique_fd.h"
#include "fs/core/id_map.h"
#include "fs/core/quota.h"
#include "fs/layer/layer.h"
#include "fs/layer/tree_reaper.h"
#include "fs/node/inode_table.h"
#include "fs/node/node.h"

namespace strata {

struct UnionFsConfig {
  bool durable = true;        // fsync copy-ups and honour fsync (off: volatile)
  bool static_nlink = false;  // report nlink 1 for every directory
  bool noxattrs = false;      // refuse all xattr operations
  bool read_only = false;
  IdMap uid_map;  // stored <-> shown owners (uidmapping=, squash_to_*)
  IdMap gid_map;
  uint64_t quota_bytes = 0;  // 0: no limit
  uint64_t quota_inodes = 0;
  // Chunked copy-up (copyup=chunked): prepares a copied-up regular file
  // without its data, given the lower's stat and its path in its layer.
  std::function<Status(int tmp_fd, const struct stat& lower, const std::string& relpath)>
      chunked_init;
  // State kept outside an upper regular file (chunked copy-up's map in the
  // work directory), deleted once the file's last link is gone (unlink, or a
  // rename over it) and no open handle can use it any more: right away when
  // the kernel holds no node for the file, else when that node goes (after
  // its last handle is released; see remove_ops.cc). `chunked_has_state` is
  // the cheap check, on a name in a directory, made on every removal of an
  // upper file before anything is opened; `chunked_drop` deletes the state, given
  // an O_PATH fd on the (unlinked) file and WORKDIR's fd. Set whenever there
  // is an upper: any mount reads chunked files.
  std::function<bool(int dirfd, const char* name)> chunked_has_state;
  std::function<Status(int upper_fd, int workdir_fd)> chunked_drop;
  // Told when what the kernel caches of a node's attributes goes stale
  // without a reply carrying the new ones (a copy-up merges a directory: its
  // nlink becomes 1; a multi-link file becomes single).
  std::function<void(uint64_t nodeid)> attributes_changed;
};

// Who is asking: ownership of new objects.
struct Caller {
  uid_t uid = 0;
  gid_t gid = 0;
};

struct Entry {
  std::shared_ptr<Node> node;  // null: the name does not exist (negative entry)
  struct stat attr {};
};

// Counters, readable while the filesystem runs.
struct UnionFsStats {
  std::atomic<uint64_t> copyups{0};
  std::atomic<uint64_t> copyup_bytes{0};
  std::atomic<uint64_t> listing_hits{0};
  std::atomic<uint64_t> listing_misses{0};
};

class UnionFs {
 public:
  UnionFs(layer::LayerStack stack, UnionFsConfig config);
  ~UnionFs();  // runs the state drops still waiting (see chunked_drop)

  const layer::LayerStack& stack() const { return stack_; }
  InodeTable& table() { return *table_; }
  const UnionFsConfig& config() const { return config_; }
  // Set once the FUSE session exists (see UnionFsConfig::attributes_changed).
  void set_attributes_changed(std::function<void(uint64_t)> f) {
    config_.attributes_changed = std::move(f);
  }
  UnionFsStats& stats() { return stats_; }
  Quota& quota() { return quota_; }

  // Writes that may grow a file: claims the growth past its current size from
  // the quota (ENOSPC when over), before the write.
  struct Growth {
    int64_t charged = 0;
    off_t old_size = 0;
  };
  Result<Growth> ChargeGrowth(int fd, off_t new_end);
  // After the write: gives back what a short or failed write did not use.
  void SettleGrowth(int fd, const Growth& g);

  // The node for a nodeid the kernel holds; nullptr if stale.
  std::shared_ptr<Node> Get(uint64_t nodeid) const { return table_->Get(nodeid); }

  // --- names ---
  // A missing name is not an error: Entry.node is null. `first_lower`: see
  // layer::Resolve (a hint from a merged listing entry's layer).
  Result<Entry> Lookup(uint64_t parent, std::string_view name, int first_lower = -1);
  void Forget(uint64_t nodeid, uint64_t nlookup) {
    table_->Forget(nodeid, nlookup);
    if (pending_drop_count_.load(std::memory_order_relaxed) != 0) RunPendingDrops(false);
  }
  // An open handle let go of its node. The kernel may have sent the FORGET
  // first (RELEASE is asynchronous and another thread may still be running
  // it), so a drop waiting for that node may only be able to run now.
  void HandleReleased() {
    if (pending_drop_count_.load(std::memory_order_relaxed) != 0) RunPendingDrops(false);
  }
  Result<struct stat> GetAttr(const Node& node);
  // Attributes through an open file of the node (works after unlink too).
  Result<struct stat> GetAttrFd(const Node& node, int fd);

  // How to reach a node's object now (see Placement): a held fd, or its
  // parent's instance and its name.
  struct ObjectRef {
    std::shared_ptr<const Placement> placement;
    std::shared_ptr<const Placement> parent_placement;  // keeps `dirfd` open
    int fd = -1;
    int dirfd = -1;
    std::string name;
  };
  Result<ObjectRef> Locate(const Node& node) const;
  // lstat of the object; ESTALE when its name now holds another object.
  Result<struct stat> StatObject(const Node& node) const;
  // Opens the object (O_PATH, or real access flags), identity-checked.
  // (`st_out`, if given, receives the object's fstat: the one the identity
  // check made, so callers need not make another.)
  Result<UniqueFd> OpenObject(const Node& node, int flags, struct stat* st_out = nullptr) const;
  Result<std::string> ReadLink(const Node& node);

  Result<Entry> MkNod(const Caller& c, uint64_t parent, std::string_view name, mode_t mode,
                      dev_t rdev);
  Result<Entry> MkDir(const Caller& c, uint64_t parent, std::string_view name, mode_t mode);
  Result<Entry> Symlink(const Caller& c, uint64_t parent, std::string_view name,
                        const std::string& target);
  Result<Entry> Link(uint64_t nodeid, uint64_t newparent, std::string_view newname);
  // Creates and opens a regular file; the fd is the upper file open with `flags`.
  Result<Entry> Create(const Caller& c, uint64_t parent, std::string_view name, mode_t mode,
                       int flags, UniqueFd* fd);
  Status Unlink(uint64_t parent, std::string_view name);
  Status Rmdir(uint64_t parent, std::string_view name);
  Status Rename(uint64_t parent, std::string_view name, uint64_t newparent,
                std::string_view newname, unsigned flags);

  // --- attributes ---
  // `valid` is a mask of kSet* bits; `fd` an open upper file of the node (used
  // for truncation) or -1.
  static constexpr int kSetMode = 1, kSetUid = 2, kSetGid = 4, kSetSize = 8, kSetAtime = 16,
                       kSetMtime = 32, kSetAtimeNow = 64, kSetMtimeNow = 128, kSetCtime = 256;
  Result<struct stat> SetAttr(const std::shared_ptr<Node>& node, const struct stat& attr,
                              int valid, int fd);

  // --- files ---
  // Opens the node's real file; copies it up first when `flags` may write.
  Result<UniqueFd> Open(const std::shared_ptr<Node>& node, int flags);
  // The merged listing of a directory (cached until something changes in it).
  Result<std::shared_ptr<const Listing>> ReadDir(const std::shared_ptr<Node>& dir);
  Result<struct statvfs> StatFs();

  // --- xattrs ---
  Result<ssize_t> GetXattr(const Node& node, const char* name, void* buf, size_t size);
  Result<ssize_t> ListXattr(const Node& node, char* buf, size_t size);
  Status SetXattr(const std::shared_ptr<Node>& node, const char* name, std::string_view value,
                  int flags);
  Status RemoveXattr(const std::shared_ptr<Node>& node, const char* name);

  // The node's path from the root, as it is in its layer ("a/b/c").
  std::string RelativePath(const Node& node) const;

  // Copies the node (and its parents) up; no-op when it is upper already.
  Status CopyUp(const std::shared_ptr<Node>& node, bool with_data = true);

 private:
  std::shared_ptr<Node> MakeRoot();
  // Resolves `name` under `dir` and interns a node for it (counting a lookup).
  // Gives a non-directory node a held O_PATH fd on its object: before the name
  // it is reached by goes away (open files keep working: fstat, ftruncate),
  // and before it gets a second name (see Placement).
  void PinBeforeRemoval(const std::shared_ptr<Node>& node);
  Result<Entry> LookupIn(const std::shared_ptr<Node>& dir, std::string_view name,
                         int first_lower = -1);
  Entry Intern(const std::shared_ptr<Node>& parent, std::string_view name,
               layer::Resolved&& r);
  struct stat Attr(const Node& node, const Placement& p, const struct stat& real) const;
  std::shared_ptr<Placement> PlacementOf(const std::shared_ptr<Node>& parent, std::string_view name,
                                         layer::Resolved&& r);
  Status CopyUpOne(const std::shared_ptr<Node>& node, bool with_data);

  // The upper instance fd of a directory node that is copied up.
  Result<int> UpperDirFd(const std::shared_ptr<Node>& dir, std::shared_ptr<const Placement>* keep);
  // Makes a new object `name` in the upper directory of `parent`, replacing a
  // whiteout there atomically; `make` builds it under (dirfd, name).
  Result<Entry> CreateEntry(const Caller& c, const std::shared_ptr<Node>& parent,
                            std::string_view name, mode_t type,
                            const std::function<Status(int dirfd, const char* name)>& make,
                            bool set_owner, mode_t final_mode);
  // Removes `name` (whose resolution is `victim`) from the merged view.
  Status RemoveEntry(const std::shared_ptr<Node>& parent, const std::string& name,
                     const layer::Resolved& victim);
  void Unlinked(const std::shared_ptr<Node>& parent, const std::string& name,
                const layer::Resolved& victim);
  Result<std::shared_ptr<Node>> DirNode(uint64_t nodeid);

  // Last link of an upper file going away (see UnionFsConfig::chunked_drop).
  // Before the removal: an O_PATH fd on `name` in `dirfd` when it is a
  // regular file with one link and state to drop (else invalid).
  UniqueFd HoldForDrop(int dirfd, const std::string& name, const struct stat& st) const;
  // After it: drops the state now, or once `node` (the kernel's node for the
  // file, may be null) is gone, if the file really has no link left.
  void DropWhenUnused(const std::shared_ptr<Node>& node, UniqueFd held);
  // Runs the waiting drops whose node is gone (all of them when `all`).
  void RunPendingDrops(bool all);
  void RunDrop(int fd);

  layer::LayerStack stack_;
  layer::TreeReaper reaper_;  // after stack_: uses its work directory fd
  UnionFsConfig config_;
  std::unique_ptr<InodeTable> table_;
  UnionFsStats stats_;
  Quota quota_;
  std::mutex rename_mu_;  // cross-directory renames (lock order: see node.h)

  struct PendingDrop {
    std::weak_ptr<Node> node;
    UniqueFd fd;  // O_PATH on the unlinked file
  };
  std::mutex drops_mu_;  // leaf; never held while a drop runs
  std::vector<PendingDrop> pending_drops_ GUARDED_BY(drops_mu_);
  std::atomic<size_t> pending_drop_count_{0};  // pending_drops_.size()
};

}  // namespace strata
