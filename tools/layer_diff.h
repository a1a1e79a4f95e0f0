// The container layer's changes against its lowers, by the rules of
// containers/storage's overlay driver (pkg/archive OverlayChanges), which is
// what `podman diff` prints for a kernel-overlay container:
//   - a whiteout (any form) is "D path";
//   - an opaque directory is "D dir" when a lower layer has dir (and no lower
//     whiteout of it or a parent came first), then its contents follow;
//   - anything else is "C" when some lower layer has the path (walking the
//     lowers top down, stopping at a whiteout of the path or of a parent,
//     which makes it "A"), else "A";
//   - a directory that exists below with the same mode, size and mtime is not
//     reported by itself;
//   - every "A"/"D" also reports each parent directory not yet reported as "C".
// Output is sorted by path (bytewise).
#pragma once

#include <span>
#include <string>
#include <vector>

#include "fs/base/result.h"

namespace strata::tools {

struct Change {
  char kind;         // 'A', 'C' or 'D'
  std::string path;  // absolute in the merged view: "/etc/motd"
  bool operator==(const Change&) const = default;
};

// `lower_fds`: the lower layers' root fds, top first.
Result<std::vector<Change>> UpperChanges(int upper_fd, std::span<const int> lower_fds);

}  // namespace strata::tools
