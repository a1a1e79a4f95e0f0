// How a resolved object maps to a node key (see NodeKey).
#pragma once

#include <string_view>

#include "fs/layer/layer.h"
#include "fs/layer/resolver.h"
#include "fs/node/node.h"

namespace strata {

inline NodeKey KeyOf(const layer::LayerStack& stack, const Node& parent, std::string_view name,
                     const layer::Resolved& r) {
  NodeKey key{r.st.st_dev, r.st.st_ino, 0};
  const bool lower = !stack.has_upper() || r.layer != layer::LayerStack::kUpper;
  if (lower && !S_ISDIR(r.st.st_mode) && r.st.st_nlink > 1) {
    // One node per path of a hard-linked lower file: each copies up alone.
    key.salt = (std::hash<std::string_view>()(name) * 1099511628211ull) ^ parent.nodeid() ^ 1;
  }
  return key;
}

}  // namespace strata
