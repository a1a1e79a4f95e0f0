#include "fs/copyup/copy_meta.h"

#include <fcntl.h>
#include <unistd.h>

#include "fs/layer/whiteout.h"
#include "fs/sys/syscalls.h"

namespace strata::copyup {

Status CopyXattrs(int src, int dst) {
  auto names = sys::ListXattrs(src);
  if (!names.ok()) {
    if (names.error() == ENOTSUP || names.error() == EOPNOTSUPP) return Status::Ok();
    return Errno(names.error());
  }
  for (const auto& name : *names) {
    if (layer::IsPrivateXattr(name)) continue;
    auto value = sys::GetXattr(src, name.c_str());
    if (!value.ok()) {
      if (value.error() == ENODATA) continue;  // removed meanwhile
      return Errno(value.error());
    }
    Status s = sys::SetXattr(dst, name.c_str(), *value, 0);
    if (!s.ok() && s.error() != ENOTSUP && s.error() != EOPNOTSUPP) return s;
  }
  return Status::Ok();
}

Status ApplyOwner(int dirfd, const char* name, const struct stat& st) {
  if (::fchownat(dirfd, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0) return Errno::Last();
  return Status::Ok();
}

Status ApplyModeTimes(int dirfd, const char* name, const struct stat& st) {
  if (!S_ISLNK(st.st_mode) && ::fchmodat(dirfd, name, st.st_mode & 07777, 0) < 0)
    return Errno::Last();
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (::utimensat(dirfd, name, times, AT_SYMLINK_NOFOLLOW) < 0) return Errno::Last();
  return Status::Ok();
}

Status ApplyOwnerFd(int fd, const struct stat& st) {
  if (::fchown(fd, st.st_uid, st.st_gid) < 0) return Errno::Last();
  return Status::Ok();
}

Status ApplyModeTimesFd(int fd, const struct stat& st) {
  if (::fchmod(fd, st.st_mode & 07777) < 0) return Errno::Last();
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (::futimens(fd, times) < 0) return Errno::Last();
  return Status::Ok();
}

Status ApplyOwnerModeTimes(int dirfd, const char* name, const struct stat& st) {
  STRATA_RETURN_IF_ERROR(ApplyOwner(dirfd, name, st));
  return ApplyModeTimes(dirfd, name, st);
}

}  // namespace strata::copyup
