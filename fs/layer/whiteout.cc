#include "fs/layer/whiteout.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <string>

#include "fs/layer/work_dir.h"
#include "fs/sys/syscalls.h"

namespace strata::layer {

namespace {

constexpr const char* kOpaqueXattrs[] = {"trusted.overlay.opaque", "user.overlay.opaque",
                                         "user.fuseoverlayfs.opaque"};
constexpr const char* kWhiteoutXattrs[] = {"trusted.overlay.whiteout", "user.overlay.whiteout"};

// getxattr on (dirfd, name) without following a symlink and without opening
// the entry (opening a fifo or device could block or have side effects).
bool HasXattrAt(int dirfd, const char* name, const char* xattr) {
  auto fd = sys::OpenAt(dirfd, name, O_PATH);
  if (!fd.ok()) return false;
  return sys::GetXattrSize(fd->get(), xattr).ok();
}

constexpr const char* kSharedWhiteout = "#whiteout";

// Links WORKDIR/work/#whiteout as `name` in `dirfd`; false (errno set) when
// that cannot be done, the caller then makes a device of its own.
bool LinkSharedWhiteout(int workfd, int dirfd, const char* name) {
  if (workfd < 0) return false;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (::linkat(workfd, kSharedWhiteout, dirfd, name, 0) == 0) return true;
    if (errno != ENOENT && errno != EMLINK) return false;
    // First use since the mount (the work directory is emptied then), or
    // too many links: a fresh one takes the name, atomically.
    const std::string tmp = NewTempName();
    if (::mknodat(workfd, tmp.c_str(), S_IFCHR | 0, makedev(0, 0)) < 0) return false;
    if (::renameat(workfd, tmp.c_str(), workfd, kSharedWhiteout) < 0) {
      const int e = errno;
      ::unlinkat(workfd, tmp.c_str(), 0);
      errno = e;
      return false;
    }
  }
  return false;
}

}  // namespace

bool IsPrivateXattr(std::string_view name) {
  return name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.") ||
         name.starts_with("user.strata.") || name.starts_with("user.fuseoverlayfs.");
}

Result<DirMarkers> ReadDirMarkers(int dirfd) {
  DirMarkers m;
  // One listxattr answers the common case (no xattrs at all) in one call.
  char names[1024];
  auto listed = sys::ListXattrRaw(dirfd, names, sizeof names);
  bool any_marker = true;
  if (listed.ok()) {
    any_marker = false;
    std::string_view all(names, static_cast<size_t>(*listed));
    for (const char* x : kOpaqueXattrs)
      if (all.find(x) != std::string_view::npos) any_marker = true;
  }
  char value[8];
  for (const char* x : kOpaqueXattrs) {
    if (!any_marker) break;
    auto n = sys::GetXattrRaw(dirfd, x, value, sizeof value);
    if (!n.ok()) {
      int e = n.error();
      if (e == ENODATA || e == ENOTSUP || e == EOPNOTSUPP || e == EPERM || e == EACCES) continue;
      if (e == ERANGE) continue;  // a long value is neither "y" nor "x"
      return Errno(e);
    }
    if (*n == 1 && value[0] == 'y') m.opaque = true;
    if (*n == 1 && value[0] == 'x') m.xattr_whiteouts = true;
  }
  if (!m.opaque) {
    struct stat st;
    if (::fstatat(dirfd, kOpaqueMarkerFile, &st, AT_SYMLINK_NOFOLLOW) == 0) m.opaque = true;
  }
  return m;
}

bool IsXattrWhiteout(int dirfd, const char* name, const struct stat& st) {
  if (!S_ISREG(st.st_mode) || st.st_size != 0) return false;
  for (const char* x : kWhiteoutXattrs)
    if (HasXattrAt(dirfd, name, x)) return true;
  return false;
}

bool HasWhiteoutFile(int dirfd, std::string_view name) {
  std::string wh(kWhiteoutPrefix);
  wh.append(name);
  struct stat st;
  return ::fstatat(dirfd, wh.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

Status MakeWhiteout(int dirfd, const char* name, MarkerNamespace ns, int workfd) {
  if (workfd >= 0) {
    if (LinkSharedWhiteout(workfd, dirfd, name)) return Status::Ok();
    if (errno == EEXIST) return Errno(EEXIST);
  }
  if (::mknodat(dirfd, name, S_IFCHR | 0, makedev(0, 0)) == 0) return Status::Ok();
  if (ns == MarkerNamespace::kUser && (errno == EPERM || errno == EACCES)) {
    // Without the right to make even a 0/0 device, fall back to the OCI form.
    std::string wh(kWhiteoutPrefix);
    wh.append(name);
    int fd = ::openat(dirfd, wh.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd < 0) return Errno::Last();
    ::close(fd);
    return Status::Ok();
  }
  return Errno::Last();
}

Status MakeWhiteoutVia(int workfd, int dirfd, const char* name, MarkerNamespace ns) {
  std::string tmp = NewTempName();
  if (!LinkSharedWhiteout(workfd, workfd, tmp.c_str()) &&
      ::mknodat(workfd, tmp.c_str(), S_IFCHR | 0, makedev(0, 0)) < 0) {
    // No device whiteouts here: replace in two steps with the fallback form.
    if (::unlinkat(dirfd, name, 0) < 0 && errno != ENOENT) return Errno::Last();
    return MakeWhiteout(dirfd, name, ns);
  }
  if (::renameat(workfd, tmp.c_str(), dirfd, name) < 0) {
    int e = errno;
    ::unlinkat(workfd, tmp.c_str(), 0);
    return Errno(e);
  }
  return Status::Ok();
}

Status SetOpaque(int dirfd, MarkerNamespace ns) {
  const char* x = ns == MarkerNamespace::kTrusted ? "trusted.overlay.opaque" : "user.overlay.opaque";
  return sys::SetXattr(dirfd, x, "y", 0);
}

}  // namespace strata::layer
