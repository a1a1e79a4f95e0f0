// Merged directory listing: the union of a directory's instances, without
// duplicates, whiteouts, or layer metadata names.
#pragma once

#include <sys/types.h>

#include <span>
#include <string>
#include <vector>

#include "fs/base/result.h"
#include "fs/layer/layer.h"
#include "fs/layer/resolver.h"

namespace strata::layer {

struct MergedEntry {
  std::string name;
  unsigned char type;  // DT_*
  int layer;           // top layer providing it
  ino_t ino;           // as stat would report it
  // readdir offset of the entry that follows this one: a hash of the name,
  // so an offset stays meaningful when other entries come and go.
  uint64_t offset;
};

// Offsets below this are ".", ".." and the start of the directory.
inline constexpr uint64_t kFirstEntryOffset = 3;

// Lists the merged directory whose instances are `dirs` (top first, already
// cut at the first opaque one, as Resolve returns them), sorted by offset.
Result<std::vector<MergedEntry>> ListMerged(const LayerStack& stack,
                                            std::span<const DirInstance> dirs);

}  // namespace strata::layer
