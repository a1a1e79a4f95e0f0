#include "fs/layer/resolver.h"

#include <fcntl.h>

#include <cstring>
#include <string>

#include "fs/layer/origin_map.h"
#include "fs/sys/syscalls.h"

namespace strata::layer {

namespace {

enum class Probe { kAbsent, kWhiteout, kPresent };

// Looks at `name` in one layer's directory instance.
Result<Probe> ProbeName(const DirInstance& dir, const std::string& name, struct stat* st) {
  if (::fstatat(dir.fd.get(), name.c_str(), st, AT_SYMLINK_NOFOLLOW) < 0) {
    int e = errno;
    if (e != ENOENT) return Errno(e);
    if (!dir.MayHaveWhiteoutFiles()) return Probe::kAbsent;
    return HasWhiteoutFile(dir.fd.get(), name) ? Probe::kWhiteout : Probe::kAbsent;
  }
  if (IsDeviceWhiteout(*st)) return Probe::kWhiteout;
  if (dir.markers.xattr_whiteouts && IsXattrWhiteout(dir.fd.get(), name.c_str(), *st))
    return Probe::kWhiteout;
  return Probe::kPresent;
}


}  // namespace

Result<DirInstance> OpenDirInstance(int layer, int parent_fd, const char* name) {
  auto fd = sys::OpenAt(parent_fd, name, O_RDONLY | O_DIRECTORY);
  if (!fd.ok()) return Errno(fd.error());
  auto markers = ReadDirMarkers(fd->get());
  if (!markers.ok()) return Errno(markers.error());
  return DirInstance{layer, std::move(*fd), *markers};
}

Result<std::optional<Resolved>> Resolve(const LayerStack& stack,
                                        std::span<const DirInstance> parent,
                                        std::string_view name_view, int first_lower) {
  if (!sys::IsPlainName(name_view)) return Errno(EINVAL);
  std::string name(name_view);
  // Layer metadata names are not part of the merged namespace.
  if (IsWhiteoutFileName(name)) return std::optional<Resolved>();

  std::optional<Resolved> out;
  for (const DirInstance& dir : parent) {
    if (!out && dir.layer < first_lower &&
        !(stack.has_upper() && dir.layer == LayerStack::kUpper))
      continue;
    struct stat st;
    auto probe = ProbeName(dir, name, &st);
    if (!probe.ok()) return Errno(probe.error());
    if (*probe == Probe::kWhiteout) break;
    if (*probe == Probe::kAbsent) continue;
    // An OCI layer may delete a directory and re-create it in the same layer.
    const bool hides_below = S_ISDIR(st.st_mode) && dir.MayHaveWhiteoutFiles() &&
                             HasWhiteoutFile(dir.fd.get(), name);

    if (!out) {
      out.emplace();
      out->layer = dir.layer;
      out->st = st;
      if (!S_ISDIR(st.st_mode)) {
        ino_t origin = 0;
        if (dir.layer == LayerStack::kUpper && stack.has_upper())
          origin = GetOrigin(stack.origins(), dir.fd.get(), name.c_str(), st.st_ino);
        out->ino = origin ? origin : stack.ReportedIno(dir.layer, st.st_ino);
        return out;  // a non-directory hides everything below
      }
      auto inst = OpenDirInstance(dir.layer, dir.fd.get(), name.c_str());
      if (!inst.ok()) return Errno(inst.error());
      bool stop = inst->markers.opaque || hides_below;
      out->dirs.push_back(std::move(*inst));
      if (stop) break;
      continue;
    }
    // Below a directory: only directories merge; anything else ends the merge.
    if (!S_ISDIR(st.st_mode)) break;
    auto inst = OpenDirInstance(dir.layer, dir.fd.get(), name.c_str());
    if (!inst.ok()) return Errno(inst.error());
    bool stop = inst->markers.opaque || hides_below;
    out->dirs.push_back(std::move(*inst));
    if (stop) break;
  }
  if (out) {
    // A directory reports the inode number of its topmost lower instance, which
    // it keeps when copied up; a pure upper directory reports its own.
    const DirInstance* origin = &out->dirs.front();
    for (const auto& d : out->dirs)
      if (d.layer != LayerStack::kUpper || !stack.has_upper()) {
        origin = &d;
        break;
      }
    auto st = sys::StatFd(origin->fd.get());
    if (!st.ok()) return Errno(st.error());
    out->ino = stack.ReportedIno(origin->layer, st->st_ino);
  }
  return out;
}

Result<bool> LowerHasName(const LayerStack& stack, std::span<const DirInstance> parent,
                          std::string_view name_view) {
  if (!sys::IsPlainName(name_view)) return Errno(EINVAL);
  if (IsWhiteoutFileName(name_view)) return false;  // layer metadata, never a name
  std::string name(name_view);
  for (const DirInstance& dir : parent) {
    if (stack.has_upper() && dir.layer == LayerStack::kUpper) continue;
    struct stat st;
    auto probe = ProbeName(dir, name, &st);
    if (!probe.ok()) return Errno(probe.error());
    if (*probe == Probe::kWhiteout) return false;
    if (*probe == Probe::kPresent) return true;
  }
  return false;
}

}  // namespace strata::layer
