// FUSE: getxattr, listxattr, setxattr, removexattr.
#include <string>
#include <vector>

#include "fs/ops/fs_context.h"
#include "fs/ops/operations.h"
#include "fs/ops/status_xattr.h"

namespace strata::ops {

namespace {

void GetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  STRATA_TIME_OP(req, kGetxattr);
  if (ino == FUSE_ROOT_ID && fuse_req_ctx(req)->uid == 0) {
    // The kernel already refused trusted.* to anyone without CAP_SYS_ADMIN.
    if (auto status = StatusXattr(Ctx(req), name)) {
      if (size == 0) return (void)fuse_reply_xattr(req, status->size());
      if (size < status->size()) return (void)fuse_reply_err(req, ERANGE);
      return (void)fuse_reply_buf(req, status->data(), status->size());
    }
  }
  auto node = Fs(req).Get(ino);
  if (!node) return (void)fuse_reply_err(req, ESTALE);
  if (size == 0) {
    auto n = Fs(req).GetXattr(*node, name, nullptr, 0);
    if (!n.ok()) return (void)fuse_reply_err(req, n.error());
    return (void)fuse_reply_xattr(req, static_cast<size_t>(*n));
  }
  std::vector<char> buf(size);
  auto n = Fs(req).GetXattr(*node, name, buf.data(), size);
  if (!n.ok()) return (void)fuse_reply_err(req, n.error());
  fuse_reply_buf(req, buf.data(), static_cast<size_t>(*n));
}

void ListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  STRATA_TIME_OP(req, kListxattr);
  auto node = Fs(req).Get(ino);
  if (!node) return (void)fuse_reply_err(req, ESTALE);
  std::vector<char> buf(size);
  auto n = Fs(req).ListXattr(*node, buf.data(), size);
  if (!n.ok()) return (void)fuse_reply_err(req, n.error());
  if (size == 0) return (void)fuse_reply_xattr(req, static_cast<size_t>(*n));
  fuse_reply_buf(req, buf.data(), static_cast<size_t>(*n));
}

void SetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
              int flags) {
  STRATA_TIME_OP(req, kSetxattr);
  auto node = Fs(req).Get(ino);
  if (!node) return (void)fuse_reply_err(req, ESTALE);
  ReplyStatus(req, Fs(req).SetXattr(node, name, std::string_view(value, size), flags));
}

void RemoveXattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  STRATA_TIME_OP(req, kRemovexattr);
  auto node = Fs(req).Get(ino);
  if (!node) return (void)fuse_reply_err(req, ESTALE);
  ReplyStatus(req, Fs(req).RemoveXattr(node, name));
}

}  // namespace

void AddXattrOps(fuse_lowlevel_ops* ops) {
  ops->getxattr = GetXattr;
  ops->listxattr = ListXattr;
  ops->setxattr = SetXattr;
  ops->removexattr = RemoveXattr;
}

}  // namespace strata::ops
