#include "fs/layer/origin_map.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <charconv>
#include <string>

#include "fs/sys/syscalls.h"

namespace strata::layer {

namespace {

// A decimal inode number filling exactly [text, text + n), or 0.
ino_t ParseIno(const char* text, ssize_t n) {
  if (n <= 0) return 0;
  uint64_t v = 0;
  auto [p, e] = std::from_chars(text, text + n, v);
  return (e == std::errc() && p == text + n) ? static_cast<ino_t>(v) : 0;
}

ino_t GetFromMap(int map_fd, ino_t upper_ino) {
  char name[24], target[24];
  auto [end, ec] = std::to_chars(name, name + sizeof name - 1, upper_ino);
  *end = '\0';
  ssize_t n = ::readlinkat(map_fd, name, target, sizeof target);
  return n < static_cast<ssize_t>(sizeof target) ? ParseIno(target, n) : 0;
}

bool MapHasEntries(int map_fd) {
  auto names = sys::ReadDir(map_fd);
  return names.ok() && !names->empty();
}

}  // namespace

Result<UniqueFd> OpenOriginMap(int workdir_root) {
  if (::mkdirat(workdir_root, kOriginDirName, 0700) < 0 && errno != EEXIST) return Errno::Last();
  return sys::OpenAt(workdir_root, kOriginDirName, O_RDONLY | O_DIRECTORY);
}

void ProbeOriginStore(int work_dir, OriginStore* store) {
  constexpr const char* kProbe = "trusted.overlay.strata.probe";
  store->on_objects = sys::SetXattr(work_dir, kProbe, "1", 0).ok();
  if (store->on_objects) (void)sys::RemoveXattr(work_dir, kProbe);
  store->map_in_use = store->map_fd >= 0 && (!store->on_objects || MapHasEntries(store->map_fd));
}

ino_t GetOrigin(const OriginStore& store, int dirfd, const char* name, ino_t upper_ino) {
  if (store.on_objects) {
    char value[24];
    auto n = sys::GetXattrAt(dirfd, name, kOriginXattr, value, sizeof value);
    if (!n.ok() && n.error() == ENOSYS) {
      // Before Linux 6.13: through the directory's /proc magic link.
      const std::string path = "/proc/self/fd/" + std::to_string(dirfd) + "/" + name;
      ssize_t r = ::lgetxattr(path.c_str(), kOriginXattr, value, sizeof value);
      n = r < 0 ? Result<ssize_t>(Errno::Last()) : Result<ssize_t>(r);
    }
    if (n.ok()) return ParseIno(value, *n);
  }
  return store.map_in_use ? GetFromMap(store.map_fd, upper_ino) : 0;
}

Status SetOrigin(const OriginStore& store, int obj_fd, ino_t upper_ino, ino_t reported) {
  const std::string target = std::to_string(reported);
  if (store.on_objects) return sys::SetXattr(obj_fd, kOriginXattr, target, 0);
  if (store.map_fd < 0) return Status::Ok();
  const std::string name = std::to_string(upper_ino);
  const std::string tmp = name + ".new";
  ::unlinkat(store.map_fd, tmp.c_str(), 0);
  if (::symlinkat(target.c_str(), store.map_fd, tmp.c_str()) < 0) return Errno::Last();
  if (::renameat(store.map_fd, tmp.c_str(), store.map_fd, name.c_str()) < 0) return Errno::Last();
  return Status::Ok();
}

void RemoveOrigin(const OriginStore& store, ino_t upper_ino) {
  if (!store.map_in_use) return;
  ::unlinkat(store.map_fd, std::to_string(upper_ino).c_str(), 0);
}

}  // namespace strata::layer
