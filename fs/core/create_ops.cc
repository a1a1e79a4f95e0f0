// UnionFs: making new names — mknod, mkdir, symlink, create, link.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/base/scope_guard.h"
#include "fs/core/union_fs.h"
#include "fs/layer/whiteout.h"
#include "fs/layer/work_dir.h"
#include "fs/sys/syscalls.h"

namespace strata {

namespace {

Status CheckNewName(std::string_view name) {
  if (!sys::IsPlainName(name)) return Errno(EINVAL);
  if (name.size() > NAME_MAX) return Errno(ENAMETOOLONG);
  // `.wh.*` names are layer metadata: created here they would delete a sibling.
  if (layer::IsWhiteoutFileName(name)) return Errno(EPERM);
  return Status::Ok();
}

}  // namespace

Result<Entry> UnionFs::CreateEntry(const Caller& c, const std::shared_ptr<Node>& parent,
                                   std::string_view name_view, mode_t type,
                                   const std::function<Status(int, const char*)>& make,
                                   bool set_owner, mode_t final_mode) {
  if (config_.read_only) return Errno(EROFS);
  STRATA_RETURN_IF_ERROR(CheckNewName(name_view));
  const std::string name(name_view);
  std::lock_guard ns(parent->ns_mu());

  auto existing = layer::Resolve(stack_, parent->placement()->dirs, name);
  if (!existing.ok()) return Errno(existing.error());
  if (existing->has_value()) return Errno(EEXIST);

  STRATA_RETURN_IF_ERROR(CopyUp(parent));
  std::shared_ptr<const Placement> keep;
  auto upper = UpperDirFd(parent, &keep);
  if (!upper.ok()) return Errno(upper.error());
  const int upperfd = *upper;
  const int workfd = stack_.workdir_fd();

  // Anything in the upper under a name that resolves to nothing is a whiteout:
  // the new object replaces it in one rename, as the kernel does.
  struct stat wst;
  const bool over_whiteout = ::fstatat(upperfd, name.c_str(), &wst, AT_SYMLINK_NOFOLLOW) == 0;
  // (A directory made through the mount is known to hold no `.wh.*` name.)
  const layer::DirInstance& top = keep->dirs.front();
  const bool oci_whiteout = (top.layer != layer::LayerStack::kUpper || top.MayHaveWhiteoutFiles()) &&
                            layer::HasWhiteoutFile(upperfd, name);
  const std::string tmp = over_whiteout ? layer::NewTempName() : name;
  const int dirfd = over_whiteout ? workfd : upperfd;

  STRATA_RETURN_IF_ERROR(make(dirfd, tmp.c_str()));
  ScopeGuard undo([&] { (void)layer::RemoveTree(dirfd, tmp.c_str()); });
  if (quota_.enabled()) {
    // A new name costs an inode (a hard link does not) and a symlink its
    // target; replacing a whiteout frees the whiteout's inode.
    auto st = sys::StatAt(dirfd, tmp.c_str());
    if (!st.ok()) return Errno(st.error());
    const int64_t inodes = (set_owner ? 1 : 0) - (over_whiteout ? 1 : 0);
    const int64_t bytes = set_owner ? QuotaBytes(*st) : 0;
    STRATA_RETURN_IF_ERROR(quota_.Charge(bytes, inodes));
  }

  if (set_owner) {
    auto pst = sys::StatFd(upperfd);
    if (!pst.ok()) return Errno(pst.error());
    // A set-group-ID directory hands its group down (the filesystem below did
    // that already for our root-owned creation; keep it when we chown).
    const uid_t uid = config_.uid_map.ToStored(c.uid);
    const gid_t gid = (pst->st_mode & S_ISGID) ? pst->st_gid : config_.gid_map.ToStored(c.gid);
    if (::fchownat(dirfd, tmp.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) < 0) return Errno::Last();
    mode_t mode = final_mode & 07777;
    // Like inode_init_owner: no set-group-ID file for a group the caller is not in.
    if (!S_ISDIR(type) && (mode & S_ISGID) && c.uid != 0 && gid != config_.gid_map.ToStored(c.gid))
      mode &= ~S_ISGID;
    // chown cleared set-ID bits; put back exactly what was asked.
    if (!S_ISLNK(type) && (mode & (S_ISUID | S_ISGID)) &&
        ::fchmodat(dirfd, tmp.c_str(), mode, 0) < 0)
      return Errno::Last();
  }
  if (S_ISDIR(type) && (over_whiteout || oci_whiteout)) {
    // Created where something was deleted: must not merge with what was below.
    auto d = sys::OpenAt(dirfd, tmp.c_str(), O_RDONLY | O_DIRECTORY);
    if (!d.ok()) return Errno(d.error());
    STRATA_RETURN_IF_ERROR(layer::SetOpaque(d->get(), stack_.markers()));
  }
  if (over_whiteout) {
    STRATA_RETURN_IF_ERROR(
        sys::RenameAt2(workfd, tmp.c_str(), upperfd, name.c_str(), RENAME_EXCHANGE));
    // `tmp` in the work directory now names the old whiteout.
    undo.Dismiss();
    (void)layer::RemoveTree(workfd, tmp.c_str());
  } else {
    undo.Dismiss();
  }
  if (oci_whiteout) {
    std::string wh = std::string(layer::kWhiteoutPrefix) + name;
    ::unlinkat(upperfd, wh.c_str(), 0);
  }
  parent->InvalidateListing();

  if (set_owner && !S_ISDIR(type) && !stack_.origins().map_in_use) {
    // A new non-directory (not a link: that inode may carry an origin) is its
    // upper object alone, and has no origin to look up (origins live on
    // objects, and this one is new): its stat says everything Resolve would find.
    auto st = sys::StatAt(upperfd, name.c_str());
    if (!st.ok()) return Errno(st.error());
    layer::Resolved made;
    made.layer = layer::LayerStack::kUpper;
    made.st = *st;
    made.ino = stack_.ReportedIno(made.layer, st->st_ino);
    return Intern(parent, name, std::move(made));
  }
  auto r = layer::Resolve(stack_, keep->dirs, name);
  if (!r.ok()) return Errno(r.error());
  if (!r->has_value()) return Errno(EIO);
  return Intern(parent, name, std::move(**r));
}

Result<Entry> UnionFs::MkNod(const Caller& c, uint64_t parent, std::string_view name, mode_t mode,
                             dev_t rdev) {
  auto dir = DirNode(parent);
  if (!dir.ok()) return Errno(dir.error());
  // A 0/0 character device is a whiteout: it would delete the name it makes.
  if (S_ISCHR(mode) && rdev == 0) return Errno(EPERM);
  const mode_t type = mode & S_IFMT;
  return CreateEntry(
      c, *dir, name, type,
      [&](int dirfd, const char* n) -> Status {
        if (::mknodat(dirfd, n, mode, rdev) < 0) return Errno::Last();
        return Status::Ok();
      },
      true, mode);
}

Result<Entry> UnionFs::MkDir(const Caller& c, uint64_t parent, std::string_view name, mode_t mode) {
  auto dir = DirNode(parent);
  if (!dir.ok()) return Errno(dir.error());
  auto e = CreateEntry(
      c, *dir, name, S_IFDIR,
      [&](int dirfd, const char* n) -> Status {
        if (::mkdirat(dirfd, n, mode & 07777) < 0) return Errno::Last();
        return Status::Ok();
      },
      true, mode);
  if (!e.ok()) return e;
  // A directory made here holds only what is made through the mount, and no
  // `.wh.*` name ever is (CheckNewName, Rename): lookups in it need not probe
  // for one. It is one upper instance (a lower one would have been EEXIST or,
  // under a whiteout, made it opaque).
  auto p = e->node->placement();
  if (p->dirs.size() == 1 && p->dirs.front().layer == layer::LayerStack::kUpper)
    p->dirs.front().oci_whiteouts.store(layer::DirInstance::kNoWhiteoutFiles,
                                        std::memory_order_relaxed);
  return e;
}

Result<Entry> UnionFs::Symlink(const Caller& c, uint64_t parent, std::string_view name,
                               const std::string& target) {
  auto dir = DirNode(parent);
  if (!dir.ok()) return Errno(dir.error());
  return CreateEntry(
      c, *dir, name, S_IFLNK,
      [&](int dirfd, const char* n) -> Status {
        if (::symlinkat(target.c_str(), dirfd, n) < 0) return Errno::Last();
        return Status::Ok();
      },
      true, 0777);
}

Result<Entry> UnionFs::Create(const Caller& c, uint64_t parent, std::string_view name, mode_t mode,
                              int flags, UniqueFd* fd) {
  auto dir = DirNode(parent);
  if (!dir.ok()) return Errno(dir.error());
  // The file is opened as the caller asked when it is made: the same inode
  // whether it stays under its name or replaces a whiteout by rename.
  const int open_flags = flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_NOFOLLOW);
  UniqueFd created;
  auto e = CreateEntry(
      c, *dir, name, S_IFREG,
      [&](int dirfd, const char* n) -> Status {
        auto f = sys::OpenAt(dirfd, n, open_flags | O_CREAT | O_EXCL, mode & 07777);
        if (!f.ok()) return Errno(f.error());
        created = std::move(*f);
        return Status::Ok();
      },
      true, mode);
  if (!e.ok()) return e;
  *fd = std::move(created);
  return e;
}

Result<Entry> UnionFs::Link(uint64_t nodeid, uint64_t newparent, std::string_view newname) {
  auto node = table_->Get(nodeid);
  if (!node) return Errno(ESTALE);
  if (node->is_dir()) return Errno(EPERM);
  auto dir = DirNode(newparent);
  if (!dir.ok()) return Errno(dir.error());
  STRATA_RETURN_IF_ERROR(CopyUp(node));
  // It is about to have several names: hold the inode itself (see Placement),
  // so the new name finds this very node.
  PinBeforeRemoval(node);
  auto p = node->placement();
  if (!p->fd.valid()) return Errno(ESTALE);
  return CreateEntry(
      Caller{}, *dir, newname, node->type(),
      [&](int dirfd, const char* n) -> Status {
        if (::linkat(p->fd.get(), "", dirfd, n, AT_EMPTY_PATH) < 0) return Errno::Last();
        return Status::Ok();
      },
      false, 0);
}

}  // namespace strata
