#include "fs/sys/syscalls.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace strata::sys {

namespace {

// Retry a call returning -1/errno while it is interrupted.
template <typename F>
auto RetryEintr(F f) {
  decltype(f()) r;
  do {
    r = f();
  } while (r == -1 && errno == EINTR);
  return r;
}

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
// The f*xattr calls refuse O_PATH fds (EBADF), and so does getxattrat() with
// AT_EMPTY_PATH; for those we go through the /proc/self/fd magic link, which
// names the very inode the fd holds.
#ifndef SYS_getxattrat
#define SYS_setxattrat 463
#define SYS_getxattrat 464
#define SYS_listxattrat 465
#define SYS_removexattrat 466
#endif

struct XattrArgs {
  uint64_t value;
  uint32_t size;
  uint32_t flags;
};

std::string ProcPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

}  // namespace

bool IsPlainName(std::string_view name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

Result<UniqueFd> OpenAt(int dirfd, const char* name, int flags, mode_t mode) {
  int fd = RetryEintr([&] { return ::openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC, mode); });
  if (fd < 0) return Errno::Last();
  return UniqueFd(fd);
}

Result<UniqueFd> OpenBeneath(int rootfd, const char* relpath, int flags, mode_t mode) {
  struct open_how how;
  std::memset(&how, 0, sizeof how);
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  if (flags & (O_CREAT | O_TMPFILE)) how.mode = mode;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  int fd = static_cast<int>(
      RetryEintr([&] { return ::syscall(SYS_openat2, rootfd, relpath, &how, sizeof how); }));
  if (fd < 0) return Errno::Last();
  return UniqueFd(fd);
}

Result<UniqueFd> Dup(int fd) {
  int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return Errno::Last();
  return UniqueFd(dup);
}

Result<UniqueFd> Reopen(int opath_fd, int flags) {
  std::string path = ProcPath(opath_fd);
  int fd = RetryEintr([&] { return ::open(path.c_str(), (flags & ~O_NOFOLLOW) | O_CLOEXEC); });
  if (fd < 0) return Errno::Last();
  return UniqueFd(fd);
}

Status ChmodFd(int fd, mode_t mode) {
  static std::atomic<bool> no_fchmodat2{false};
  if (!no_fchmodat2.load(std::memory_order_relaxed)) {
    if (::syscall(SYS_fchmodat2, fd, "", mode, AT_EMPTY_PATH) == 0) return Status::Ok();
    if (errno != ENOSYS && errno != EINVAL) return Errno::Last();
    no_fchmodat2.store(true, std::memory_order_relaxed);
  }
  if (::chmod(ProcPath(fd).c_str(), mode) < 0) return Errno::Last();
  return Status::Ok();
}

