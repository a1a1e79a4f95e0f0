// Creating the chunked state at copy-up, and recognising a chunked file.
#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>

#include "fs/chunked/chunk_map.h"
#include "fs/chunked/chunked_file.h"
#include "fs/sys/syscalls.h"

namespace strata::chunked {

bool ValidChunkSize(uint64_t chunk_size) {
  return chunk_size >= kMinChunkSize && chunk_size <= kMaxChunkSize && chunk_size % 4096 == 0;
}

uint32_t ChunkSizeFor(uint32_t configured, uint64_t file_size) {
  uint64_t size = configured;
  while (size < kMaxChunkSize && (file_size + size - 1) / size > kChunksPerFile) size *= 2;
  return static_cast<uint32_t>(std::min<uint64_t>(size, kMaxChunkSize));
}

Status InitChunkedCopy(int tmp_fd, const struct stat& lower_st, const ChunkedOrigin& origin,
                       uint32_t chunk_size) {
  if (!S_ISREG(lower_st.st_mode) || !ValidChunkSize(chunk_size)) return Errno(EINVAL);
  if (origin.lower_relpath.empty() || origin.lower_relpath.front() == '/' ||
      origin.lower_relpath.find('\0') != std::string::npos)
    return Errno(EINVAL);
  if (lower_st.st_size == 0) return Status::Ok();  // nothing to defer

  auto id = NewChunkedId();
  if (!id.ok()) return Errno(id.error());
  ChunkedXattr x;
  x.id = *id;
  x.chunk_size = ChunkSizeFor(chunk_size, static_cast<uint64_t>(lower_st.st_size));
  x.lower_size = static_cast<uint64_t>(lower_st.st_size);
  x.lower_ino = lower_st.st_ino;
  x.lower_mtime_sec = lower_st.st_mtim.tv_sec;
  x.lower_mtime_nsec = lower_st.st_mtim.tv_nsec;
  x.lower_relpath = origin.lower_relpath;

  // No map yet (it comes with the first chunk copied): the copy-up's own
  // fsync and rename make this durable, and a crash before drops the file.
  if (::ftruncate(tmp_fd, lower_st.st_size) < 0) return Errno::Last();
  // A very long path may not fit the filesystem's xattr space (E2BIG/ENOSPC):
  // the caller then falls back to a full copy.
  return sys::SetXattr(tmp_fd, kChunkedXattr, x.Encode(), XATTR_CREATE);
}

Result<bool> IsChunkedAt(int dirfd, const char* name) {
  auto size = sys::GetXattrAt(dirfd, name, kChunkedXattr, nullptr, 0);
  if (size.ok()) return true;
  if (size.error() == ENODATA || size.error() == ENOTSUP) return false;
  return Errno(size.error());
}

Result<bool> IsChunked(int upper_fd) {
  auto st = sys::StatFd(upper_fd);
  if (!st.ok()) return Errno(st.error());
  if (!S_ISREG(st->st_mode)) return false;
  auto size = sys::GetXattrSize(upper_fd, kChunkedXattr);
  if (size.ok()) return true;
  if (size.error() == ENODATA || size.error() == ENOTSUP) return false;
  return Errno(size.error());
}

}  // namespace strata::chunked
