// eio_fs: a read-only passthrough FUSE filesystem that injects EIO, used as a
// lower layer by eio_lower_test.cc (issue 7.4: this kernel has no
// device-mapper "error" target to fail a block device with).
//
//   eio_fs SOURCE MOUNTPOINT [FUSE OPTIONS]     (e.g. -f -o allow_other)
//
// Everything under SOURCE is shown as it is, except:
//   - read() of a file whose name contains "bad" fails with EIO (open works);
//   - getattr/lookup of a name containing "badstat" fails with EIO;
//   - readdir of a directory whose name contains "baddir" fails with EIO.
// Every access is relative to a dirfd held on SOURCE, with no symlink
// followed (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW).
#include <dirent.h>
#include <fcntl.h>
#include <fuse.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

int g_root = -1;

// "/a/b" -> "a/b", "/" -> ".".
std::string Rel(const char* path) {
  while (*path == '/') ++path;
  return *path ? std::string(path) : std::string(".");
}

std::string Base(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash ? slash + 1 : path;
}

bool Has(const char* path, const char* marker) { return Base(path).find(marker) != std::string::npos; }

void* Init(struct fuse_conn_info*, struct fuse_config* cfg) {
  cfg->use_ino = 1;  // the source's inode numbers (overlayfs looks at them)
  return nullptr;
}

int GetAttr(const char* path, struct stat* st, struct fuse_file_info*) {
  if (Has(path, "badstat")) return -EIO;
  return ::fstatat(g_root, Rel(path).c_str(), st, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
}

int ReadLink(const char* path, char* buf, size_t size) {
  if (size == 0) return -EINVAL;
  ssize_t n = ::readlinkat(g_root, Rel(path).c_str(), buf, size - 1);
  if (n < 0) return -errno;
  buf[n] = '\0';
  return 0;
}

int ReadDir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, struct fuse_file_info*,
            enum fuse_readdir_flags) {
  if (Has(path, "baddir")) return -EIO;
  int fd = ::openat(g_root, Rel(path).c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -errno;
  DIR* d = ::fdopendir(fd);
  if (!d) {
    int e = errno;
    ::close(fd);
    return -e;
  }
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    struct stat st {};
    st.st_ino = e->d_ino;
    st.st_mode = static_cast<mode_t>(DTTOIF(e->d_type));
    if (fill(buf, e->d_name, &st, 0, static_cast<fuse_fill_dir_flags>(0))) break;
  }
  ::closedir(d);
  return 0;
}

int Open(const char* path, struct fuse_file_info* fi) {
  if ((fi->flags & O_ACCMODE) != O_RDONLY) return -EROFS;
  int fd = ::openat(g_root, Rel(path).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -errno;
  fi->fh = static_cast<uint64_t>(fd);
  return 0;
}

int Read(const char* path, char* buf, size_t size, off_t off, struct fuse_file_info* fi) {
  if (Has(path, "bad")) return -EIO;
  ssize_t n = ::pread(static_cast<int>(fi->fh), buf, size, off);
  return n < 0 ? -errno : static_cast<int>(n);
}

int Release(const char*, struct fuse_file_info* fi) {
  ::close(static_cast<int>(fi->fh));
  return 0;
}

int StatFs(const char*, struct statvfs* st) { return ::fstatvfs(g_root, st) == 0 ? 0 : -errno; }

// No xattrs: the lower has none (overlayfs and stratafs read a few).
int GetXattr(const char*, const char*, char*, size_t) { return -ENODATA; }
int ListXattr(const char*, char*, size_t) { return 0; }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s SOURCE MOUNTPOINT [FUSE OPTIONS]\n", argv[0]);
    return 2;
  }
  g_root = ::open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (g_root < 0) {
    std::fprintf(stderr, "eio_fs: %s: %s\n", argv[1], std::strerror(errno));
    return 1;
  }
  struct fuse_operations ops {};
  ops.init = Init;
  ops.getattr = GetAttr;
  ops.readlink = ReadLink;
  ops.readdir = ReadDir;
  ops.open = Open;
  ops.read = Read;
  ops.release = Release;
  ops.statfs = StatFs;
  ops.getxattr = GetXattr;
  ops.listxattr = ListXattr;
  std::vector<char*> args = {argv[0]};
  for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
  return fuse_main(static_cast<int>(args.size()), args.data(), &ops, nullptr);
}
