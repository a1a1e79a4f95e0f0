#include "tests/unit/layer_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace strata::unittest {

namespace {

int RemoveOne(const char* path, const struct stat*, int type, struct FTW*) {
  if (type == FTW_DP)
    ::rmdir(path);
  else
    ::unlink(path);
  return 0;  // best effort: keep removing the rest
}

std::string Parent(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

TempDir::TempDir() {
  char tmpl[] = "/tmp/strata-unit-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    return;
  }
  path_ = tmpl;
  // Readable by others, so tests that drop privileges can reach their fixtures.
  ::chmod(path_.c_str(), 0755);
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  // FTW_PHYS: never follow a symlink out of the tree; FTW_MOUNT: never descend
  // into a filesystem a test forgot to unmount.
  ::nftw(path_.c_str(), RemoveOne, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

TmpfsMount::TmpfsMount(const std::string& dir) : dir_(dir) {
  MakeDirs(dir);
  if (::mount("strata-unit", dir.c_str(), "tmpfs", 0, "size=4m") < 0) {
    ADD_FAILURE() << "mount tmpfs on " << dir << ": " << std::strerror(errno);
    return;
  }
  mounted_ = true;
}

TmpfsMount::~TmpfsMount() {
  if (!mounted_) return;
  // A lazy unmount as a last resort: the directory is removed right after.
  if (::umount2(dir_.c_str(), 0) < 0) ::umount2(dir_.c_str(), MNT_DETACH);
}

void MakeDirs(const std::string& path, mode_t mode) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) ADD_FAILURE() << path << " exists and is not a directory";
    return;
  }
  MakeDirs(Parent(path));
  if (::mkdir(path.c_str(), mode) < 0 && errno != EEXIST)
    ADD_FAILURE() << "mkdir " << path << ": " << std::strerror(errno);
  ::chmod(path.c_str(), mode);  // not reduced by the umask
}

void WriteFile(const std::string& path, std::string_view data, mode_t mode) {
  MakeDirs(Parent(path));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) {
    ADD_FAILURE() << "create " << path << ": " << std::strerror(errno);
    return;
  }
  if (!data.empty() && ::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size()))
    ADD_FAILURE() << "write " << path << ": " << std::strerror(errno);
  ::fchmod(fd, mode);
  ::close(fd);
}

void MakeSymlink(const std::string& target, const std::string& path) {
  MakeDirs(Parent(path));
  if (::symlink(target.c_str(), path.c_str()) < 0)
    ADD_FAILURE() << "symlink " << path << ": " << std::strerror(errno);
}

void MakeCharDevice(const std::string& path, unsigned major, unsigned minor) {
  MakeDirs(Parent(path));
  if (::mknod(path.c_str(), S_IFCHR | 0600, makedev(major, minor)) < 0)
    ADD_FAILURE() << "mknod " << path << ": " << std::strerror(errno);
}

void MakeDeviceWhiteout(const std::string& path) { MakeCharDevice(path, 0, 0); }

void MakeFifo(const std::string& path) {
  MakeDirs(Parent(path));
  if (::mkfifo(path.c_str(), 0644) < 0)
    ADD_FAILURE() << "mkfifo " << path << ": " << std::strerror(errno);
}

void SetXattr(const std::string& path, const std::string& name, std::string_view value) {
  if (::lsetxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0) < 0)
    ADD_FAILURE() << "setxattr " << name << " on " << path << ": " << std::strerror(errno);
}

std::optional<std::string> GetXattr(const std::string& path, const std::string& name) {
  char buf[4096];
  ssize_t n = ::lgetxattr(path.c_str(), name.c_str(), buf, sizeof buf);
  if (n < 0) return std::nullopt;
  return std::string(buf, static_cast<size_t>(n));
}

