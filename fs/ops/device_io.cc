#include "fs/ops/device_io.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

#include "fs/ops/fs_context.h"

namespace strata::ops {

namespace {

// libfuse hands the hooks the session's userdata, our FsContext.
FsContext& Of(void* userdata) { return *static_cast<FsContext*>(userdata); }

ssize_t ReadRequest(int fd, void* buf, size_t len, void* userdata) {
  FsContext& ctx = Of(userdata);
  const ssize_t n = ctx.reader ? ctx.reader->Read(fd, buf, len) : ::read(fd, buf, len);
  if (n > 0 && ctx.passthrough) {
    const int saved = errno;
    ctx.passthrough->SawRequest(buf, static_cast<size_t>(n));
    errno = saved;
  }
  return n;
}

ssize_t WriteReply(int fd, struct iovec* iov, int count, void* userdata) {
  FsContext& ctx = Of(userdata);
  if (ctx.passthrough) return ctx.passthrough->Writev(fd, iov, count, &ctx);
  return ::writev(fd, iov, count);
}

// Without it libfuse would stop splicing big READ replies.
ssize_t SpliceReply(int fdin, off_t* offin, int fdout, off_t* offout, size_t len,
                    unsigned int flags, void*) {
  return ::splice(fdin, offin, fdout, offout, len, flags);
}

}  // namespace

bool InstallDeviceIo(fuse_session* se) {
  fuse_custom_io io{};
  io.read = &ReadRequest;
  io.writev = &WriteReply;
  io.splice_send = &SpliceReply;
  // No splice_receive: a spliced request would reach libfuse without passing
  // ReadRequest (and the 1 MiB pipe it needs is refused without
  // CAP_SYS_RESOURCE).
  return fuse_session_custom_io(se, &io, fuse_session_fd(se)) == 0;
}

}  // namespace strata::ops
