#include "fs/chunked/chunk_copy.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "fs/sys/syscalls.h"

namespace strata::chunked {

namespace {

constexpr size_t kBounce = 256u << 10;  // fallback buffer; bounded whatever the chunk size

Status CopyByReadWrite(int lower, int upper, off_t off, off_t end) {
  std::vector<char> buf(static_cast<size_t>(std::min<off_t>(end - off, kBounce)));
  while (off < end) {
    size_t want = static_cast<size_t>(std::min<off_t>(end - off, static_cast<off_t>(buf.size())));
    ssize_t n = ::pread(lower, buf.data(), want, off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno::Last();
    }
    if (n == 0) return Errno(EIO);  // the lower shrank: identity was checked, so corruption
    STRATA_RETURN_IF_ERROR(sys::PwriteAll(upper, buf.data(), static_cast<size_t>(n), off));
    off += n;
  }
  return Status::Ok();
}

Status CopySegment(int lower, int upper, off_t off, off_t end) {
  while (off < end) {
    loff_t in = off, out = off;
    ssize_t n = ::copy_file_range(lower, &in, upper, &out, static_cast<size_t>(end - off), 0);
    if (n > 0) {
      off += n;
      continue;
    }
    if (n == 0) return Errno(EIO);
    if (errno == EINTR) continue;
    if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)
      return CopyByReadWrite(lower, upper, off, end);
    return Errno::Last();
  }
  return Status::Ok();
}

}  // namespace

Status ClearUpperRange(int upper, off_t begin, off_t end) {
  if (end <= begin) return Status::Ok();
  if (::fallocate(upper, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, begin, end - begin) == 0)
    return Status::Ok();
  if (errno != EOPNOTSUPP && errno != ENOSYS) return Errno::Last();
  // No hole punching here: zeros, but only inside the file (never grow it).
  struct stat st;
  if (::fstat(upper, &st) < 0) return Errno::Last();
  end = std::min<off_t>(end, st.st_size);
  std::vector<char> zeros(
      static_cast<size_t>(std::min<off_t>(std::max<off_t>(end - begin, 0), kBounce)));
  for (off_t off = begin; off < end;) {
    size_t n = static_cast<size_t>(std::min<off_t>(end - off, static_cast<off_t>(zeros.size())));
    STRATA_RETURN_IF_ERROR(sys::PwriteAll(upper, zeros.data(), n, off));
    off += static_cast<off_t>(n);
  }
  return Status::Ok();
}

Status CopyLowerRange(int lower, int upper, off_t begin, off_t end) {
  off_t pos = begin;
  while (pos < end) {
    off_t data = ::lseek(lower, pos, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole remains
      data = pos;                 // no SEEK_DATA: treat everything as data
    }
    if (data >= end) break;
    off_t hole = ::lseek(lower, data, SEEK_HOLE);
    if (hole < 0 || hole > end) hole = end;
    STRATA_RETURN_IF_ERROR(CopySegment(lower, upper, data, hole));
    pos = hole;
  }
  return Status::Ok();
}

}  // namespace strata::chunked
