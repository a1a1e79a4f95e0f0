// Walks one layer directory in a canonical order: depth first, a directory
// before its contents, names sorted bytewise. Every step is fd-relative and no
// symlink is ever followed, so a hostile layer cannot lead the walk outside.
#pragma once

#include <sys/stat.h>

#include <functional>
#include <string>

#include "fs/base/result.h"

namespace strata::tools {

struct WalkItem {
  std::string path;  // relative to the root ("a/b"); "" for the root itself
  std::string name;  // last component ("" for the root)
  int parent_fd;     // directory holding it (the root's own fd for the root)
  int fd;            // directories: an open O_DIRECTORY fd; others: -1
  struct stat st;
  int depth;         // 0 for the root
};

enum class WalkAction { kContinue, kSkipChildren, kStop };

using WalkVisitor = std::function<WalkAction(const WalkItem&)>;

// Visits the root (when `include_root`) and everything below it.
Status WalkTree(int root_fd, bool include_root, const WalkVisitor& visit);

// "a/b" + "c" -> "a/b/c"; "" + "c" -> "c".
std::string JoinPath(const std::string& dir, const std::string& name);

// Orders paths the way the walk visits them: component by component.
bool CanonicalLess(const std::string& a, const std::string& b);

}  // namespace strata::tools
