// Writes a container (upper) layer as an OCI layer: kernel whiteouts become
// `.wh.NAME` entries, opaque directories get a `.wh..wh..opq` entry, private
// overlay xattrs are dropped. Output: a pax tarball (optionally gzip/zstd by
// the file name's extension, "-" for stdout) or a directory in that layout.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "fs/base/result.h"

namespace strata::tools {

struct ExportStats {
  uint64_t entries = 0;
  uint64_t whiteouts = 0;  // .wh. entries written (deletions and opaque markers)
  uint64_t bytes = 0;      // file data written
};

// True when `out` names a directory layer (ends with '/' or is a directory).
bool IsDirectoryOutput(const std::string& out);

Result<ExportStats> ExportLayer(int upper_fd, const std::string& out, std::string* error,
                                const std::function<void(uint64_t)>& on_bytes = {});

}  // namespace strata::tools
