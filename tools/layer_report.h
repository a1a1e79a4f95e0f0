// Per-layer accounting of a stack, bottom layer first (the order it was built):
// what each layer adds, what it shadows or deletes from the layers below
// (wasted space: bytes still stored but no longer visible), its largest files
// and warnings in the spirit of image-building good practice.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fs/base/result.h"
#include "tools/layer_args.h"

namespace strata::tools {

struct ReportOptions {
  size_t top_files = 5;                      // largest files listed per layer
  uint64_t large_layer_bytes = 512ull << 20;  // warn above this
};

struct ReportFile {
  std::string path;
  uint64_t size;
};

struct LayerReport {
  int layer;  // index in the stack (0 = top)
  uint64_t files = 0;         // non-directory entries it stores (whiteouts excluded)
  uint64_t directories = 0;
  uint64_t bytes = 0;         // regular file bytes it stores
  uint64_t whiteouts = 0;
  uint64_t shadowed_bytes = 0;  // lower bytes it replaces with its own copies
  uint64_t deleted_bytes = 0;   // lower bytes it deletes (whiteouts, opaque dirs)
  uint64_t wasted_bytes = 0;    // its own bytes that upper layers shadow or delete
  std::vector<ReportFile> largest;
  std::vector<std::string> warnings;
};

struct StackReport {
  std::vector<LayerReport> layers;  // bottom first
  uint64_t total_bytes = 0;         // stored in all layers
  uint64_t visible_bytes = 0;       // in the merged view
  uint64_t wasted_bytes = 0;        // stored but not visible
};

Result<StackReport> BuildReport(const OpenedStack& stack, const ReportOptions& options,
                                std::string* error);

// Does a file name look like a secret (keys, credentials, .env)?
bool LooksLikeSecret(const std::string& path);

}  // namespace strata::tools
