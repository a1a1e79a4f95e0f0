// `strata materialize`: every chunked file below an upper dir made plain.
#include <dirent.h>
#include <fcntl.h>

#include <set>
#include <string>
#include <vector>

#include "fs/chunked/chunked_file.h"
#include "fs/sys/syscalls.h"

namespace strata::chunked {

namespace {

// Calls visit(relpath) for every chunked regular file below `dirfd`. Paths
// are only ever reopened with openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS.
template <typename Visit>
Status WalkChunked(int dirfd, const std::string& prefix, Visit& visit) {
  auto entries = sys::ReadDir(dirfd);
  if (!entries.ok()) return Errno(entries.error());
  for (const auto& e : *entries) {
    if (e.type == DT_DIR) {
      auto sub = sys::OpenAt(dirfd, e.name.c_str(), O_RDONLY | O_DIRECTORY);
      if (!sub.ok()) return Errno(sub.error());
      STRATA_RETURN_IF_ERROR(WalkChunked(sub->get(), prefix + e.name + "/", visit));
      continue;
    }
    if (e.type != DT_REG && e.type != DT_UNKNOWN) continue;
    auto fd = sys::OpenAt(dirfd, e.name.c_str(), O_PATH);
    if (!fd.ok()) return Errno(fd.error());
    auto chunked = IsChunked(fd->get());
    if (!chunked.ok()) return Errno(chunked.error());
    if (*chunked) STRATA_RETURN_IF_ERROR(visit(prefix + e.name, fd->get()));
  }
  return Status::Ok();
}

}  // namespace

Status MaterializeTree(int upper_root, std::span<const int> lower_roots, int workdir_fd,
                       const std::function<void(uint64_t, uint64_t)>& progress) {
  // Pass 1: which files, and how many bytes in all (hard links counted once).
  std::vector<std::string> paths;
  std::set<std::pair<dev_t, ino_t>> seen;
  uint64_t total = 0;
  auto collect = [&](const std::string& relpath, int opath_fd) -> Status {
    if (workdir_fd < 0) return Errno(EINVAL);  // the maps live in WORKDIR
    auto st = sys::StatFd(opath_fd);
    if (!st.ok()) return Errno(st.error());
    if (!seen.insert({st->st_dev, st->st_ino}).second) return Status::Ok();
    auto rw = sys::Reopen(opath_fd, O_RDWR);
    if (!rw.ok()) return Errno(rw.error());
    auto file = ChunkedFile::Open(rw->get(), lower_roots, workdir_fd, /*durable=*/true);
    if (!file.ok()) return Errno(file.error());
    total += (*file)->MissingBytes();
    paths.push_back(relpath);
    return Status::Ok();
  };
  STRATA_RETURN_IF_ERROR(WalkChunked(upper_root, "", collect));

  // Pass 2: copy.
  uint64_t done = 0;
  if (progress) progress(done, total);
  for (const auto& relpath : paths) {
    auto rw = sys::OpenBeneath(upper_root, relpath.c_str(), O_RDWR);
    if (!rw.ok()) return Errno(rw.error());
    auto file = ChunkedFile::Open(rw->get(), lower_roots, workdir_fd, /*durable=*/true);
    if (!file.ok()) {
      if (file.error() == ENODATA) continue;  // finished already (complete at open)
      return Errno(file.error());
    }
    STRATA_RETURN_IF_ERROR((*file)->Materialize([&](uint64_t bytes) {
      done += bytes;
      if (progress) progress(done, total);
    }));
  }
  return Status::Ok();
}

}  // namespace strata::chunked
