// UnionFs: reaching a node's object — through a held fd, or as (parent
// instance, name) checked against the object's identity.
#include <fcntl.h>
#include <unistd.h>

#include "fs/core/union_fs.h"
#include "fs/sys/syscalls.h"

namespace strata {

Result<UnionFs::ObjectRef> UnionFs::Locate(const Node& node) const {
  ObjectRef ref;
  ref.placement = node.placement();
  const Placement& p = *ref.placement;
  if (!p.dirs.empty()) {
    ref.fd = p.dirs.front().fd.get();
    return ref;
  }
  if (p.fd.valid()) {
    ref.fd = p.fd.get();
    return ref;
  }
  auto parent = node.parent();
  if (!parent) return Errno(ESTALE);
  ref.parent_placement = parent->placement();
  for (const auto& d : ref.parent_placement->dirs) {
    if (d.layer == p.layer) {
      ref.dirfd = d.fd.get();
      ref.name = node.name();
      return ref;
    }
  }
  return Errno(ESTALE);
}

Result<struct stat> UnionFs::StatObject(const Node& node) const {
  auto ref = Locate(node);
  if (!ref.ok()) return Errno(ref.error());
  if (ref->fd >= 0) return sys::StatFd(ref->fd);
  auto st = sys::StatAt(ref->dirfd, ref->name.c_str());
  if (!st.ok()) return Errno(st.error() == ENOENT ? ESTALE : st.error());
  if (st->st_ino != ref->placement->real_ino || st->st_dev != ref->placement->dev)
    return Errno(ESTALE);
  return st;
}

Result<UniqueFd> UnionFs::OpenObject(const Node& node, int flags, struct stat* st_out) const {
  auto ref = Locate(node);
  if (!ref.ok()) return Errno(ref.error());
  if (ref->fd >= 0) {
    Result<UniqueFd> fd = flags == O_PATH ? sys::Dup(ref->fd) : sys::Reopen(ref->fd, flags);
    if (!fd.ok()) return fd;
    if (st_out) {
      auto st = sys::StatFd(fd->get());
      if (!st.ok()) return Errno(st.error());
      *st_out = *st;
    }
    return fd;
  }
  auto fd = sys::OpenAt(ref->dirfd, ref->name.c_str(), flags);
  if (!fd.ok()) return Errno(fd.error() == ENOENT ? ESTALE : fd.error());
  auto st = sys::StatFd(fd->get());
  if (!st.ok()) return Errno(st.error());
  if (st->st_ino != ref->placement->real_ino || st->st_dev != ref->placement->dev)
    return Errno(ESTALE);
  if (st_out) *st_out = *st;
  return std::move(*fd);
}

void UnionFs::PinBeforeRemoval(const std::shared_ptr<Node>& node) {
  if (!node || node->is_dir()) return;
  auto old = node->placement();
  if (old->fd.valid()) return;
  auto fd = OpenObject(*node, O_PATH);
  if (!fd.ok()) return;
  auto np = std::make_shared<Placement>();
  np->layer = old->layer;
  np->dev = old->dev;
  np->real_ino = old->real_ino;
  np->fd = std::move(*fd);
  node->set_placement(std::move(np));
}

}  // namespace strata
