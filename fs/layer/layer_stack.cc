#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstring>
#include <map>

#include "fs/layer/layer.h"
#include "fs/sys/syscalls.h"
#include "fs/layer/origin_map.h"
#include "fs/layer/work_dir.h"

namespace strata::layer {

namespace {

std::string Realpath(const std::string& p) {
  char buf[PATH_MAX];
  if (!::realpath(p.c_str(), buf)) return {};
  return buf;
}

// Is `inner` the same as or below `outer` (both canonical)?
bool IsWithin(const std::string& inner, const std::string& outer) {
  if (inner == outer) return true;
  if (outer == "/") return true;
  return inner.size() > outer.size() && inner.compare(0, outer.size(), outer) == 0 &&
         inner[outer.size()] == '/';
}

std::optional<Layer> OpenLayer(const std::string& what, const std::string& given, bool writable,
                               std::string* error) {
  std::string real = Realpath(given);
  if (real.empty()) {
    *error = what + " '" + given + "': " + std::strerror(errno);
    return std::nullopt;
  }
  int fd = ::open(real.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    *error = what + " '" + given + "': " + (errno == ENOTDIR ? "not a directory" : std::strerror(errno));
    return std::nullopt;
  }
  Layer l;
  l.path = real;
  l.root = UniqueFd(fd);
  l.writable = writable;
  auto st = sys::StatFd(fd);
  if (!st.ok()) {
    *error = what + " '" + given + "': " + std::strerror(st.error());
    return std::nullopt;
  }
  l.dev = st->st_dev;
  l.root_ino = st->st_ino;
  if (writable && ::faccessat(fd, ".", W_OK | X_OK, AT_EACCESS) < 0) {
    *error = what + " '" + given + "': not writable: " + std::strerror(errno);
    return std::nullopt;
  }
  return l;
}

}  // namespace

std::optional<LayerStack> LayerStack::Open(const std::vector<std::string>& lowers,
                                           const std::string& upper, const std::string& workdir,
                                           std::string* error) {
  LayerStack s;
  if (lowers.empty()) {
    *error = "no lowerdir given (-o lowerdir=DIR[:DIR...])";
    return std::nullopt;
  }
  if (!upper.empty() && workdir.empty()) {
    *error = "upperdir needs a workdir (-o workdir=DIR on the upper's filesystem)";
    return std::nullopt;
  }
  if (upper.empty() && !workdir.empty()) {
    *error = "workdir given without upperdir";
    return std::nullopt;
  }
  if (!upper.empty()) {
    auto l = OpenLayer("upperdir", upper, true, error);
    if (!l) return std::nullopt;
    s.layers_.push_back(std::move(*l));
    s.has_upper_ = true;
  }
  for (const auto& lower : lowers) {
    if (lower.empty()) {
      *error = "empty path in lowerdir";
      return std::nullopt;
    }
    auto l = OpenLayer("lowerdir", lower, false, error);
    if (!l) return std::nullopt;
    s.layers_.push_back(std::move(*l));
  }
  if (s.has_upper_) {
    const Layer& up = s.layers_[0];
    for (size_t i = 1; i < s.layers_.size(); ++i) {
      const Layer& lo = s.layers_[i];
      if (lo.dev == up.dev && lo.root_ino == up.root_ino) {
        *error = "upperdir '" + up.path + "' is also a lowerdir";
        return std::nullopt;
      }
      if (IsWithin(up.path, lo.path)) {
        *error = "upperdir '" + up.path + "' is inside lowerdir '" + lo.path + "'";
        return std::nullopt;
      }
      if (IsWithin(lo.path, up.path)) {
        *error = "lowerdir '" + lo.path + "' is inside upperdir '" + up.path + "'";
        return std::nullopt;
      }
    }
    std::string work_real = Realpath(workdir);
    if (work_real.empty()) {
      *error = "workdir '" + workdir + "': " + std::strerror(errno);
      return std::nullopt;
    }
    struct stat wst;
    if (::stat(work_real.c_str(), &wst) < 0 || !S_ISDIR(wst.st_mode)) {
      *error = "workdir '" + workdir + "': not a directory";
      return std::nullopt;
    }
    if (wst.st_dev != up.dev) {
      *error = "workdir '" + workdir + "' is not on the same filesystem as upperdir '" + up.path + "'";
      return std::nullopt;
    }
    if (IsWithin(work_real, up.path) || IsWithin(up.path, work_real)) {
      *error = "workdir '" + workdir + "' and upperdir '" + up.path + "' must not contain each other";
      return std::nullopt;
    }
    auto work = PrepareWorkDir(work_real);
    if (!work.ok()) {
      *error = "workdir '" + workdir + "': cannot prepare " + work_real + "/work: " +
               std::strerror(work.error());
      return std::nullopt;
    }
    s.work_ = std::move(*work);
    auto root = sys::OpenAt(AT_FDCWD, work_real.c_str(), O_RDONLY | O_DIRECTORY);
    if (!root.ok()) {
      *error = "workdir '" + workdir + "': " + std::strerror(root.error());
      return std::nullopt;
    }
    s.work_root_ = std::move(*root);
    auto origins = OpenOriginMap(s.work_root_.get());
    if (!origins.ok()) {
      *error = "workdir '" + workdir + "': cannot prepare " + kOriginDirName + ": " +
               std::strerror(origins.error());
      return std::nullopt;
    }
    s.origin_map_ = std::move(*origins);
    s.origins_.map_fd = s.origin_map_.get();
    ProbeOriginStore(s.work_.get(), &s.origins_);
  }
  std::map<dev_t, unsigned> devs;
  for (auto& l : s.layers_) {
    auto [it, inserted] = devs.emplace(l.dev, static_cast<unsigned>(devs.size()));
    l.fs_index = it->second;
  }
  s.single_fs_ = devs.size() == 1;
  return s;
}

ino_t LayerStack::ReportedIno(int layer, ino_t real_ino) const {
  if (single_fs_) return real_ino;
  // Layers on several filesystems: keep numbers unique by putting the
  // filesystem's index in the top bits (inode numbers rarely use them).
  return real_ino ^ (static_cast<ino_t>(layers_[static_cast<size_t>(layer)].fs_index) << 56);
}

}  // namespace strata::layer
