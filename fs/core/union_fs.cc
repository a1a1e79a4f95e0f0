// UnionFs: construction, lookup, attributes, listings and copy-up of nodes.
#include "fs/core/union_fs.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "fs/copyup/copy_up.h"
#include "fs/core/node_keys.h"
#include "fs/sys/syscalls.h"

namespace strata {

UnionFs::UnionFs(layer::LayerStack stack, UnionFsConfig config)
    : stack_(std::move(stack)),
      reaper_(stack_.workdir_fd()),
      config_(config), quota_(config.quota_bytes, config.quota_inodes) {
  if (!stack_.has_upper()) config_.read_only = true;
  table_ = std::make_unique<InodeTable>(MakeRoot());
}

std::shared_ptr<Node> UnionFs::MakeRoot() {
  auto p = std::make_shared<Placement>();
  for (size_t i = 0; i < stack_.size(); ++i) {
    auto inst = layer::OpenDirInstance(static_cast<int>(i), stack_.at(i).root.get(), ".");
    if (!inst.ok()) continue;  // checked readable at start-up; keep going
    // Every layer's root merges: kernel overlayfs ignores an opaque root.
    p->dirs.push_back(std::move(*inst));
  }
  p->layer = p->dirs.empty() ? 0 : p->dirs.front().layer;
  const layer::Layer& bottom = stack_.at(stack_.size() - 1);
  ino_t ino = stack_.ReportedIno(static_cast<int>(stack_.size() - 1), bottom.root_ino);
  auto root = std::shared_ptr<Node>(new Node(InodeTable::kRootId, S_IFDIR, ino, std::move(p)));
  return root;
}

Result<std::shared_ptr<Node>> UnionFs::DirNode(uint64_t nodeid) {
  auto node = table_->Get(nodeid);
  if (!node) return Errno(ESTALE);
  if (!node->is_dir()) return Errno(ENOTDIR);
  return node;
}

struct stat UnionFs::Attr(const Node& node, const Placement& p, const struct stat& real) const {
  struct stat st = real;
  st.st_ino = node.ino();
  st.st_uid = config_.uid_map.ToShown(st.st_uid);
  st.st_gid = config_.gid_map.ToShown(st.st_gid);
  if (S_ISDIR(st.st_mode) && (p.merged() || config_.static_nlink)) st.st_nlink = 1;
  return st;
}

Entry UnionFs::Intern(const std::shared_ptr<Node>& parent, std::string_view name,
                      layer::Resolved&& r) {
  const NodeKey key = KeyOf(stack_, *parent, name, r);
  const struct stat real = r.st;
  const ino_t ino = r.ino;
  const int layer_of_r = r.layer;
  auto node = table_->LookupOrInsert(
      key,
      [&](uint64_t id) {
        auto n = std::make_shared<Node>(id, real.st_mode & S_IFMT, ino,
                                        PlacementOf(parent, name, std::move(r)));
        n->set_location(parent, std::string(name));
        return n;
      },
      [&](const Node& existing) {
        // A directory or a held fd pins its inode; a non-directory reached by
        // name does not, and its number may now belong to another object.
        auto p = existing.placement();
        if (existing.is_dir() || p->fd.valid()) return true;
        return p->layer == layer_of_r && existing.parent() == parent && existing.name() == name;
      });
  auto p = node->placement();
  return Entry{node, Attr(*node, *p, real)};
}

std::shared_ptr<Placement> UnionFs::PlacementOf(const std::shared_ptr<Node>& parent,
                                                std::string_view name, layer::Resolved&& r) {
  auto p = std::make_shared<Placement>();
  p->layer = r.layer;
  p->dev = r.st.st_dev;
  p->real_ino = r.st.st_ino;
  p->dirs = std::move(r.dirs);
  const bool upper = stack_.has_upper() && r.layer == layer::LayerStack::kUpper;
  if (upper && !S_ISDIR(r.st.st_mode) && r.st.st_nlink > 1) {
    // Several names: hold the inode itself (see Placement).
    const std::string n(name);
    for (const auto& d : parent->placement()->dirs) {
      if (d.layer != r.layer) continue;
      auto fd = sys::OpenAt(d.fd.get(), n.c_str(), O_PATH);
      if (fd.ok()) {
        auto st = sys::StatFd(fd->get());
        if (st.ok() && st->st_ino == p->real_ino && st->st_dev == p->dev) p->fd = std::move(*fd);
      }
      break;
    }
  }
  return p;
}

Result<Entry> UnionFs::LookupIn(const std::shared_ptr<Node>& dir, std::string_view name,
                                int first_lower) {
  if (!dir->is_dir()) return Errno(ENOTDIR);
  if (name.size() > NAME_MAX) return Errno(ENAMETOOLONG);
  auto p = dir->placement();
  auto r = layer::Resolve(stack_, p->dirs, name, first_lower);
  if (!r.ok()) return Errno(r.error());
  if (!r->has_value()) return Entry{};
  return Intern(dir, name, std::move(**r));
}

Result<Entry> UnionFs::Lookup(uint64_t parent, std::string_view name, int first_lower) {
  auto dir = DirNode(parent);
  if (!dir.ok()) return Errno(dir.error());
  return LookupIn(*dir, name, first_lower);
}

Result<struct stat> UnionFs::GetAttr(const Node& node) {
  auto p = node.placement();
  auto st = StatObject(node);
  if (!st.ok()) return Errno(st.error());
  return Attr(node, *p, *st);
}

Result<struct stat> UnionFs::GetAttrFd(const Node& node, int fd) {
  auto st = sys::StatFd(fd);
  if (!st.ok()) return Errno(st.error());
  return Attr(node, *node.placement(), *st);
}

Result<std::string> UnionFs::ReadLink(const Node& node) {
  if (!S_ISLNK(node.type())) return Errno(EINVAL);
  auto fd = OpenObject(node, O_PATH);
  if (!fd.ok()) return Errno(fd.error());
  return sys::ReadLinkFd(fd->get());
}

Result<std::shared_ptr<const Listing>> UnionFs::ReadDir(const std::shared_ptr<Node>& dir) {
  if (!dir->is_dir()) return Errno(ENOTDIR);
  if (auto cached = dir->listing()) {
    stats_.listing_hits.fetch_add(1, std::memory_order_relaxed);
    return cached;
  }
  stats_.listing_misses.fetch_add(1, std::memory_order_relaxed);
  const uint64_t generation = dir->listing_generation();
  auto p = dir->placement();
  auto list = layer::ListMerged(stack_, p->dirs);
  if (!list.ok()) return Errno(list.error());
  auto shared = std::make_shared<const Listing>(std::move(*list));
  dir->PublishListing(generation, shared);
  return shared;
}

Result<struct statvfs> UnionFs::StatFs() {
  struct statvfs sv;
  if (::fstatvfs(stack_.at(0).root.get(), &sv) < 0) return Errno::Last();
  if (quota_.max_bytes()) {
    // The quota is the filesystem's size as far as the container can tell.
    const uint64_t bsize = sv.f_frsize ? sv.f_frsize : 4096;
    const uint64_t used = quota_.used_bytes();
    const uint64_t max = quota_.max_bytes();
    const uint64_t free_blocks = (max > used ? max - used : 0) / bsize;
    sv.f_blocks = max / bsize;
    sv.f_bfree = std::min<uint64_t>(sv.f_bfree, free_blocks);
    sv.f_bavail = std::min<uint64_t>(sv.f_bavail, free_blocks);
  }
  if (quota_.max_inodes()) {
    const uint64_t used = quota_.used_inodes();
    const uint64_t max = quota_.max_inodes();
    sv.f_files = max;
    sv.f_ffree = std::min<uint64_t>(sv.f_ffree, max > used ? max - used : 0);
    sv.f_favail = sv.f_ffree;
  }
  return sv;
}

Result<int> UnionFs::UpperDirFd(const std::shared_ptr<Node>& dir,
                                std::shared_ptr<const Placement>* keep) {
  *keep = dir->placement();
  const Placement& p = **keep;
  if (!stack_.has_upper() || p.dirs.empty() || p.dirs.front().layer != layer::LayerStack::kUpper)
    return Errno(EIO);
  return p.dirs.front().fd.get();
}

Status UnionFs::CopyUp(const std::shared_ptr<Node>& node, bool with_data) {
  if (config_.read_only) return Errno(EROFS);
  if (node->layer() == layer::LayerStack::kUpper) return Status::Ok();
  // Parents first, from the root down; each completes before its child starts.
  auto parent = node->parent();
  if (!parent) return Errno(EIO);  // the root always has an upper instance
  STRATA_RETURN_IF_ERROR(CopyUp(parent, true));
  return CopyUpOne(node, with_data);
}

Status UnionFs::CopyUpOne(const std::shared_ptr<Node>& node, bool with_data) {
  std::lock_guard lock(node->copyup_mu());
  auto p = node->placement();
  if (p->layer == layer::LayerStack::kUpper) return Status::Ok();  // raced, done already

  std::shared_ptr<const Placement> parent_placement;
  auto upper_parent = UpperDirFd(node->parent(), &parent_placement);
  if (!upper_parent.ok()) return Errno(upper_parent.error());
  UniqueFd src_holder;
  int src_fd;
  bool src_readable = false;
  struct stat src_st;
  if (node->is_dir()) {
    src_fd = p->dirs.front().fd.get();
    auto st = sys::StatFd(src_fd);
    if (!st.ok()) return Errno(st.error());
    src_st = *st;
  } else {
    // A regular file whose data is copied is opened for reading at once
    // (O_NONBLOCK: never wait on a fifo that took its place): copy-up reads
    // its data and xattrs from this fd instead of reopening an O_PATH one
    // through /proc, two path walks less per copy-up. Where the daemon may
    // not read it (rootless, mode 0200), O_PATH as before.
    Result<UniqueFd> opened = Errno(EACCES);
    if (S_ISREG(node->type()) && with_data)
      opened = OpenObject(*node, O_RDONLY | O_NONBLOCK, &src_st);
    src_readable = opened.ok();
    if (!opened.ok() && (opened.error() == EACCES || opened.error() == EPERM))
      opened = OpenObject(*node, O_PATH, &src_st);
    if (!opened.ok()) return Errno(opened.error());
    src_holder = std::move(*opened);
    src_fd = src_holder.get();
  }
  // The parent does not change in the merged view: keep its times (kernel too).
  auto parent_st = sys::StatFd(*upper_parent);
  if (!parent_st.ok()) return Errno(parent_st.error());
  // A lower file with several links becomes a file of its own: like the
  // kernel without index=on, it then reports the upper inode number.
  const bool keeps_ino = node->is_dir() || src_st.st_nlink <= 1;
  const std::string name = node->name();

  // The copy costs its data (unless truncated away) and one inode.
  const int64_t bytes = (with_data || !S_ISREG(src_st.st_mode)) ? QuotaBytes(src_st) : 0;
  STRATA_RETURN_IF_ERROR(quota_.Charge(bytes, 1));
  copyup::CopyUpRequest req;
  req.src_fd = src_fd;
  req.src_readable = src_readable;
  req.st = src_st;
  req.upper_parent = *upper_parent;
  req.name = name.c_str();
  req.workdir = stack_.workdir_fd();
  req.with_data = with_data;
  req.durable = config_.durable;
  req.origin_ino = keeps_ino ? node->ino() : 0;
  req.origins = &stack_.origins();
  if (config_.chunked_init && S_ISREG(src_st.st_mode) && with_data) {
    const struct stat lower_st = src_st;
    req.init_without_data = [this, &node, lower_st](int tmp_fd) {
      return config_.chunked_init(tmp_fd, lower_st, RelativePath(*node));
    };
  }
  auto done = copyup::CopyUp(req);
  if (!done.ok()) {
    quota_.Refund(bytes, 1);
    // Nothing else tells the administrator which file a failing disk below
    // took down (the caller only sees the errno).
    if (done.error() == EIO)
      spdlog::warn("copy-up of '{}' from layer {} failed: {}", RelativePath(*node), p->layer,
                   std::strerror(EIO));
    return Errno(done.error());
  }
  const struct timespec parent_times[2] = {parent_st->st_atim, parent_st->st_mtim};
  ::futimens(*upper_parent, parent_times);
  if (!keeps_ino) node->set_ino(stack_.ReportedIno(layer::LayerStack::kUpper, done->st.st_ino));
  const bool attrs_change = node->is_dir() ? p->dirs.size() == 1 : !keeps_ino;

  auto np = std::make_shared<Placement>();
  np->layer = layer::LayerStack::kUpper;
  np->dev = done->st.st_dev;
  np->real_ino = done->st.st_ino;
  if (node->is_dir()) {
    np->dirs.push_back(layer::DirInstance{layer::LayerStack::kUpper, std::move(done->fd), {}});
    // The copy starts empty and no `.wh.*` name is ever made through the
    // mount, save by the rootless fallback for whiteouts (MakeWhiteout):
    // lookups in it need not probe for one, nor below (what the listing
    // learnt of the lower instances stays true, they never change). Two
    // fstatat less per lookup and per unlink under a copied-up directory.
    if (stack_.markers() == layer::MarkerNamespace::kTrusted)
      np->dirs.front().oci_whiteouts.store(layer::DirInstance::kNoWhiteoutFiles,
                                           std::memory_order_relaxed);
    for (const auto& d : p->dirs) {
      auto dup = sys::Dup(d.fd.get());
      if (!dup.ok()) return Errno(dup.error());
      layer::DirInstance inst{d.layer, std::move(*dup), d.markers};
      inst.oci_whiteouts.store(d.oci_whiteouts.load(std::memory_order_relaxed),
                               std::memory_order_relaxed);
      np->dirs.push_back(std::move(inst));
    }
  }
  node->set_placement(std::move(np));
  table_->Rekey(node, NodeKey{done->st.st_dev, done->st.st_ino, 0});
  if (attrs_change && config_.attributes_changed) config_.attributes_changed(node->nodeid());
  stats_.copyups.fetch_add(1, std::memory_order_relaxed);
  stats_.copyup_bytes.fetch_add(done->bytes_copied, std::memory_order_relaxed);
  return Status::Ok();
}

std::string UnionFs::RelativePath(const Node& node) const {
  std::vector<std::string> names;
  names.push_back(node.name());
  for (auto p = node.parent(); p && p->parent(); p = p->parent()) names.push_back(p->name());
  std::string out;
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    if (!out.empty()) out += '/';
    out += *it;
  }
  return out;
}

Result<UnionFs::Growth> UnionFs::ChargeGrowth(int fd, off_t new_end) {
  if (!quota_.max_bytes()) return Growth{};
  auto st = sys::StatFd(fd);
  if (!st.ok()) return Errno(st.error());
  Growth g{new_end > st->st_size ? new_end - st->st_size : 0, st->st_size};
  if (g.charged > 0) STRATA_RETURN_IF_ERROR(quota_.Charge(g.charged, 0));
  return g;
}

void UnionFs::SettleGrowth(int fd, const Growth& g) {
  if (g.charged <= 0) return;
  auto st = sys::StatFd(fd);
  const int64_t used = st.ok() && st->st_size > g.old_size ? st->st_size - g.old_size : 0;
  if (used < g.charged) quota_.Refund(g.charged - used, 0);
}

}  // namespace strata
