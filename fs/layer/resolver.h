// Resolver: finds one name of a merged directory across the layers, top down.
//
// Rules (kernel overlayfs): a whiteout stops the walk; a non-directory hides
// everything below it; directories merge down to the first opaque one, or to
// a layer where the name is not a directory.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "fs/base/result.h"
#include "fs/base/unique_fd.h"
#include "fs/layer/layer.h"
#include "fs/layer/whiteout.h"

namespace strata::layer {

// One layer's instance of a directory of the merged view.
struct DirInstance {
  int layer = 0;
  UniqueFd fd;  // O_RDONLY | O_DIRECTORY
  DirMarkers markers;
  // Whether the directory holds any `.wh.*` name, learnt when it is listed
  // (lower layers never change; the upper never gets them from us): when it
  // holds none, lookups skip probing for `.wh.NAME`.
  enum : int8_t { kUnknown, kNoWhiteoutFiles, kHasWhiteoutFiles };
  mutable std::atomic<int8_t> oci_whiteouts{kUnknown};

  DirInstance() = default;
  DirInstance(int l, UniqueFd f, DirMarkers m) : layer(l), fd(std::move(f)), markers(m) {}
  DirInstance(DirInstance&& o) noexcept
      : layer(o.layer), fd(std::move(o.fd)), markers(o.markers), oci_whiteouts(o.oci_whiteouts.load()) {}
  DirInstance& operator=(DirInstance&& o) noexcept {
    layer = o.layer;
    fd = std::move(o.fd);
    markers = o.markers;
    oci_whiteouts = o.oci_whiteouts.load();
    return *this;
  }
  bool MayHaveWhiteoutFiles() const { return oci_whiteouts.load(std::memory_order_relaxed) != kNoWhiteoutFiles; }
};

struct Resolved {
  int layer = 0;      // the top layer providing the object
  struct stat st {};  // of that top instance
  // Directories: every instance that merges, top first (dirs.front() is the top).
  // A non-directory is reached through its parent's instance in `layer`.
  std::vector<DirInstance> dirs;
  // The inode number the merged view reports (stable across copy-up).
  ino_t ino = 0;
};

// Resolves `name` below a merged directory whose instances are `parent`
// (top first). Returns nullopt when the name does not exist or is whited out.
//
// `first_lower` (optional) is the topmost lower layer that can hold the name,
// known from a merged listing: lower layers above it are skipped (they are
// immutable); the upper, which can change, is always looked at.
Result<std::optional<Resolved>> Resolve(const LayerStack& stack,
                                        std::span<const DirInstance> parent,
                                        std::string_view name, int first_lower = -1);

// Would `name` be visible from the layers below the upper, i.e. does removing
// it from the upper need a whiteout? (kernel: ovl_lower_positive)
Result<bool> LowerHasName(const LayerStack& stack, std::span<const DirInstance> parent,
                          std::string_view name);

// Opens one directory instance and reads its markers.
Result<DirInstance> OpenDirInstance(int layer, int parent_fd, const char* name);

}  // namespace strata::layer
