// The standard three-layer fixture every differential test starts from.
// BuildFixture(dir, form) writes dir/l0 (top), dir/l1, dir/l2 (bottom).
// The merged view is the same for every MarkerForm: `form` only selects how
// the markers meant to exercise the foreign forms (OCI `.wh.` files,
// user.overlay.opaque) are written. Kernel overlayfs needs kKernel.
#pragma once

#include <string>
#include <vector>

#include "tests/mount/layer_builder.h"

namespace strata::mounttest {

std::vector<std::string> BuildFixture(const std::string& dir, MarkerForm form);

}  // namespace strata::mounttest
