// Layer: one directory tree of the stack, held open by a directory fd.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "fs/base/result.h"
#include "fs/base/unique_fd.h"
#include "fs/layer/origin_map.h"

namespace strata::layer {

struct Layer {
  std::string path;  // as resolved at start-up, for messages only
  UniqueFd root;     // O_RDONLY | O_DIRECTORY
  dev_t dev = 0;
  ino_t root_ino = 0;
  bool writable = false;
  // Small number for this layer's filesystem, mixed into reported inode
  // numbers when the layers span several filesystems (like overlayfs' xino).
  unsigned fs_index = 0;
};

// Which private-xattr namespace this mount writes its markers in: trusted.*
// needs CAP_SYS_ADMIN; user.* is what kernel overlayfs uses with -o userxattr.
enum class MarkerNamespace { kTrusted, kUser };

// The stack: layers_[0] is the upper layer when there is one, then the lowers
// from top to bottom. Layer indices used across the core refer to this order.
class LayerStack {
 public:
  // Opens every layer. `lowers` is top first. An empty `upper` makes the stack
  // read-only. Each path is resolved once (containers-storage passes symlinks).
  // On failure returns nullopt and sets *error to one line for the user.
  static std::optional<LayerStack> Open(const std::vector<std::string>& lowers,
                                        const std::string& upper, const std::string& workdir,
                                        std::string* error);

  size_t size() const { return layers_.size(); }
  const Layer& at(size_t i) const { return layers_[i]; }
  bool has_upper() const { return has_upper_; }
  // Index of the upper layer (0) when has_upper().
  static constexpr int kUpper = 0;
  int first_lower() const { return has_upper_ ? 1 : 0; }
  int workdir_fd() const { return work_.get(); }
  // WORKDIR itself (strata-only state that must survive mounts lives there).
  int workdir_root_fd() const { return work_root_.get(); }
  // Where copied-up objects' inode numbers are kept (origin_map.h).
  const OriginStore& origins() const { return origins_; }
  // True when every layer lives on one filesystem (inode numbers are unique).
  bool single_fs() const { return single_fs_; }
  MarkerNamespace markers() const { return markers_; }
  void set_markers(MarkerNamespace m) { markers_ = m; }

  // The inode number the merged view reports for an object found in `layer`.
  ino_t ReportedIno(int layer, ino_t real_ino) const;

 private:
  std::vector<Layer> layers_;
  bool has_upper_ = false;
  bool single_fs_ = true;
  UniqueFd work_;  // WORKDIR/work, where copy-ups are built
  UniqueFd work_root_;
  UniqueFd origin_map_;
  OriginStore origins_;
  MarkerNamespace markers_ = MarkerNamespace::kTrusted;
};

}  // namespace strata::layer
