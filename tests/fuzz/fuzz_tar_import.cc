// Fuzz target: `strata import` (tools/tar_import.cc ImportLayerTar and the
// LayerWriter under it): the input is the archive stream (tar, pax, GNU,
// compressed by any filter libarchive reads), unpacked into a fresh layer
// directory. Needs root (device nodes, owners, trusted.* xattrs), as the
// tool does to write a kernel-format layer.
//
// Scratch layout, under $TMPDIR:
//   ROOT/canary/victim     a file (hard-link, chmod, write target of hostile archives)
//   ROOT/canary/vdir/      an empty directory (symlink-then-file target)
//   ROOT/a/b/layer/        the import destination, emptied after each input
// so "../x", "../../x" and "../../../x" all land in a watched directory, and
// the canary directory is also open as fd 200: an absolute symlink target
// "/proc/self/fd/200" reaches it wherever ROOT is (the seed corpus uses it).
// Checks beyond "no crash, no sanitizer report":
//   - nothing outside the layer changed: every object under ROOT but the
//     layer keeps its inode, type, mode, owner, link count, size, mtime,
//     ctime and (for files) content, and no object appears or goes;
//   - a refused or broken archive comes back with an error message.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <tuple>

#include "fs/layer/work_dir.h"
#include "fs/sys/syscalls.h"
#include "tools/tar_import.h"

namespace {

constexpr int kCanaryFd = 200;

[[noreturn]] void Violation(const std::string& what) {
  std::fprintf(stderr, "invariant violated: %s\n", what.c_str());
  std::abort();
}

bool WriteAll(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

std::string ReadAll(const std::string& path) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return "<unreadable>";
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

const std::string& Root() {
  static const std::string dir = [] {
    // Under $TMPDIR (run_fuzzer.sh points it at a directory it removes, as
    // libFuzzer may end the process without running atexit handlers).
    const char* tmp = std::getenv("TMPDIR");
    std::string t = std::string(tmp && *tmp ? tmp : "/tmp") + "/strata-fuzz-tar-XXXXXX";
    if (!::mkdtemp(t.data())) return std::string();
    std::atexit([] { (void)strata::layer::RemoveTree(AT_FDCWD, Root().c_str()); });
    ::chmod(t.c_str(), 0755);
    if (::mkdir((t + "/canary").c_str(), 0755) != 0 || ::mkdir((t + "/canary/vdir").c_str(), 0755) != 0 ||
        ::mkdir((t + "/a").c_str(), 0755) != 0 || ::mkdir((t + "/a/b").c_str(), 0755) != 0)
      Violation("cannot lay out the scratch directory");
    int fd = ::open((t + "/canary/victim").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || !WriteAll(fd, "canary\n", 7)) Violation("cannot write the canary");
    ::close(fd);
    int dfd = ::open((t + "/canary").c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd < 0 || ::dup2(dfd, kCanaryFd) != kCanaryFd) Violation("cannot hold the canary directory");
    ::close(dfd);
    return t;
  }();
  return dir;
}

using Stamp = std::tuple<ino_t, mode_t, uid_t, gid_t, nlink_t, off_t, long, long, long, long, std::string>;

// Everything under `dir` but `skip` (a path relative to the walk's root).
void Walk(const std::string& root, const std::string& rel, const std::string& skip,
          std::map<std::string, Stamp>* out) {
  const std::string path = rel.empty() ? root : root + "/" + rel;
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return;
  (*out)[rel] = {st.st_ino, st.st_mode, st.st_uid, st.st_gid, st.st_nlink, st.st_size,
                 st.st_mtim.tv_sec, st.st_mtim.tv_nsec, st.st_ctim.tv_sec, st.st_ctim.tv_nsec,
                 S_ISREG(st.st_mode) ? ReadAll(path) : std::string()};
  if (!S_ISDIR(st.st_mode)) return;
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  auto entries = strata::sys::ReadDir(fd);
  ::close(fd);
  if (!entries.ok()) return;
  for (const auto& e : *entries) {
    const std::string child = rel.empty() ? e.name : rel + "/" + e.name;
    if (child != skip) Walk(root, child, skip, out);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& root = Root();
  if (root.empty()) return 0;
  const std::string layer = root + "/a/b/layer";
  if (::mkdir(layer.c_str(), 0755) != 0) Violation("the layer directory was not cleaned");
  std::map<std::string, Stamp> before, after;
  Walk(root, "", "a/b/layer", &before);

  int in = ::memfd_create("strata-fuzz-tar", MFD_CLOEXEC);
  if (in < 0 || !WriteAll(in, data, size)) Violation("cannot stage the input");
  std::string error;
  auto stats = strata::tools::ImportLayerTar("/proc/self/fd/" + std::to_string(in), layer, &error);
  ::close(in);
  if (!stats.ok() && error.empty()) Violation("an import failed without an error message");

  Walk(root, "", "a/b/layer", &after);
  if (after != before) {
    for (const auto& [p, s] : after)
      if (!before.count(p)) Violation("written outside the layer: " + root + "/" + p);
    for (const auto& [p, s] : before) {
      auto it = after.find(p);
      if (it == after.end()) Violation("removed outside the layer: " + root + "/" + p);
      if (it->second != s) Violation("changed outside the layer: " + root + "/" + p);
    }
  }
  if (!strata::layer::RemoveTree(AT_FDCWD, layer.c_str()).ok()) Violation("cannot clean the layer");
  return 0;
}
