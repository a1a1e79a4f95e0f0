#include "fs/copyup/copy_data.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "fs/sys/syscalls.h"

namespace strata::copyup {

namespace {

constexpr size_t kChunk = 16u << 20;  // large enough to amortize each call
constexpr size_t kBounce = 1u << 20;  // buffer of the read/write fallback

// Starts writing [off, off + len) of `dst` to disk without waiting for it.
// A copy that will be fsynced then streams to the disk while the rest is
// still being copied, and the fsync waits only for the tail: the copy and
// the disk overlap instead of taking turns. Advisory: a failure here is
// reported by the fsync that follows.
void StartWriteback(int dst, off_t off, size_t len) {
  (void)::sync_file_range(dst, off, static_cast<off_t>(len), SYNC_FILE_RANGE_WRITE);
}

// Copies [off, end) with copy_file_range, else read/write (*use_rw set).
Status CopyRange(int src, int dst, off_t off, off_t end, bool* use_rw, bool stream) {
  // Not zeroed, and no bigger than the range: a copy-up of a small file
  // (chmod -R) zeroed a fresh 1 MiB here each time, 8% of the daemon's CPU.
  std::unique_ptr<char[]> buf;
  size_t buf_size = 0;
  while (off < end) {
    size_t want = static_cast<size_t>(std::min<off_t>(end - off, static_cast<off_t>(kChunk)));
    if (!*use_rw) {
      loff_t in = off, out = off;
      ssize_t n = ::copy_file_range(src, &in, dst, &out, want, 0);
      if (n > 0) {
        if (stream) StartWriteback(dst, off, static_cast<size_t>(n));
        off += n;
        continue;
      }
      if (n == 0) return Errno(EIO);  // the lower file shrank under us
      if (errno == EINTR) continue;
      if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
        return Errno::Last();
      *use_rw = true;
    }
    if (!buf) {
      buf_size = std::min(want, kBounce);
      buf.reset(new char[buf_size]);
    }
    size_t len = std::min(want, buf_size);
    ssize_t n = ::pread(src, buf.get(), len, off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno::Last();
    }
    if (n == 0) return Errno(EIO);
    STRATA_RETURN_IF_ERROR(sys::PwriteAll(dst, buf.get(), static_cast<size_t>(n), off));
    if (stream) StartWriteback(dst, off, static_cast<size_t>(n));
    off += n;
  }
  return Status::Ok();
}

}  // namespace

bool MayHaveHoles(const struct stat& st) {
  // Blocks fewer than the size needs: some range has none. (Blocks enough
  // may still hide a hole next to blocks preallocated past the end: that one
  // is copied as zeros, which reads the same.)
  return static_cast<off_t>(st.st_blocks) * 512 < st.st_size;
}

Result<CopyMethod> CopyFileData(int src, int dst, off_t size, bool may_have_holes,
                                bool will_fsync) {
  if (size == 0) return CopyMethod::kClone;
  if (::ioctl(dst, FICLONE, src) == 0) return CopyMethod::kClone;

  bool use_rw = false;
  // One chunk or less: the fsync writes it all at once anyway.
  const bool stream = will_fsync && size > static_cast<off_t>(kChunk);
  if (!may_have_holes) {
    STRATA_RETURN_IF_ERROR(CopyRange(src, dst, 0, size, &use_rw, stream));
    return use_rw ? CopyMethod::kReadWrite : CopyMethod::kCopyFileRange;
  }
  off_t pos = 0;
  while (pos < size) {
    off_t data = ::lseek(src, pos, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole remains
      data = pos;                 // no SEEK_DATA: copy everything
    }
    if (data >= size) break;
    off_t hole = ::lseek(src, data, SEEK_HOLE);
    if (hole < 0 || hole > size) hole = size;
    STRATA_RETURN_IF_ERROR(CopyRange(src, dst, data, hole, &use_rw, stream));
    pos = hole;
  }
  // The tail may be a hole: give the copy its full size.
  if (::ftruncate(dst, size) < 0) return Errno::Last();
  return use_rw ? CopyMethod::kReadWrite : CopyMethod::kCopyFileRange;
}

}  // namespace strata::copyup
