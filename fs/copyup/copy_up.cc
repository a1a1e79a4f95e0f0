#include "fs/copyup/copy_up.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "fs/base/scope_guard.h"
#include "fs/copyup/copy_data.h"
#include "fs/copyup/copy_meta.h"
#include "fs/layer/origin_map.h"
#include "fs/layer/resolver.h"
#include "fs/layer/work_dir.h"
#include "fs/sys/syscalls.h"

namespace strata::copyup {

namespace {

// A regular file's copy starts as an unnamed O_TMPFILE inode in the work
// directory, as kernel overlayfs makes it, and is linked into place once
// complete: no directory entry to add to the work directory and remove again.
// Falls back to a named temporary where the filesystem has no O_TMPFILE.
Result<UniqueFd> CreateRegularTemp(const CopyUpRequest& req, const std::string& tmp,
                                   bool* unnamed) {
  auto out = sys::OpenAt(req.workdir, ".", O_RDWR | O_TMPFILE, 0600);
  *unnamed = out.ok();
  if (out.ok() || (out.error() != EOPNOTSUPP && out.error() != EISDIR && out.error() != EINVAL))
    return out;
  return sys::OpenAt(req.workdir, tmp.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
}

// Creates the bare object under `tmp` in the work directory (for a regular
// file, possibly unnamed: `*unnamed`). Returns an open fd on it for the
// metadata steps when the type has one (a regular file: its O_RDWR fd; a
// directory), else an invalid fd (symlinks, devices, fifos and sockets are
// then reached by name, or O_PATH).
Result<UniqueFd> CreateTemp(const CopyUpRequest& req, const std::string& tmp, uint64_t* bytes,
                            bool* unnamed) {
  *unnamed = false;
  const mode_t type = req.st.st_mode & S_IFMT;
  switch (type) {
    case S_IFDIR:
      if (::mkdirat(req.workdir, tmp.c_str(), 0700) < 0) return Errno::Last();
      return sys::OpenAt(req.workdir, tmp.c_str(), O_RDONLY | O_DIRECTORY);
    case S_IFLNK: {
      auto target = sys::ReadLinkFd(req.src_fd);
      if (!target.ok()) return Errno(target.error());
      if (::symlinkat(target->c_str(), req.workdir, tmp.c_str()) < 0) return Errno::Last();
      return UniqueFd();
    }
    case S_IFREG: {
      auto out = CreateRegularTemp(req, tmp, unnamed);
      if (!out.ok()) return Errno(out.error());
      bool data_done = !req.with_data || req.st.st_size == 0;
      bool data_written = false;  // data blocks written that the publishing must not overtake
      if (!data_done && req.init_without_data) {
        // Chunked copy-up: the data stays below until written.
        data_done = req.init_without_data(out->get()).ok();
        if (!data_done) {
          // Undo whatever the chunked set-up left, then copy in full.
          if (::ftruncate(out->get(), 0) < 0) return Errno::Last();
          auto names = sys::ListXattrs(out->get());
          if (names.ok())
            for (const auto& n : *names)
              if (n.starts_with("user.strata.")) (void)sys::RemoveXattr(out->get(), n.c_str());
        }
      }
      if (!data_done) {
        UniqueFd reopened;
        if (!req.src_readable) {
          auto in = sys::Reopen(req.src_fd, O_RDONLY);
          if (!in.ok()) return Errno(in.error());
          reopened = std::move(*in);
        }
        const int in = req.src_readable ? req.src_fd : reopened.get();
        auto method = CopyFileData(in, out->get(), req.st.st_size, MayHaveHoles(req.st),
                                   req.durable);
        if (!method.ok()) return Errno(method.error());
        *bytes = static_cast<uint64_t>(req.st.st_size);
        data_written = *method != CopyMethod::kClone;
      }
      // The fsync orders written data before the link or rename that publishes it.
      // Nothing to order without data blocks written: an empty or truncated
      // copy, a chunked one (size and xattrs only) or a clone (shared extents,
      // a metadata change) is metadata that the journaling filesystems able
      // to do it (ext4, xfs, btrfs) commit in order with the rename. Kernel
      // overlayfs likewise syncs only data it copied (not clones, not
      // metacopy copy-ups).
      if (req.durable && data_written && ::fsync(out->get()) < 0) return Errno::Last();
      return std::move(*out);
    }
    default:  // fifos, sockets, devices
      if (::mknodat(req.workdir, tmp.c_str(), type | 0600, req.st.st_rdev) < 0) return Errno::Last();
      return UniqueFd();
  }
}

}  // namespace

Result<CopyUpResult> CopyUp(const CopyUpRequest& req) {
  const std::string tmp = layer::NewTempName();
  CopyUpResult result;
  ScopeGuard cleanup([&] { (void)layer::RemoveTree(req.workdir, tmp.c_str()); });

  bool unnamed = false;
  auto made = CreateTemp(req, tmp, &result.bytes_copied, &unnamed);
  if (!made.ok()) return Errno(made.error());
  // The copy itself, held from creation to the result: it stays the same
  // inode through the link or rename, so the result needs no second open.
  UniqueFd obj = std::move(*made);
  {
    // An open fd when the type has one: no path walks, and the xattr calls
    // work on it directly (not on O_PATH, which needs the /proc route).
    const bool open_fd = obj.valid();
    ino_t made_ino = 0;
    if (open_fd) {
      auto made_st = sys::StatFd(obj.get());
      if (!made_st.ok()) return Errno(made_st.error());
      made_ino = made_st->st_ino;
      // A root daemon's copy of a root-owned file is owned right already:
      // the fchown would only cost a journaled inode update (5% of its CPU
      // in `chmod -R`).
      if (made_st->st_uid != req.st.st_uid || made_st->st_gid != req.st.st_gid)
        STRATA_RETURN_IF_ERROR(ApplyOwnerFd(obj.get(), req.st));
    } else {
      STRATA_RETURN_IF_ERROR(ApplyOwner(req.workdir, tmp.c_str(), req.st));
      auto path_fd = sys::OpenAt(req.workdir, tmp.c_str(), O_PATH);
      if (!path_fd.ok()) return Errno(path_fd.error());
      obj = std::move(*path_fd);
    }
    STRATA_RETURN_IF_ERROR(CopyXattrs(req.src_fd, obj.get()));
    if (req.origin_ino != 0 && !S_ISDIR(req.st.st_mode)) {
      // Recorded before the copy appears, so it never shows a changing st_ino.
      // (A directory keeps its number through its lower instance.)
      if (made_ino == 0) {
        auto tst = sys::StatFd(obj.get());
        if (!tst.ok()) return Errno(tst.error());
        made_ino = tst->st_ino;
      }
      STRATA_RETURN_IF_ERROR(layer::SetOrigin(*req.origins, obj.get(), made_ino, req.origin_ino));
    }
    if (open_fd)
      STRATA_RETURN_IF_ERROR(ApplyModeTimesFd(obj.get(), req.st));
    else
      STRATA_RETURN_IF_ERROR(ApplyModeTimes(req.workdir, tmp.c_str(), req.st));
  }

  // If someone made the name meanwhile, fail (EEXIST) rather than clobber:
  // linkat never replaces, and the rename is RENAME_NOREPLACE.
  if (unnamed) {
    cleanup.Dismiss();  // nothing named to remove: closing the fd frees the inode
    STRATA_RETURN_IF_ERROR(sys::LinkFd(obj.get(), req.upper_parent, req.name));
  } else {
    STRATA_RETURN_IF_ERROR(
        sys::RenameAt2(req.workdir, tmp.c_str(), req.upper_parent, req.name, RENAME_NOREPLACE));
    cleanup.Dismiss();
  }

  auto st = sys::StatFd(obj.get());
  if (!st.ok()) return Errno(st.error());
  result.fd = std::move(obj);
  result.st = *st;
  return result;
}

}  // namespace strata::copyup
