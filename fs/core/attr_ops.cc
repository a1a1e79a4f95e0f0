// UnionFs: changing attributes (chmod, chown, truncate, utimens). Every change
// copies the object up first; a truncate to zero skips copying its data.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "fs/core/union_fs.h"
#include "fs/sys/syscalls.h"

namespace strata {

Result<struct stat> UnionFs::SetAttr(const std::shared_ptr<Node>& node, const struct stat& attr,
                                     int valid, int fd) {
  if (config_.read_only) return Errno(EROFS);
  const bool truncating_to_zero = (valid & kSetSize) && attr.st_size == 0;
  if (valid & ~kSetCtime) STRATA_RETURN_IF_ERROR(CopyUp(node, !truncating_to_zero));
  // Work on the object itself (an fd), not on a name that could change.
  UniqueFd holder;
  int obj;
  if (node->is_dir()) {
    obj = node->placement()->dirs.front().fd.get();
  } else {
    auto opened = OpenObject(*node, O_PATH);
    if (!opened.ok()) return Errno(opened.error());
    holder = std::move(*opened);
    obj = holder.get();
  }
  const std::string proc = "/proc/self/fd/" + std::to_string(obj);

  if (valid & (kSetUid | kSetGid)) {
    uid_t uid = (valid & kSetUid) ? config_.uid_map.ToStored(attr.st_uid) : static_cast<uid_t>(-1);
    gid_t gid = (valid & kSetGid) ? config_.gid_map.ToStored(attr.st_gid) : static_cast<gid_t>(-1);
    if (::fchownat(obj, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) return Errno::Last();
  }
  if (valid & kSetMode) {
    if (S_ISLNK(node->type())) return Errno(EOPNOTSUPP);
    STRATA_RETURN_IF_ERROR(sys::ChmodFd(obj, attr.st_mode & 07777));
  }
  if (valid & kSetSize) {
    if (!S_ISREG(node->type())) return Errno(S_ISDIR(node->type()) ? EISDIR : EINVAL);
    auto before = sys::StatFd(obj);
    if (!before.ok()) return Errno(before.error());
    const int64_t delta = attr.st_size - before->st_size;
    if (delta > 0) STRATA_RETURN_IF_ERROR(quota_.Charge(delta, 0));
    int r = fd >= 0 ? ::ftruncate(fd, attr.st_size) : ::truncate(proc.c_str(), attr.st_size);
    if (r < 0) {
      int e = errno;
      if (delta > 0) quota_.Refund(delta, 0);
      return Errno(e);
    }
    if (delta < 0) quota_.Refund(-delta, 0);
  }
  if (valid & (kSetAtime | kSetMtime | kSetAtimeNow | kSetMtimeNow)) {
    struct timespec ts[2];
    ts[0].tv_nsec = UTIME_OMIT;
    ts[1].tv_nsec = UTIME_OMIT;
    if (valid & kSetAtimeNow) ts[0].tv_nsec = UTIME_NOW;
    else if (valid & kSetAtime) ts[0] = attr.st_atim;
    if (valid & kSetMtimeNow) ts[1].tv_nsec = UTIME_NOW;
    else if (valid & kSetMtime) ts[1] = attr.st_mtim;
    if (S_ISLNK(node->type())) {
      // A symlink's own times: through its parent, never following it.
      auto parent = node->parent();
      std::shared_ptr<const Placement> keep;
      auto pfd = parent ? UpperDirFd(parent, &keep) : Result<int>(Errno(EIO));
      if (!pfd.ok()) return Errno(pfd.error());
      if (::utimensat(*pfd, node->name().c_str(), ts, AT_SYMLINK_NOFOLLOW) < 0)
        return Errno::Last();
    } else {
      STRATA_RETURN_IF_ERROR(sys::UtimensFd(obj, ts));
    }
  }
  auto st = sys::StatFd(obj);
  if (!st.ok()) return Errno(st.error());
  return Attr(*node, *node->placement(), *st);
}

}  // namespace strata
