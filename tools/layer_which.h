// Which layer provides a path of the merged view, and what it hides.
// The verdict comes from the core resolver (the daemon's own lookup, walked
// component by component from the layer roots), so tool and daemon agree;
// a raw per-layer probe adds the copies the merged view does not show.
#pragma once

#include <sys/stat.h>

#include <optional>
#include <string>
#include <vector>

#include "fs/base/result.h"
#include "tools/layer_args.h"
#include "tools/layer_entry.h"

namespace strata::tools {

struct HiddenCopy {
  int layer;
  EntryKind kind;
  uint64_t size;
  std::string reason;  // what hides it, e.g. "shadowed by upper", "whiteout in lower[0]"
};

struct WhichResult {
  std::string path;  // as asked, normalized to "/a/b"
  bool found = false;
  int provider = -1;  // top layer providing it
  EntryKind kind = EntryKind::kRegular;
  struct stat st {};
  std::vector<int> merged_layers;  // directories: every instance that merges, top first
  std::vector<std::pair<int, uint64_t>> contributions;  // directories: layer, entries provided
  std::vector<HiddenCopy> hidden;  // copies in layers below that the view does not show
  std::string missing_reason;      // when !found: why ("whiteout in upper", "no layer has it")
};

// nullopt with *error for a path that is not inside the stack ("..").
std::optional<WhichResult> Which(const OpenedStack& stack, const std::string& path,
                                 std::string* error);

}  // namespace strata::tools
