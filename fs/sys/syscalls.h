// EINTR-safe, errno-returning wrappers for the system calls strata uses.
//
// Every path operation here is relative to a directory fd and one name (or a
// path resolved with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)), and none
// of them follows a symlink: a hostile layer cannot steer the daemon outside
// its layers.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "fs/base/result.h"
#include "fs/base/unique_fd.h"

namespace strata::sys {

// openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC). `name` is one component.
Result<UniqueFd> OpenAt(int dirfd, const char* name, int flags, mode_t mode = 0);

// openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS:
// `relpath` may have several components but can never leave `rootfd` nor pass
// through a symlink. With O_PATH | O_NOFOLLOW a trailing symlink is returned.
Result<UniqueFd> OpenBeneath(int rootfd, const char* relpath, int flags, mode_t mode = 0);

// A second fd (close-on-exec) for the same open file.
Result<UniqueFd> Dup(int fd);

// Reopen an O_PATH fd with real access flags (through /proc/self/fd, which is
// a magic link to the very inode, not a path walk).
Result<UniqueFd> Reopen(int opath_fd, int flags);

// lstat of one name in a directory; StatFd stats the object an fd refers to.
// chmod of the object an fd holds, O_PATH included: fchmodat2() with
// AT_EMPTY_PATH (Linux 6.6), else through /proc/self/fd.
Status ChmodFd(int fd, mode_t mode);
// utimensat of the object an fd holds, O_PATH included (AT_EMPTY_PATH, else
// through /proc/self/fd). For a symlink fd it sets the link's own times.
Status UtimensFd(int fd, const struct timespec times[2]);

Result<struct stat> StatAt(int dirfd, const char* name);
Result<struct stat> StatFd(int fd);

Result<std::string> ReadLinkFd(int opath_fd);

// Extended attributes of the object `fd` refers to (any kind of fd, O_PATH
// included, symlinks included: never followed).
Result<std::string> GetXattr(int fd, const char* name);
// Like GetXattr but only reports whether the value's size is known; cheaper.
Result<ssize_t> GetXattrSize(int fd, const char* name);
Status SetXattr(int fd, const char* name, std::string_view value, int flags);
Status RemoveXattr(int fd, const char* name);
Result<std::vector<std::string>> ListXattrs(int fd);

// getxattr/listxattr of `name` in `dirfd`, not following a symlink, without
// opening it (getxattrat/listxattrat, Linux 6.13; ENOSYS before).
Result<ssize_t> GetXattrAt(int dirfd, const char* name, const char* xattr, void* buf, size_t size);
Result<ssize_t> ListXattrAt(int dirfd, const char* name, char* buf, size_t size);
// setxattr/removexattr the same way (setxattrat/removexattrat, Linux 6.13).
Status SetXattrAt(int dirfd, const char* name, const char* xattr, std::string_view value,
                  int flags);
Status RemoveXattrAt(int dirfd, const char* name, const char* xattr);

// The raw forms FUSE needs: fill `buf` (or report the size when size == 0).
Result<ssize_t> GetXattrRaw(int fd, const char* name, void* buf, size_t size);
Result<ssize_t> ListXattrRaw(int fd, char* buf, size_t size);

Status RenameAt2(int olddirfd, const char* oldname, int newdirfd, const char* newname,
                 unsigned flags);

// Gives the inode behind `fd` (an O_TMPFILE file, say) the name `newname` in
// `newdirfd`; EEXIST if the name is taken. Through /proc/self/fd, so no
// CAP_DAC_READ_SEARCH is needed as it would be with AT_EMPTY_PATH.
Status LinkFd(int fd, int newdirfd, const char* newname);

// Read all names of a directory (excluding "." and ".."), with d_type.
struct DirEntry {
  std::string name;
  unsigned char type;  // DT_*
  ino_t ino;
};
Result<std::vector<DirEntry>> ReadDir(int dirfd);

// Write all of `data` at `offset`, looping over short writes.
Status PwriteAll(int fd, const void* data, size_t size, off_t offset);

// Copies up to `len` bytes of `in` from *off_in to `out` at *off_out through
// a pipe of the calling thread (splice: the pages are not copied through user
// space), for files on different filesystems, which copy_file_range cannot
// cross. Both offsets advance by what was copied; fewer than `len` bytes at
// the end of `in` or after a write error that follows some progress.
Result<size_t> SpliceCopy(int in, loff_t* off_in, int out, loff_t* off_out, size_t len);

// Is `name` a single, ordinary path component (not empty, ".", ".." or with '/')?
bool IsPlainName(std::string_view name);

}  // namespace strata::sys
