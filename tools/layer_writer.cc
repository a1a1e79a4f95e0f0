#include "tools/layer_writer.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "fs/layer/whiteout.h"
#include "fs/layer/work_dir.h"
#include "fs/sys/syscalls.h"

namespace strata::tools {

namespace {

constexpr size_t kCopyChunk = 1 << 20;
constexpr const char* kOpaqueXattr = "trusted.overlay.opaque";

std::string Join(const std::vector<std::string>& comps, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += (i ? "/" : "") + comps[i];
  return out;
}

std::string ProcPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

}  // namespace

std::vector<std::string> LayerWriter::CheckedComponents(const std::string& path, std::string* error) {
  error->clear();
  if (path.empty()) {
    *error = "empty name";
    return {};
  }
  if (path[0] == '/') {
    *error = "absolute path";
    return {};
  }
  if (path.size() >= PATH_MAX) {
    *error = "path longer than " + std::to_string(PATH_MAX - 1) + " bytes";
    return {};
  }
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    std::string comp = path.substr(pos, end - pos);
    pos = end + 1;
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") {
      *error = "'..' component";
      return {};
    }
    if (comp.size() > NAME_MAX) {
      *error = "name longer than " + std::to_string(NAME_MAX) + " bytes";
      return {};
    }
    out.push_back(std::move(comp));
  }
  return out;
}

Result<LayerWriter> LayerWriter::Open(const std::string& dir, Whiteouts mode, std::string* error) {
  if (::mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST) {
    *error = "'" + dir + "': " + std::strerror(errno);
    return Errno::Last();
  }
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    *error = "'" + dir + "': " + std::strerror(errno);
    return Errno::Last();
  }
  LayerWriter w(UniqueFd(fd), mode);
  w.privileged_ = ::geteuid() == 0;
  return w;
}