Status UtimensFd(int fd, const struct timespec times[2]) {
  static std::atomic<bool> no_empty_path{false};
  if (!no_empty_path.load(std::memory_order_relaxed)) {
    if (::utimensat(fd, "", times, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0) return Status::Ok();
    if (errno != EINVAL && errno != ENOENT) return Errno::Last();
    // A kernel without AT_EMPTY_PATH here says EINVAL or ENOENT (an empty
    // name); the /proc route then tells a real EINVAL from a missing feature.
    if (::utimensat(AT_FDCWD, ProcPath(fd).c_str(), times, 0) < 0) return Errno::Last();
    no_empty_path.store(true, std::memory_order_relaxed);
    return Status::Ok();
  }
  if (::utimensat(AT_FDCWD, ProcPath(fd).c_str(), times, 0) < 0) return Errno::Last();
  return Status::Ok();
}

Result<struct stat> StatAt(int dirfd, const char* name) {
  struct stat st;
  if (::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return Errno::Last();
  return st;
}

Result<struct stat> StatFd(int fd) {
  struct stat st;
  if (::fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) return Errno::Last();
  return st;
}

Result<std::string> ReadLinkFd(int opath_fd) {
  std::string buf(256, '\0');
  for (;;) {
    ssize_t n = ::readlinkat(opath_fd, "", buf.data(), buf.size());
    if (n < 0) return Errno::Last();
    if (static_cast<size_t>(n) < buf.size()) {
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
    buf.resize(buf.size() * 2);
  }
}

Result<ssize_t> GetXattrRaw(int fd, const char* name, void* buf, size_t size) {
  ssize_t n = ::fgetxattr(fd, name, buf, size);
  if (n < 0 && errno == EBADF) n = ::getxattr(ProcPath(fd).c_str(), name, buf, size);
  if (n < 0) return Errno::Last();
  return n;
}

Result<ssize_t> GetXattrAt(int dirfd, const char* name, const char* xattr, void* buf,
                           size_t size) {
  XattrArgs args{reinterpret_cast<uint64_t>(buf), static_cast<uint32_t>(size), 0};
  long n = ::syscall(SYS_getxattrat, dirfd, name, AT_SYMLINK_NOFOLLOW, xattr, &args, sizeof args);
  if (n < 0) return Errno::Last();
  return static_cast<ssize_t>(n);
}

Result<ssize_t> ListXattrAt(int dirfd, const char* name, char* buf, size_t size) {
  long n = ::syscall(SYS_listxattrat, dirfd, name, AT_SYMLINK_NOFOLLOW, buf, size);
  if (n < 0) return Errno::Last();
  return static_cast<ssize_t>(n);
}

Status SetXattrAt(int dirfd, const char* name, const char* xattr, std::string_view value,
                  int flags) {
  XattrArgs args{reinterpret_cast<uint64_t>(value.data()), static_cast<uint32_t>(value.size()),
                 static_cast<uint32_t>(flags)};
  if (::syscall(SYS_setxattrat, dirfd, name, AT_SYMLINK_NOFOLLOW, xattr, &args, sizeof args) < 0)
    return Errno::Last();
  return Status::Ok();
}

Status RemoveXattrAt(int dirfd, const char* name, const char* xattr) {
  if (::syscall(SYS_removexattrat, dirfd, name, AT_SYMLINK_NOFOLLOW, xattr) < 0)
    return Errno::Last();
  return Status::Ok();
}

Result<ssize_t> GetXattrSize(int fd, const char* name) { return GetXattrRaw(fd, name, nullptr, 0); }

Result<std::string> GetXattr(int fd, const char* name) {
  for (;;) {
    auto size = GetXattrSize(fd, name);
    if (!size.ok()) return Errno(size.error());
    std::string value(static_cast<size_t>(*size), '\0');
    if (value.empty()) return value;
    auto n = GetXattrRaw(fd, name, value.data(), value.size());
    if (!n.ok()) {
      if (n.error() == ERANGE) continue;  // grew meanwhile
      return Errno(n.error());
    }
    value.resize(static_cast<size_t>(*n));
    return value;
  }
}

Status SetXattr(int fd, const char* name, std::string_view value, int flags) {
  int r = ::fsetxattr(fd, name, value.data(), value.size(), flags);
  if (r < 0 && errno == EBADF) r = ::setxattr(ProcPath(fd).c_str(), name, value.data(), value.size(), flags);
  if (r < 0) return Errno::Last();
  return Status::Ok();
}

Status RemoveXattr(int fd, const char* name) {
  int r = ::fremovexattr(fd, name);
  if (r < 0 && errno == EBADF) r = ::removexattr(ProcPath(fd).c_str(), name);
  if (r < 0) return Errno::Last();
  return Status::Ok();
}

Result<ssize_t> ListXattrRaw(int fd, char* buf, size_t size) {
  ssize_t n = ::flistxattr(fd, buf, size);
  if (n < 0 && errno == EBADF) n = ::listxattr(ProcPath(fd).c_str(), buf, size);
  if (n < 0) return Errno::Last();
  return n;
}

Result<std::vector<std::string>> ListXattrs(int fd) {
  for (;;) {
    auto size = ListXattrRaw(fd, nullptr, 0);
    if (!size.ok()) return Errno(size.error());
    std::string buf(static_cast<size_t>(*size), '\0');
    if (!buf.empty()) {
      auto n = ListXattrRaw(fd, buf.data(), buf.size());
      if (!n.ok()) {
        if (n.error() == ERANGE) continue;
        return Errno(n.error());
      }
      buf.resize(static_cast<size_t>(*n));
    }
    std::vector<std::string> names;
    for (size_t pos = 0; pos < buf.size();) {
      size_t end = buf.find('\0', pos);
      if (end == std::string::npos) end = buf.size();
      if (end > pos) names.emplace_back(buf, pos, end - pos);
      pos = end + 1;
    }
    return names;
  }
}

Status RenameAt2(int olddirfd, const char* oldname, int newdirfd, const char* newname,
                 unsigned flags) {
  if (::renameat2(olddirfd, oldname, newdirfd, newname, flags) < 0) return Errno::Last();
  return Status::Ok();
}

Status LinkFd(int fd, int newdirfd, const char* newname) {
  if (::linkat(AT_FDCWD, ProcPath(fd).c_str(), newdirfd, newname, AT_SYMLINK_FOLLOW) < 0)
    return Errno::Last();
  return Status::Ok();
}

Result<std::vector<DirEntry>> ReadDir(int dirfd) {
  // A fresh open of "." gives this walk its own file offset.
  auto fd = OpenAt(dirfd, ".", O_RDONLY | O_DIRECTORY);
  if (!fd.ok()) return Errno(fd.error());
  std::vector<DirEntry> out;
  alignas(8) char buf[32768];
  for (;;) {
    long n = RetryEintr([&] { return ::syscall(SYS_getdents64, fd->get(), buf, sizeof buf); });
    if (n < 0) return Errno::Last();
    if (n == 0) break;
    for (long pos = 0; pos < n;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + pos);
      pos += d->d_reclen;
      const char* name = d->d_name;
      if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
      out.push_back(DirEntry{name, d->d_type, d->d_ino});
    }
  }
  return out;
}

Status PwriteAll(int fd, const void* data, size_t size, off_t offset) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = RetryEintr([&] { return ::pwrite(fd, p, size, offset); });
    if (n < 0) return Errno::Last();
    if (n == 0) return Errno(EIO);
    p += n;
    size -= static_cast<size_t>(n);
    offset += n;
  }
  return Status::Ok();
}

