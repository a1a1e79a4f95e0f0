// UnionFs: extended attributes. Overlay-private names are invisible: never
// listed, and neither readable nor settable through the mount.
#include <fcntl.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fs/core/union_fs.h"
#include "fs/layer/whiteout.h"
#include "fs/sys/syscalls.h"

namespace strata {

namespace {

bool Unsupported(int e) { return e == ENOSYS || e == EINVAL; }

}  // namespace

// The cheapest route to an object's xattrs: a directory has a real fd; for
// anything else getxattrat() on its parent's instance and its name beats a
// walk through /proc/self/fd; the /proc walk remains the fallback (old kernel,
// unlinked object).
template <typename Call, typename AtCall>
static Result<ssize_t> OnObject(const UnionFs& fs, const Node& node, Call by_fd, AtCall by_name) {
  auto ref = fs.Locate(node);
  if (!ref.ok()) return Errno(ref.error());
  if (ref->fd >= 0) return by_fd(ref->fd);
  auto r = by_name(ref->dirfd, ref->name.c_str());
  if (r.ok() || !Unsupported(r.error())) return r;
  auto fd = fs.OpenObject(node, O_PATH);  // no getxattrat: the /proc route
  if (!fd.ok()) return Errno(fd.error());
  return by_fd(fd->get());
}

Result<ssize_t> UnionFs::GetXattr(const Node& node, const char* name, void* buf, size_t size) {
  if (config_.noxattrs) return Errno(ENOTSUP);
  if (layer::IsPrivateXattr(name)) return Errno(ENODATA);
  if (node.xattrs() == Node::Xattrs::kNone) return Errno(ENODATA);
  if (node.xattrs() == Node::Xattrs::kUnknown) {
    // Learn once whether there is anything at all to read. Private names
    // (a copy-up's origin, say) do not count: they are never shown.
    char names[256];
    auto n = OnObject(
        *this, node, [&](int fd) { return sys::ListXattrRaw(fd, names, sizeof names); },
        [&](int dirfd, const char* n) { return sys::ListXattrAt(dirfd, n, names, sizeof names); });
    if (n.ok() || n.error() == ERANGE) {
      bool none = n.ok();
      for (ssize_t i = 0; none && i < *n; i += static_cast<ssize_t>(std::strlen(names + i)) + 1)
        none = layer::IsPrivateXattr(names + i);
      const_cast<Node&>(node).set_xattrs(none ? Node::Xattrs::kNone : Node::Xattrs::kSome);
      if (none) return Errno(ENODATA);
    }
  }
  return OnObject(
      *this, node, [&](int fd) { return sys::GetXattrRaw(fd, name, buf, size); },
      [&](int dirfd, const char* n) { return sys::GetXattrAt(dirfd, n, name, buf, size); });
}

// An object's xattr names, NUL-separated, by OnObject's route: one call when
// they fit a small buffer, as they nearly always do.
static Result<std::string> ListNames(const UnionFs& fs, const Node& node) {
  auto list = [&](char* buf, size_t size) {
    return OnObject(
        fs, node, [&](int fd) { return sys::ListXattrRaw(fd, buf, size); },
        [&](int dirfd, const char* n) { return sys::ListXattrAt(dirfd, n, buf, size); });
  };
  char small[1024];
  auto n = list(small, sizeof small);
  if (n.ok()) return std::string(small, static_cast<size_t>(*n));
  if (n.error() != ERANGE) return Errno(n.error());
  for (;;) {
    auto size = list(nullptr, 0);
    if (!size.ok()) return Errno(size.error());
    std::string names(static_cast<size_t>(*size), '\0');
    n = list(names.data(), names.size());
    if (!n.ok() && n.error() == ERANGE) continue;  // grew meanwhile
    if (!n.ok()) return Errno(n.error());
    names.resize(static_cast<size_t>(*n));
    return names;
  }
}

static Result<ssize_t> SizeOf(Status s) {
  if (!s.ok()) return Errno(s.error());
  return ssize_t{0};
}

Result<ssize_t> UnionFs::ListXattr(const Node& node, char* buf, size_t size) {
  if (config_.noxattrs) return Errno(ENOTSUP);
  if (node.xattrs() == Node::Xattrs::kNone) return ssize_t{0};
  auto all = ListNames(*this, node);
  if (!all.ok()) return Errno(all.error());
  std::vector<std::string_view> shown;
  size_t need = 0;
  for (size_t pos = 0; pos < all->size();) {
    const size_t end = std::min(all->find('\0', pos), all->size());
    std::string_view name(all->data() + pos, end - pos);
    pos = end + 1;
    if (name.empty() || layer::IsPrivateXattr(name)) continue;
    shown.push_back(name);
    need += name.size() + 1;
  }
  if (need == 0) const_cast<Node&>(node).set_xattrs(Node::Xattrs::kNone);
  if (size == 0) return static_cast<ssize_t>(need);
  if (size < need) return Errno(ERANGE);
  char* out = buf;
  for (std::string_view name : shown) {
    std::memcpy(out, name.data(), name.size());
    out[name.size()] = '\0';
    out += name.size() + 1;
  }
  return static_cast<ssize_t>(need);
}

// Set and remove go by name too (after the copy-up, on the upper object):
// the kernel holds the FUSE inode's lock across the call, and a rename that
// could put another object under that name needs the same lock, so the name
// still is this node's.
Status UnionFs::SetXattr(const std::shared_ptr<Node>& node, const char* name,
                         std::string_view value, int flags) {
  if (config_.noxattrs) return Errno(ENOTSUP);
  if (layer::IsPrivateXattr(name)) return Errno(EPERM);
  if (config_.read_only) return Errno(EROFS);
  if (flags & (XATTR_CREATE | XATTR_REPLACE)) {
    // Decide on the object as it is, before a copy-up (the kernel does too).
    auto have = GetXattr(*node, name, nullptr, 0);
    if ((flags & XATTR_CREATE) && have.ok()) return Errno(EEXIST);
    if ((flags & XATTR_REPLACE) && !have.ok()) return Errno(have.error());
  }
  STRATA_RETURN_IF_ERROR(CopyUp(node));
  node->set_xattrs(Node::Xattrs::kUnknown);
  auto r = OnObject(
      *this, *node, [&](int fd) { return SizeOf(sys::SetXattr(fd, name, value, flags)); },
      [&](int dirfd, const char* n) { return SizeOf(sys::SetXattrAt(dirfd, n, name, value, flags)); });
  if (!r.ok()) return Errno(r.error());
  return Status::Ok();
}

Status UnionFs::RemoveXattr(const std::shared_ptr<Node>& node, const char* name) {
  if (config_.noxattrs) return Errno(ENOTSUP);
  if (layer::IsPrivateXattr(name)) return Errno(ENODATA);
  if (config_.read_only) return Errno(EROFS);
  // Removing what is not there changes nothing: no copy-up (kernel too).
  auto have = GetXattr(*node, name, nullptr, 0);
  if (!have.ok()) return Errno(have.error());
  STRATA_RETURN_IF_ERROR(CopyUp(node));
  node->set_xattrs(Node::Xattrs::kUnknown);
  auto r = OnObject(
      *this, *node, [&](int fd) { return SizeOf(sys::RemoveXattr(fd, name)); },
      [&](int dirfd, const char* n) { return SizeOf(sys::RemoveXattrAt(dirfd, n, name)); });
  if (!r.ok()) return Errno(r.error());
  return Status::Ok();
}

}  // namespace strata
