#include "fs/copyup/copy_data.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "fs/sys/syscalls.h"

namespace strata::copyup {

namespace {

constexpr size_t kChunk = 16u << 20;  // large enough to amortize each call
constexpr size_t kBounce = 1u << 20;  // buffer of the read/write fallback

enum class Via { kCopyFileRange, kSendfile, kReadWrite };

// Starts writing [off, off + len) of `dst` to disk without waiting for it.
// A copy that will be fsynced then streams to the disk while the rest is
// still being copied, and the fsync waits only for the tail: the copy and
// the disk overlap instead of taking turns. Advisory: a failure here is
// reported by the fsync that follows.
void StartWriteback(int dst, off_t off, size_t len) {
  (void)::sync_file_range(dst, off, static_cast<off_t>(len), SYNC_FILE_RANGE_WRITE);
}

// Copies [off, end) with copy_file_range; where that cannot (lower and
// upper on different filesystems: EXDEV) with sendfile, which moves page
// cache pages without the copy through user space that read/write makes
// (1 GiB copy-up across filesystems: half the CPU); else read/write. `*via`
// carries what worked from one range to the next.
Status CopyRange(int src, int dst, off_t off, off_t end, Via* via, bool stream) {
  // Not zeroed, and no bigger than the range: a copy-up of a small file
  // (chmod -R) zeroed a fresh 1 MiB here each time, 8% of the daemon's CPU.
  std::unique_ptr<char[]> buf;
  size_t buf_size = 0;
  bool dst_positioned = false;  // sendfile writes at dst's file offset
  while (off < end) {
    size_t want = static_cast<size_t>(std::min<off_t>(end - off, static_cast<off_t>(kChunk)));
    ssize_t n = -1;
    if (*via == Via::kCopyFileRange) {
      loff_t in = off, out = off;
      n = ::copy_file_range(src, &in, dst, &out, want, 0);
      if (n < 0 && errno != EINTR) {
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
          return Errno::Last();
        *via = Via::kSendfile;
        continue;
      }
    } else if (*via == Via::kSendfile) {
      if (!dst_positioned) {
        if (::lseek(dst, off, SEEK_SET) < 0) return Errno::Last();
        dst_positioned = true;
      }
      off_t in = off;
      n = ::sendfile(dst, src, &in, want);
      if (n < 0 && errno != EINTR) {
        if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) return Errno::Last();
        *via = Via::kReadWrite;
        continue;
      }
    } else {
      if (!buf) {
        buf_size = std::min(want, kBounce);
        buf.reset(new char[buf_size]);
      }
      n = ::pread(src, buf.get(), std::min(want, buf_size), off);
      if (n > 0) STRATA_RETURN_IF_ERROR(sys::PwriteAll(dst, buf.get(), static_cast<size_t>(n), off));
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno::Last();
    }
    if (n == 0) return Errno(EIO);  // the lower file shrank under us
    if (stream) StartWriteback(dst, off, static_cast<size_t>(n));
    off += n;
  }
  return Status::Ok();
}

CopyMethod MethodOf(Via via) {
  switch (via) {
    case Via::kCopyFileRange: return CopyMethod::kCopyFileRange;
    case Via::kSendfile: return CopyMethod::kSendfile;
    case Via::kReadWrite: break;
  }
  return CopyMethod::kReadWrite;
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

  Via via = Via::kCopyFileRange;
  // One chunk or less: the fsync writes it all at once anyway.
  const bool stream = will_fsync && size > static_cast<off_t>(kChunk);
  if (!may_have_holes) {
    STRATA_RETURN_IF_ERROR(CopyRange(src, dst, 0, size, &via, stream));
    return MethodOf(via);
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
    STRATA_RETURN_IF_ERROR(CopyRange(src, dst, data, hole, &via, stream));
    pos = hole;
  }
  // The tail may be a hole: give the copy its full size.
  if (::ftruncate(dst, size) < 0) return Errno::Last();
  return MethodOf(via);
}

}  // namespace strata::copyup
