#include "tests/mount/layer_builder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tests/mount/temp_dir.h"

namespace strata::mounttest {
namespace {

[[noreturn]] void Die(const std::string& what) {
  fprintf(stderr, "fixture: %s: %s\n", what.c_str(), strerror(errno));
  abort();
}

void Check(int rc, const std::string& what) {
  if (rc != 0) Die(what);
}

constexpr time_t kFixtureEpoch = 1000000000;  // 2001-09-09

std::string ParentOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}
std::string BaseOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string PatternBytes(uint64_t seed, size_t len) {
  std::string out(len, '\0');
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < len; ++i) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    out[i] = static_cast<char>(state);
  }
  return out;
}

LayerBuilder::LayerBuilder(std::string root) : root_(std::move(root)) {
  if (!MakeDirs(root_)) Die("mkdir " + root_);
}

void LayerBuilder::Dir(const std::string& path, mode_t mode, uid_t uid, gid_t gid) {
  Check(mkdir(Full(path).c_str(), 0700), "mkdir " + path);
  Check(lchown(Full(path).c_str(), uid, gid), "chown " + path);
  Check(chmod(Full(path).c_str(), mode), "chmod " + path);
  entries_.push_back(path);
}

void LayerBuilder::File(const std::string& path, mode_t mode, const std::string& content,
                        uid_t uid, gid_t gid) {
  int fd = open(Full(path).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) Die("create " + path);
  if (!content.empty() && write(fd, content.data(), content.size()) !=
                              static_cast<ssize_t>(content.size())) {
    Die("write " + path);
  }
  // chown clears set-id bits, so the mode goes on after the owner.
  Check(fchown(fd, uid, gid), "chown " + path);
  Check(fchmod(fd, mode), "chmod " + path);
  close(fd);
  entries_.push_back(path);
}

void LayerBuilder::SparseFile(const std::string& path, mode_t mode, off_t size, off_t data_offset,
                              size_t data_len) {
  int fd = open(Full(path).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) Die("create " + path);
  std::string data = PatternBytes(static_cast<uint64_t>(data_offset) + data_len, data_len);
  if (pwrite(fd, data.data(), data.size(), data_offset) != static_cast<ssize_t>(data.size())) {
    Die("pwrite " + path);
  }
  Check(ftruncate(fd, size), "ftruncate " + path);
  Check(fchmod(fd, mode), "chmod " + path);
  close(fd);
  entries_.push_back(path);
}

void LayerBuilder::Symlink(const std::string& path, const std::string& target, uid_t uid,
                           gid_t gid) {
  Check(symlink(target.c_str(), Full(path).c_str()), "symlink " + path);
  Check(lchown(Full(path).c_str(), uid, gid), "chown " + path);
  entries_.push_back(path);
}

void LayerBuilder::HardLink(const std::string& existing, const std::string& path) {
  Check(link(Full(existing).c_str(), Full(path).c_str()), "link " + path);
}

void LayerBuilder::Fifo(const std::string& path, mode_t mode) {
  Check(mknod(Full(path).c_str(), S_IFIFO | 0600, 0), "mkfifo " + path);
  Check(chmod(Full(path).c_str(), mode), "chmod " + path);
  entries_.push_back(path);
}

void LayerBuilder::CharDevice(const std::string& path, mode_t mode, unsigned major_no,
                              unsigned minor_no) {
  Check(mknod(Full(path).c_str(), S_IFCHR | 0600, makedev(major_no, minor_no)), "mknod " + path);
  Check(chmod(Full(path).c_str(), mode), "chmod " + path);
  entries_.push_back(path);
}

void LayerBuilder::Xattr(const std::string& path, const std::string& name,
                         const std::string& value) {
  Check(lsetxattr(Full(path).c_str(), name.c_str(), value.data(), value.size(), 0),
        "setxattr " + name + " on " + path);
}

void LayerBuilder::Whiteout(const std::string& path, MarkerForm form) {
  if (form == MarkerForm::kOci) {
    std::string parent = ParentOf(path);
    std::string marker = (parent.empty() ? "" : parent + "/") + ".wh." + BaseOf(path);
    File(marker, 0644, "");
    return;
  }
  // The kernel form; the user-xattr form also uses 0/0 devices for whiteouts.
  Check(mknod(Full(path).c_str(), S_IFCHR | 0600, makedev(0, 0)), "whiteout " + path);
  entries_.push_back(path);
}

void LayerBuilder::Opaque(const std::string& dir, MarkerForm form) {
  switch (form) {
    case MarkerForm::kKernel:
      Xattr(dir, "trusted.overlay.opaque", "y");
      break;
    case MarkerForm::kUserXattr:
      Xattr(dir, "user.overlay.opaque", "y");
      break;
    case MarkerForm::kOci:
      File(dir + "/.wh..wh..opq", 0644, "");
      break;
  }
}

void LayerBuilder::Finish() {
  for (const std::string& path : entries_) {
    time_t offset = static_cast<time_t>(XXH3_64bits(path.data(), path.size()) % 100000000);
    timespec times[2] = {{kFixtureEpoch + offset, 0}, {kFixtureEpoch + offset, 123456789}};
    Check(utimensat(AT_FDCWD, Full(path).c_str(), times, AT_SYMLINK_NOFOLLOW), "utimens " + path);
  }
}

}  // namespace strata::mounttest
