// UnionFs: rename, with kernel overlayfs' rules (redirect_dir=off): files copy
// up first; a directory that has a lower instance cannot move (EXDEV, so `mv`
// copies); a moved directory landing where a lower layer has the name turns
// opaque; a name a lower layer still provides leaves a whiteout behind.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/core/node_keys.h"
#include "fs/core/union_fs.h"
#include "fs/layer/merged_dir.h"
#include "fs/layer/origin_map.h"
#include "fs/layer/whiteout.h"
#include "fs/layer/work_dir.h"
#include "fs/sys/syscalls.h"

namespace strata {

namespace {

bool IsPureUpperDir(const layer::Resolved& r) {
  return r.layer == layer::LayerStack::kUpper && r.dirs.size() == 1;
}

}  // namespace

Status UnionFs::Rename(uint64_t parent, std::string_view name_view, uint64_t newparent,
                       std::string_view newname_view, unsigned flags) {
  if (config_.read_only) return Errno(EROFS);
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) return Errno(EINVAL);
  if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE)) return Errno(EINVAL);
  const bool exchange = flags & RENAME_EXCHANGE;
  if (!sys::IsPlainName(newname_view) || layer::IsWhiteoutFileName(newname_view))
    return Errno(EINVAL);
  if (newname_view.size() > NAME_MAX) return Errno(ENAMETOOLONG);
  const std::string name(name_view), newname(newname_view);

  auto src_dir = DirNode(parent);
  if (!src_dir.ok()) return Errno(src_dir.error());
  auto dst_dir = DirNode(newparent);
  if (!dst_dir.ok()) return Errno(dst_dir.error());
  const bool same_dir = *src_dir == *dst_dir;

  // Lock order: rename_mu_, then directories by nodeid.
  std::unique_lock<std::mutex> cross;
  std::unique_lock<SmallMutex> first, second;
  if (!same_dir) {
    cross = std::unique_lock(rename_mu_);
    Node* a = src_dir->get();
    Node* b = dst_dir->get();
    if (a->nodeid() > b->nodeid()) std::swap(a, b);
    first = std::unique_lock(a->ns_mu());
    second = std::unique_lock(b->ns_mu());
  } else {
    first = std::unique_lock((*src_dir)->ns_mu());
  }

  auto src = layer::Resolve(stack_, (*src_dir)->placement()->dirs, name);
  if (!src.ok()) return Errno(src.error());
  if (!src->has_value()) return Errno(ENOENT);
  auto dst = layer::Resolve(stack_, (*dst_dir)->placement()->dirs, newname);
  if (!dst.ok()) return Errno(dst.error());
  layer::Resolved& s = **src;
  const bool src_is_dir = S_ISDIR(s.st.st_mode);
  const bool dst_exists = dst->has_value();

  if (exchange && !dst_exists) return Errno(ENOENT);
  if ((flags & RENAME_NOREPLACE) && dst_exists) return Errno(EEXIST);
  if (src_is_dir && !IsPureUpperDir(s)) return Errno(EXDEV);
  if (dst_exists) {
    layer::Resolved& d = **dst;
    const bool dst_is_dir = S_ISDIR(d.st.st_mode);
    if (d.st.st_dev == s.st.st_dev && d.st.st_ino == s.st.st_ino) return Status::Ok();
    if (exchange) {
      if (dst_is_dir && !IsPureUpperDir(d)) return Errno(EXDEV);
    } else {
      if (src_is_dir && !dst_is_dir) return Errno(ENOTDIR);
      if (!src_is_dir && dst_is_dir) return Errno(EISDIR);
      if (dst_is_dir) {
        auto entries = layer::ListMerged(stack_, d.dirs);
        if (!entries.ok()) return Errno(entries.error());
        if (!entries->empty()) return Errno(ENOTEMPTY);
      }
    }
  }

  // Copy up both directories and the objects that move.
  STRATA_RETURN_IF_ERROR(CopyUp(*src_dir));
  STRATA_RETURN_IF_ERROR(CopyUp(*dst_dir));
  auto src_node = table_->Find(KeyOf(stack_, **src_dir, name, s));
  auto copy_up_victim = [&](layer::Resolved& r, const std::shared_ptr<Node>& dir,
                            const std::string& n, std::shared_ptr<Node>* node) -> Status {
    if (r.layer == layer::LayerStack::kUpper) return Status::Ok();
    if (!*node) {
      // Nobody holds a node for it: make a transient one to copy it up.
      auto e = Intern(dir, n, std::move(r));
      *node = e.node;
      STRATA_RETURN_IF_ERROR(CopyUp(*node));
      table_->Forget((*node)->nodeid(), 1);
      return Status::Ok();
    }
    return CopyUp(*node);
  };
  STRATA_RETURN_IF_ERROR(copy_up_victim(s, *src_dir, name, &src_node));
  std::shared_ptr<Node> dst_node;
  if (dst_exists) dst_node = table_->Find(KeyOf(stack_, **dst_dir, newname, **dst));
  if (!exchange && dst_exists && (**dst).layer == layer::LayerStack::kUpper) PinBeforeRemoval(dst_node);
  if (exchange) STRATA_RETURN_IF_ERROR(copy_up_victim(**dst, *dst_dir, newname, &dst_node));

  std::shared_ptr<const Placement> keep_src, keep_dst;
  auto src_fd = UpperDirFd(*src_dir, &keep_src);
  if (!src_fd.ok()) return Errno(src_fd.error());
  auto dst_fd = UpperDirFd(*dst_dir, &keep_dst);
  if (!dst_fd.ok()) return Errno(dst_fd.error());
  const int workfd = stack_.workdir_fd();

  auto src_lower = layer::LowerHasName(stack_, keep_src->dirs, name);
  if (!src_lower.ok()) return Errno(src_lower.error());
  auto dst_lower = layer::LowerHasName(stack_, keep_dst->dirs, newname);
  if (!dst_lower.ok()) return Errno(dst_lower.error());

  // A directory landing where a lower layer has the name must hide it.
  auto make_opaque = [&](int dirfd, const char* n) -> Status {
    auto d = sys::OpenAt(dirfd, n, O_RDONLY | O_DIRECTORY);
    if (!d.ok()) return Errno(d.error());
    auto m = layer::ReadDirMarkers(d->get());
    if (m.ok() && m->opaque) return Status::Ok();
    return layer::SetOpaque(d->get(), stack_.markers());
  };
  if (src_is_dir && *dst_lower) STRATA_RETURN_IF_ERROR(make_opaque(*src_fd, name.c_str()));

  struct stat ust;
  const bool dst_in_upper = ::fstatat(*dst_fd, newname.c_str(), &ust, AT_SYMLINK_NOFOLLOW) == 0;
  // A replaced upper file may be losing its last link.
  UniqueFd held;
  if (!exchange && dst_exists && dst_in_upper && (**dst).layer == layer::LayerStack::kUpper)
    held = HoldForDrop(*dst_fd, newname, ust);

  if (exchange) {
    if (dst_exists && S_ISDIR((**dst).st.st_mode) && *src_lower)
      STRATA_RETURN_IF_ERROR(make_opaque(*dst_fd, newname.c_str()));
    STRATA_RETURN_IF_ERROR(
        sys::RenameAt2(*src_fd, name.c_str(), *dst_fd, newname.c_str(), RENAME_EXCHANGE));
  } else {
    if (dst_exists && dst_in_upper && S_ISDIR(ust.st_mode)) {
      // The target directory is empty in the merged view but may hold
      // whiteouts: swap in an empty one so the rename below can replace it.
      const std::string tmp = layer::NewTempName();
      if (::mkdirat(workfd, tmp.c_str(), 0700) < 0) return Errno::Last();
      Status x = sys::RenameAt2(workfd, tmp.c_str(), *dst_fd, newname.c_str(), RENAME_EXCHANGE);
      if (!x.ok()) {
        ::unlinkat(workfd, tmp.c_str(), AT_REMOVEDIR);
        return x;
      }
      reaper_.Remove(tmp);
    }
    if (!dst_exists && dst_in_upper) {
      // The upper holds a whiteout at the target: trade places with it, and
      // keep it at the old name only if a lower layer still has that name.
      STRATA_RETURN_IF_ERROR(
          sys::RenameAt2(*src_fd, name.c_str(), *dst_fd, newname.c_str(), RENAME_EXCHANGE));
      if (!*src_lower) ::unlinkat(*src_fd, name.c_str(), 0);
    } else if (*src_lower) {
      Status r = sys::RenameAt2(*src_fd, name.c_str(), *dst_fd, newname.c_str(), RENAME_WHITEOUT);
      if (!r.ok() && r.error() == EINVAL) {
        // No RENAME_WHITEOUT on this filesystem: two steps.
        STRATA_RETURN_IF_ERROR(sys::RenameAt2(*src_fd, name.c_str(), *dst_fd, newname.c_str(), 0));
        STRATA_RETURN_IF_ERROR(layer::MakeWhiteout(*src_fd, name.c_str(), stack_.markers(), stack_.workdir_fd()));
      } else if (!r.ok()) {
        return r;
      }
    } else {
      STRATA_RETURN_IF_ERROR(sys::RenameAt2(*src_fd, name.c_str(), *dst_fd, newname.c_str(), 0));
    }
    if (dst_node && (S_ISDIR(dst_node->type()) || (**dst).st.st_nlink <= 1 ||
                     (**dst).layer != layer::LayerStack::kUpper))
      table_->Unkey(dst_node);
    // Quota: a replaced upper object goes; a whiteout left behind costs an inode.
    int64_t bytes = 0, inodes = 0;
    if (dst_exists && dst_in_upper && (**dst).layer == layer::LayerStack::kUpper &&
        (S_ISDIR(ust.st_mode) || ust.st_nlink <= 1)) {
      bytes += QuotaBytes(ust);
      inodes += 1;
      if (!S_ISDIR(ust.st_mode)) layer::RemoveOrigin(stack_.origins(), ust.st_ino);
    }
    if (!dst_exists && dst_in_upper && !*src_lower) inodes += 1;  // the whiteout it replaced
    if (*src_lower && !(!dst_exists && dst_in_upper)) inodes -= 1;  // a new whiteout
    quota_.Refund(bytes, inodes);
    DropWhenUnused(dst_node, std::move(held));
  }

  if (src_node) src_node->set_location(*dst_dir, newname);
  if (exchange && dst_node) dst_node->set_location(*src_dir, name);
  (*src_dir)->InvalidateListing();
  (*dst_dir)->InvalidateListing();
  return Status::Ok();
}

}  // namespace strata
