#include "tools/tree_walk.h"

#include <fcntl.h>

#include <algorithm>
#include <vector>

#include "fs/sys/syscalls.h"

namespace strata::tools {

namespace {

// Returns false when the visitor asked to stop.
Result<bool> WalkDir(int dir_fd, const std::string& dir_path, int depth, const WalkVisitor& visit) {
  auto entries = sys::ReadDir(dir_fd);
  if (!entries.ok()) return Errno(entries.error());
  std::vector<std::string> names;
  names.reserve(entries->size());
  for (auto& e : *entries) names.push_back(std::move(e.name));
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    struct stat st;
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno == ENOENT) continue;  // removed while we walked
      return Errno::Last();
    }
    WalkItem item{JoinPath(dir_path, name), name, dir_fd, -1, st, depth + 1};
    UniqueFd child;
    if (S_ISDIR(st.st_mode)) {
      auto fd = sys::OpenAt(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY);
      if (!fd.ok()) return Errno(fd.error());
      child = std::move(*fd);
      item.fd = child.get();
    }
    WalkAction action = visit(item);
    if (action == WalkAction::kStop) return false;
    if (action == WalkAction::kSkipChildren || !child.valid()) continue;
    auto more = WalkDir(child.get(), item.path, depth + 1, visit);
    if (!more.ok()) return Errno(more.error());
    if (!*more) return false;
  }
  return true;
}

}  // namespace

std::string JoinPath(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

bool CanonicalLess(const std::string& a, const std::string& b) {
  // Component-wise: '/' sorts before every byte a name can hold.
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    unsigned char ca = a[i] == '/' ? 0 : static_cast<unsigned char>(a[i]);
    unsigned char cb = b[i] == '/' ? 0 : static_cast<unsigned char>(b[i]);
    if (ca != cb) return ca < cb;
  }
  return a.size() < b.size();
}

Status WalkTree(int root_fd, bool include_root, const WalkVisitor& visit) {
  auto root = sys::OpenAt(root_fd, ".", O_RDONLY | O_DIRECTORY);
  if (!root.ok()) return Errno(root.error());
  if (include_root) {
    auto st = sys::StatFd(root->get());
    if (!st.ok()) return Errno(st.error());
    WalkItem item{"", "", root->get(), root->get(), *st, 0};
    WalkAction action = visit(item);
    if (action != WalkAction::kContinue) return Status::Ok();
  }
  auto r = WalkDir(root->get(), "", 0, visit);
  if (!r.ok()) return Errno(r.error());
  return Status::Ok();
}

}  // namespace strata::tools