std::vector<std::string> ListXattrs(const std::string& path) {
  char buf[8192];
  ssize_t n = ::llistxattr(path.c_str(), buf, sizeof buf);
  std::vector<std::string> out;
  for (ssize_t pos = 0; pos < n;) {
    std::string name(buf + pos);
    pos += static_cast<ssize_t>(name.size()) + 1;
    out.push_back(std::move(name));
  }
  std::sort(out.begin(), out.end());
  return out;
}

struct stat Lstat(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) < 0)
    ADD_FAILURE() << "lstat " << path << ": " << std::strerror(errno);
  return st;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> out;
  DIR* d = ::opendir(path.c_str());
  if (!d) {
    ADD_FAILURE() << "opendir " << path << ": " << std::strerror(errno);
    return out;
  }
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::string LayerTest::Sub(const std::string& top, std::string_view rel) const {
  std::string p = dir_.path() + "/" + top;
  if (!rel.empty()) p += "/" + std::string(rel);
  return p;
}

void LayerTest::SetUpLayers(int lowers) {
  lowers_ = lowers;
  MakeDirs(Upper());
  MakeDirs(Work());
  for (int i = 0; i < lowers; ++i) MakeDirs(Lower(i));
}

const layer::LayerStack& LayerTest::OpenStack(bool with_upper) {
  with_upper_ = with_upper;
  std::vector<std::string> lowers;
  for (int i = 0; i < lowers_; ++i) lowers.push_back(Lower(i));
  std::string error;
  stack_ = layer::LayerStack::Open(lowers, with_upper ? Upper() : "", with_upper ? Work() : "",
                                   &error);
  if (!stack_) {
    ADD_FAILURE() << "LayerStack::Open: " << error;
    // Keep callers from dereferencing nothing: a read-only stack of lower0.
    stack_ = layer::LayerStack::Open({dir_.path()}, "", "", &error);
  }
  return *stack_;
}

std::vector<layer::DirInstance> LayerTest::RootDirs() const {
  std::vector<layer::DirInstance> dirs;
  for (size_t i = 0; i < stack_->size(); ++i) {
    auto inst = layer::OpenDirInstance(static_cast<int>(i), stack_->at(i).root.get(), ".");
    if (!inst.ok()) {
      ADD_FAILURE() << "OpenDirInstance of layer " << i << ": " << std::strerror(inst.error());
      break;
    }
    bool opaque = inst->markers.opaque;
    dirs.push_back(std::move(*inst));
    if (opaque) break;
  }
  return dirs;
}

Result<std::optional<layer::Resolved>> LayerTest::ResolvePath(std::string_view path) const {
  std::vector<layer::DirInstance> dirs = RootDirs();
  for (;;) {
    auto slash = path.find('/');
    std::string_view name = path.substr(0, slash);
    auto r = layer::Resolve(*stack_, dirs, name);
    if (slash == std::string_view::npos || !r.ok() || !r->has_value()) return r;
    if ((*r)->dirs.empty()) return Errno(ENOTDIR);
    dirs = std::move((*r)->dirs);
    path.remove_prefix(slash + 1);
  }
}

std::vector<layer::DirInstance> LayerTest::DirsAt(std::string_view path) const {
  if (path.empty()) return RootDirs();
  auto r = ResolvePath(path);
  if (!r.ok() || !r->has_value()) {
    ADD_FAILURE() << "no merged directory at " << path;
    return {};
  }
  return std::move((*r)->dirs);
}

std::vector<layer::MergedEntry> LayerTest::ListAt(std::string_view path) const {
  auto dirs = DirsAt(path);
  auto list = layer::ListMerged(*stack_, dirs);
  if (!list.ok()) {
    ADD_FAILURE() << "ListMerged(" << path << "): " << std::strerror(list.error());
    return {};
  }
  return std::move(*list);
}

std::vector<std::string> LayerTest::NamesAt(std::string_view path) const {
  std::vector<std::string> names;
  for (const auto& e : ListAt(path)) names.push_back(e.name);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace strata::unittest