namespace {

// One pipe per thread that splices: made on first use, kept for the next.
struct SplicePipe {
  UniqueFd read_end, write_end;
  size_t capacity = 0;
  bool Ready() {
    if (read_end.valid()) return true;
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0) return false;
    read_end = UniqueFd(p[0]);
    write_end = UniqueFd(p[1]);
    // 1 MiB moves a big range in few calls; the default 64 KiB when refused.
    (void)::fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    const int cap = ::fcntl(p[1], F_GETPIPE_SZ);
    capacity = cap > 0 ? static_cast<size_t>(cap) : 65536;
    return true;
  }
  // After a failed write the pipe may still hold data: start a fresh one.
  void Drop() {
    read_end.reset();
    write_end.reset();
  }
};
thread_local SplicePipe t_splice_pipe;

}  // namespace

Result<size_t> SpliceCopy(int in, loff_t* off_in, int out, loff_t* off_out, size_t len) {
  SplicePipe& pipe = t_splice_pipe;
  if (!pipe.Ready()) return Errno::Last();
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::splice(in, off_in, pipe.write_end.get(), nullptr,
                         std::min(len - done, pipe.capacity), SPLICE_F_MOVE);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (done > 0) break;
      return Errno::Last();
    }
    if (n == 0) break;  // end of `in`
    size_t left = static_cast<size_t>(n);
    while (left > 0) {
      ssize_t m = ::splice(pipe.read_end.get(), nullptr, out, off_out, left, SPLICE_F_MOVE);
      if (m < 0 && errno == EINTR) continue;
      if (m <= 0) {
        const int e = m < 0 ? errno : EIO;
        pipe.Drop();
        // What reached `out` counts; *off_in went past it, by what was lost.
        *off_in -= static_cast<loff_t>(left);
        done += static_cast<size_t>(n) - left;
        if (done > 0) return done;
        return Errno(e);
      }
      left -= static_cast<size_t>(m);
    }
    done += static_cast<size_t>(n);
  }
  return done;
}

}  // namespace strata::sys
