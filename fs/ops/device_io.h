// The daemon's reads and writes of /dev/fuse.
//
// libfuse reads requests and writes replies itself unless given hooks
// (fuse_session_custom_io, public API since 3.14). Two features need them:
//   - CPU-local request pickup (fs/sys/cpu_local_reader.h): how a worker
//     waits for and reads a request;
//   - FUSE passthrough on libfuse 3.14 (kernel_passthrough.h): what the INIT
//     and OPEN replies say.
// Install them when the context has either (FsContext::reader or
// ::passthrough), after fuse_session_mount and before the session loop.
#pragma once

#include <fuse_lowlevel.h>

namespace strata::ops {

bool InstallDeviceIo(fuse_session* se);

}  // namespace strata::ops
