// Unpacks an OCI/Docker layer tarball (plain, gzip, zstd, xz, bzip2: whatever
// libarchive reads) into a layer directory in the kernel overlay format.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "fs/base/result.h"

namespace strata::tools {

struct ImportStats {
  uint64_t entries = 0;
  uint64_t whiteouts = 0;  // `.wh.` entries turned into whiteouts/opaque dirs
  uint64_t bytes = 0;      // file data written
};

// `on_progress(compressed_bytes_read)`. Stops at the first refused or broken
// entry: *error then names it.
Result<ImportStats> ImportLayerTar(const std::string& tar_path, const std::string& dir,
                                   std::string* error,
                                   const std::function<void(uint64_t)>& on_progress = {});

}  // namespace strata::tools
