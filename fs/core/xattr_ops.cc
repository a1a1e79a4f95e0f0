// UnionFs: extended attributes. Overlay-private names are invisible: never
// listed, and neither readable nor settable through the mount.
#include <cstring>

#include "fs/core/union_fs.h"
#include "fs/layer/whiteout.h"
#include "fs/sys/syscalls.h"

namespace strata {

Result<ssize_t> UnionFs::GetXattr(const Node& node, const char* name, void* buf, size_t size) {
  if (config_.noxattrs) return Errno(ENOTSUP);
  if (layer::IsPrivateXattr(name)) return Errno(ENODATA);
  return sys::GetXattrRaw(node.placement()->object_fd(), name, buf, size);
}

Result<ssize_t> UnionFs::ListXattr(const Node& node, char* buf, size_t size) {
  if (config_.noxattrs) return Errno(ENOTSUP);
  auto names = sys::ListXattrs(node.placement()->object_fd());
  if (!names.ok()) return Errno(names.error());
  size_t need = 0;
  for (const auto& n : *names)
    if (!layer::IsPrivateXattr(n)) need += n.size() + 1;
  if (size == 0) return static_cast<ssize_t>(need);
  if (size < need) return Errno(ERANGE);
  char* out = buf;
  for (const auto& n : *names) {
    if (layer::IsPrivateXattr(n)) continue;
    std::memcpy(out, n.c_str(), n.size() + 1);
    out += n.size() + 1;
  }
  return static_cast<ssize_t>(need);
}

Status UnionFs::SetXattr(const std::shared_ptr<Node>& node, const char* name,
                         std::string_view value, int flags) {
  if (config_.noxattrs) return Errno(ENOTSUP);
  if (layer::IsPrivateXattr(name)) return Errno(EPERM);
  if (config_.read_only) return Errno(EROFS);
  STRATA_RETURN_IF_ERROR(CopyUp(node));
  return sys::SetXattr(node->placement()->object_fd(), name, value, flags);
}

Status UnionFs::RemoveXattr(const std::shared_ptr<Node>& node, const char* name) {
  if (config_.noxattrs) return Errno(ENOTSUP);
  if (layer::IsPrivateXattr(name)) return Errno(ENODATA);
  if (config_.read_only) return Errno(EROFS);
  STRATA_RETURN_IF_ERROR(CopyUp(node));
  return sys::RemoveXattr(node->placement()->object_fd(), name);
}

}  // namespace strata