Result<UniqueFd> LayerWriter::OpenDir(const std::vector<std::string>& comps, size_t n, bool create,
                                      std::string* error) {
  if (n == 0) return sys::OpenAt(root_.get(), ".", O_RDONLY | O_DIRECTORY);
  std::string rel = Join(comps, n);
  // Fast path: the parent exists; the kernel refuses any symlink on the way.
  auto fd = sys::OpenBeneath(root_.get(), rel.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  if (fd.ok()) return fd;
  // Slow path, one component at a time, to create what is missing and to say
  // precisely what is wrong.
  auto cur = sys::OpenAt(root_.get(), ".", O_RDONLY | O_DIRECTORY);
  if (!cur.ok()) return cur;
  for (size_t i = 0; i < n; ++i) {
    struct stat st;
    if (::fstatat(cur->get(), comps[i].c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno != ENOENT || !create) {
        *error = "'" + Join(comps, i + 1) + "': " + std::strerror(errno);
        return Errno::Last();
      }
      if (::mkdirat(cur->get(), comps[i].c_str(), 0755) < 0) {
        *error = "cannot create directory '" + Join(comps, i + 1) + "': " + std::strerror(errno);
        return Errno::Last();
      }
    } else if (S_ISLNK(st.st_mode)) {
      *error = "goes through the symlink '" + Join(comps, i + 1) + "'";
      return Errno(ELOOP);
    } else if (!S_ISDIR(st.st_mode)) {
      if (layer::IsDeviceWhiteout(st) && create) {
        // A whiteout this layer wrote, now re-created as a directory: the
        // kernel form of "deleted, then made again" is an opaque directory.
        if (::unlinkat(cur->get(), comps[i].c_str(), 0) < 0 ||
            ::mkdirat(cur->get(), comps[i].c_str(), 0755) < 0) {
          *error = "'" + Join(comps, i + 1) + "': " + std::strerror(errno);
          return Errno::Last();
        }
      } else {
        *error = "'" + Join(comps, i + 1) + "' is not a directory";
        return Errno(ENOTDIR);
      }
    }
    auto next = sys::OpenAt(cur->get(), comps[i].c_str(), O_RDONLY | O_DIRECTORY);
    if (!next.ok()) {
      *error = "'" + Join(comps, i + 1) + "': " + std::strerror(next.error());
      return next;
    }
    cur = std::move(next);
  }
  return cur;
}

Status LayerWriter::ApplyMetadata(int fd, bool is_symlink, const LayerEntry& e, std::string* error) {
  // Owner first: chown clears setuid/setgid bits, the mode below restores them.
  if (::fchownat(fd, "", e.uid, e.gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 &&
      !(errno == EPERM && !privileged_)) {
    *error = "cannot set owner: " + std::string(std::strerror(errno));
    return Errno::Last();
  }
  if (!is_symlink) {
    // fchmod refuses O_PATH fds; the /proc magic link names this very inode.
    if (::fchmodat(AT_FDCWD, ProcPath(fd).c_str(), e.mode & 07777, 0) < 0) {
      *error = "cannot set mode: " + std::string(std::strerror(errno));
      return Errno::Last();
    }
  }
  for (const auto& [name, value] : e.xattrs) {
    Status s = sys::SetXattr(fd, name.c_str(), value, 0);
    if (!s.ok() && s.error() != ENOTSUP && !(s.error() == EPERM && !privileged_)) {
      *error = "cannot set xattr " + name + ": " + std::strerror(s.error());
      return s;
    }
  }
  struct timespec times[2] = {e.atime, e.mtime};
  if (::utimensat(fd, "", times, AT_EMPTY_PATH) < 0) {
    *error = "cannot set times: " + std::string(std::strerror(errno));
    return Errno::Last();
  }
  return Status::Ok();
}

Status LayerWriter::Add(const LayerEntry& e, const DataReader& data, std::string* error) {
  return AddEntry(e, &data, nullptr, error);
}

Status LayerWriter::Add(const LayerEntry& e, const BlockReader& blocks, std::string* error) {
  return AddEntry(e, nullptr, &blocks, error);
}

Status LayerWriter::AddEntry(const LayerEntry& e, const DataReader* data, const BlockReader* blocks,
                             std::string* error) {
  std::string why;
  std::vector<std::string> comps = CheckedComponents(e.path, &why);
  if (!why.empty()) {
    *error = "refused entry '" + e.path + "': " + why;
    return Errno(EPERM);
  }
  ++entries_;
  if (comps.empty()) {
    // The layer root itself: only its metadata.
    if (!S_ISDIR(e.mode)) {
      *error = "refused entry '" + e.path + "': the layer root must be a directory";
      return Errno(EPERM);
    }
    Status s = ApplyMetadata(root_.get(), false, e, error);
    dir_times_[""] = {e.atime, e.mtime};
    return s;
  }
  const std::string name = comps.back();
  const std::string rel = Join(comps, comps.size());
  auto fail = [&](const std::string& what) {
    *error = "entry '" + e.path + "': " + what;
    return Status(Errno(errno ? errno : EIO));
  };
  std::string open_error;
  auto parent = OpenDir(comps, comps.size() - 1, true, &open_error);
  if (!parent.ok()) {
    *error = "refused entry '" + e.path + "': " + open_error;
    return Errno(parent.error());
  }
  const int pfd = parent->get();

  if (mode_ == Whiteouts::kOverlay && layer::IsWhiteoutFileName(name)) {
    ++whiteouts_;
    if (name == layer::kOpaqueMarkerFile) {
      Status s = sys::SetXattr(pfd, kOpaqueXattr, "y", 0);
      if (!s.ok()) {
        errno = s.error();
        return fail("cannot mark the directory opaque");
      }
      return Status::Ok();
    }
    std::string target = name.substr(layer::kWhiteoutPrefix.size());
    if (target.starts_with(layer::kWhiteoutPrefix)) return Status::Ok();  // other aufs metadata
    if (!sys::IsPlainName(target)) {
      *error = "refused entry '" + e.path + "': bad whiteout name";
      return Errno(EPERM);
    }
    struct stat st;
    if (::fstatat(pfd, target.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      // OCI: the whiteout only deletes lower layers' copies; the entry this
      // layer also has stays. A directory then hides the lower one: opaque.
      if (S_ISDIR(st.st_mode)) {
        auto dfd = sys::OpenAt(pfd, target.c_str(), O_RDONLY | O_DIRECTORY);
        if (dfd.ok()) (void)sys::SetXattr(dfd->get(), kOpaqueXattr, "y", 0);
      }
      return Status::Ok();
    }
    if (::mknodat(pfd, target.c_str(), S_IFCHR | 0, makedev(0, 0)) < 0)
      return fail("cannot make the whiteout of '" + target + "'");
    return Status::Ok();
  }

  // Whatever is there already is replaced, as tar does, except a directory
  // that stays a directory (its metadata is updated).
  struct stat old;
  bool had_whiteout = false;
  if (::fstatat(pfd, name.c_str(), &old, AT_SYMLINK_NOFOLLOW) == 0) {
    had_whiteout = layer::IsDeviceWhiteout(old) && mode_ == Whiteouts::kOverlay;
    if (S_ISDIR(old.st_mode)) {
      if (!S_ISDIR(e.mode) || !e.hardlink.empty()) {
        if (!layer::RemoveTree(pfd, name.c_str()).ok()) return fail("cannot replace the directory");
      }
    } else if (::unlinkat(pfd, name.c_str(), 0) < 0) {
      return fail("cannot replace the existing entry");
    }
  }

  if (!e.hardlink.empty()) {
    std::vector<std::string> tcomps = CheckedComponents(e.hardlink, &why);
    if (!why.empty() || tcomps.empty()) {
      *error = "refused hard link '" + e.path + "' -> '" + e.hardlink + "': " +
               (why.empty() ? "target is the layer root" : why);
      return Errno(EPERM);
    }
    auto tparent = OpenDir(tcomps, tcomps.size() - 1, false, &open_error);
    if (!tparent.ok()) {
      *error = "refused hard link '" + e.path + "' -> '" + e.hardlink + "': " + open_error;
      return Errno(EPERM);
    }
    // flags 0: a symlink target is linked itself, never followed.
    if (::linkat(tparent->get(), tcomps.back().c_str(), pfd, name.c_str(), 0) < 0) {
      int err = errno;
      *error = "refused hard link '" + e.path + "' -> '" + e.hardlink + "': " +
               (err == ENOENT ? "target is not in the layer" : std::strerror(err));
      return Errno(err);
    }
    return Status::Ok();
  }

  UniqueFd fd;
  const bool is_symlink = S_ISLNK(e.mode);
  switch (e.mode & S_IFMT) {
    case S_IFDIR: {
      if (::mkdirat(pfd, name.c_str(), 0700) < 0 && errno != EEXIST) return fail("cannot create directory");
      auto d = sys::OpenAt(pfd, name.c_str(), O_RDONLY | O_DIRECTORY);
      if (!d.ok()) {
        errno = d.error();
        return fail("cannot open directory");
      }
      fd = std::move(*d);
      if (had_whiteout) (void)sys::SetXattr(fd.get(), kOpaqueXattr, "y", 0);
      dir_times_[rel] = {e.atime, e.mtime};
      break;
    }
    case S_IFLNK: {
      if (::symlinkat(e.symlink.c_str(), pfd, name.c_str()) < 0) return fail("cannot create symlink");
      auto o = sys::OpenAt(pfd, name.c_str(), O_PATH);
      if (!o.ok()) {
        errno = o.error();
        return fail("cannot open symlink");
      }
      fd = std::move(*o);
      break;
    }
    case S_IFCHR:
    case S_IFBLK:
    case S_IFIFO:
    case S_IFSOCK: {
      if (::mknodat(pfd, name.c_str(), (e.mode & S_IFMT) | 0600, e.rdev) < 0) return fail("cannot create node");
      auto o = sys::OpenAt(pfd, name.c_str(), O_PATH);
      if (!o.ok()) {
        errno = o.error();
        return fail("cannot open node");
      }
      fd = std::move(*o);
      break;
    }
    case S_IFREG:
    case 0: {
      auto f = sys::OpenAt(pfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
      if (!f.ok()) {
        errno = f.error();
        return fail("cannot create file");
      }
      fd = std::move(*f);
      if (blocks) {
        // Blocks at their offsets, then the size: holes (a sparse entry's,
        // or a trailing one) are never written out.
        for (;;) {
          auto b = (*blocks)();
          if (!b.ok()) {
            *error = "entry '" + e.path + "': " + std::strerror(b.error());
            return Errno(b.error());
          }
          if (b->size == 0) break;
          if (b->offset > e.size || b->size > e.size - b->offset) {
            *error = "refused entry '" + e.path + "': data past its size";
            return Errno(EINVAL);
          }
          Status s = sys::PwriteAll(fd.get(), b->data, b->size, static_cast<off_t>(b->offset));
          if (!s.ok()) {
            errno = s.error();
            return fail("write failed");
          }
        }
        if (e.size > static_cast<uint64_t>(INT64_MAX)) {
          errno = EFBIG;
          return fail("cannot set the size");
        }
        if (::ftruncate(fd.get(), static_cast<off_t>(e.size)) < 0) return fail("cannot set the size");
        break;
      }
      std::unique_ptr<char[]> buf(new char[kCopyChunk]);
      off_t off = 0;
      for (;;) {
        auto n = data && *data ? (*data)(buf.get(), kCopyChunk) : Result<size_t>(size_t{0});
        if (!n.ok()) {
          *error = "entry '" + e.path + "': " + std::strerror(n.error());
          return Errno(n.error());
        }
        if (*n == 0) break;
        Status s = sys::PwriteAll(fd.get(), buf.get(), *n, off);
        if (!s.ok()) {
          errno = s.error();
          return fail("write failed");
        }
        off += static_cast<off_t>(*n);
      }
      break;
    }
    default:
      *error = "refused entry '" + e.path + "': unknown file type";
      return Errno(EINVAL);
  }
  std::string meta_error;
  Status s = ApplyMetadata(fd.get(), is_symlink, e, &meta_error);
  if (!s.ok()) *error = "entry '" + e.path + "': " + meta_error;
  return s;
}

Status LayerWriter::Finish(std::string* error) {
  // Deepest first, so setting a child's times does not touch its parent's again.
  for (auto it = dir_times_.rbegin(); it != dir_times_.rend(); ++it) {
    auto fd = it->first.empty() ? sys::OpenAt(root_.get(), ".", O_RDONLY | O_DIRECTORY)
                                : sys::OpenBeneath(root_.get(), it->first.c_str(),
                                                   O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (!fd.ok()) continue;  // replaced later in the archive
    struct timespec times[2] = {it->second.first, it->second.second};
    if (::futimens(fd->get(), times) < 0) {
      *error = "'" + it->first + "': cannot set times: " + std::strerror(errno);
      return Errno::Last();
    }
  }
  return Status::Ok();
}

}  // namespace strata::tools
