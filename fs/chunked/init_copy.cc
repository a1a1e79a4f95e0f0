// Creating the chunked state at copy-up, and recognising a chunked file.
#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs/chunked/chunk_map.h"
#include "fs/chunked/chunked_file.h"
#include "fs/sys/syscalls.h"

namespace strata::chunked {

bool ValidChunkSize(uint64_t chunk_size) {
  return chunk_size >= kMinChunkSize && chunk_size <= kMaxChunkSize && chunk_size % 4096 == 0;
}

Status InitChunkedCopy(int tmp_fd, int workdir_fd, const struct stat& lower_st,
                       const ChunkedOrigin& origin, uint32_t chunk_size, bool durable) {
  if (!S_ISREG(lower_st.st_mode) || !ValidChunkSize(chunk_size)) return Errno(EINVAL);
  if (origin.lower_relpath.empty() || origin.lower_relpath.front() == '/') return Errno(EINVAL);
  if (lower_st.st_size == 0) return Status::Ok();  // nothing to defer

  auto id = NewChunkedId();
  if (!id.ok()) return Errno(id.error());
  auto state_dir = OpenStateDir(workdir_fd, /*create=*/true, durable);
  if (!state_dir.ok()) return Errno(state_dir.error());

  MapHeader h;
  h.id = *id;
  h.chunk_size = chunk_size;
  h.lower_size = static_cast<uint64_t>(lower_st.st_size);
  h.lower_ino = lower_st.st_ino;
  h.lower_mtime_sec = lower_st.st_mtim.tv_sec;
  h.lower_mtime_nsec = lower_st.st_mtim.tv_nsec;
  h.chunk_count = (h.lower_size + chunk_size - 1) / chunk_size;
  h.lower_chunks = h.chunk_count;
  h.lower_relpath = origin.lower_relpath;
  auto map = ChunkMapFile::Create(state_dir->get(), h, durable);
  if (!map.ok()) return Errno(map.error());

  // Map first, then size, then the xattr naming the map: whatever point a
  // crash hits, the xattr never names a map that does not exist. (The
  // temporary file itself is discarded by a crash before copy-up's rename.)
  Status st;
  if (::ftruncate(tmp_fd, lower_st.st_size) < 0) st = Errno::Last();
  if (st.ok()) st = sys::SetXattr(tmp_fd, kChunkedXattr, EncodeXattr(*id), XATTR_CREATE);
  if (!st.ok()) ::unlinkat(state_dir->get(), MapFileName(*id).c_str(), 0);
  return st;
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
