#include "fs/layer/origin_map.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <string>

#include "fs/sys/syscalls.h"

namespace strata::layer {

Result<UniqueFd> OpenOriginMap(int workdir_root) {
  if (::mkdirat(workdir_root, kOriginDirName, 0700) < 0 && errno != EEXIST) return Errno::Last();
  return sys::OpenAt(workdir_root, kOriginDirName, O_RDONLY | O_DIRECTORY);
}

ino_t GetOrigin(int map_fd, ino_t upper_ino) {
  if (map_fd < 0) return 0;
  char name[24], target[24];
  auto [end, ec] = std::to_chars(name, name + sizeof name - 1, upper_ino);
  *end = '\0';
  ssize_t n = ::readlinkat(map_fd, name, target, sizeof target);
  if (n <= 0 || n >= static_cast<ssize_t>(sizeof target)) return 0;
  uint64_t v = 0;
  auto [p, e] = std::from_chars(target, target + n, v);
  return (e == std::errc() && p == target + n) ? static_cast<ino_t>(v) : 0;
}

Status SetOrigin(int map_fd, ino_t upper_ino, ino_t reported) {
  if (map_fd < 0) return Status::Ok();
  const std::string name = std::to_string(upper_ino);
  const std::string target = std::to_string(reported);
  const std::string tmp = name + ".new";
  ::unlinkat(map_fd, tmp.c_str(), 0);
  if (::symlinkat(target.c_str(), map_fd, tmp.c_str()) < 0) return Errno::Last();
  if (::renameat(map_fd, tmp.c_str(), map_fd, name.c_str()) < 0) return Errno::Last();
  return Status::Ok();
}

void RemoveOrigin(int map_fd, ino_t upper_ino) {
  if (map_fd < 0) return;
  ::unlinkat(map_fd, std::to_string(upper_ino).c_str(), 0);
}

}  // namespace strata::layer
