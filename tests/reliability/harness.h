// Shared pieces of the reliability tests: scratch directories, a stratafs
// daemon run in the foreground as a child (so a test can kill -9 it and read
// its RSS), kernel overlayfs mounts used as the oracle, running a function as
// an unprivileged user, and a tree snapshot to compare two views.
//
// Every guard here undoes what it set up in its destructor (lazy unmount as
// the last resort), so a failing assertion never leaves a mount behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace strata::reltest {

// Path of the daemon under test ($STRATAFS, set by meson).
std::string StratafsPath();

// Runs argv (PATH lookup), output discarded; true on exit status 0.
bool RunCommand(const std::vector<std::string>& argv);

// Reads an integer from the environment, `fallback` when unset or bad.
long EnvLong(const char* name, long fallback);

// mkdtemp under /tmp; removed (after detaching any mount below it) on destruction.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  // Creates (mkdir -p style, one level) and returns path()/name.
  std::string Sub(const std::string& name) const;

 private:
  std::string path_;
};

// rm -rf that never crosses into another filesystem and never follows symlinks.
void RemoveTree(const std::string& path);

// Is `dir` a mount point whose filesystem type is `fstype` (or any type when empty)?
bool IsMounted(const std::string& dir, const std::string& fstype = "");

// Lazy-unmounts `dir` while it is mounted (stacked mounts included).
void DetachAll(const std::string& dir);

struct StrataConfig {
  std::vector<std::string> lowers;  // top first
  std::string upper;
  std::string work;
  std::string extra_opts;  // appended to -o after a comma
};

// stratafs -f as a child process. Start() returns once the mount is live.
class StrataDaemon {
 public:
  StrataDaemon(std::string mountpoint, StrataConfig config, std::string log_path);
  ~StrataDaemon();
  StrataDaemon(const StrataDaemon&) = delete;
  StrataDaemon& operator=(const StrataDaemon&) = delete;

  // Spawns the daemon and waits (bounded) for the mount; on failure returns
  // false with a message that includes the daemon's log.
  bool Start(std::string* error);
  // SIGKILL, reap; the mount is left dead (ENOTCONN) until Detach().
  void Kill9();
  // umount, falling back to a lazy one; reaps the child. True on a clean exit.
  bool Stop();
  // Lazy unmount of a dead mount.
  void Detach();
  pid_t pid() const { return pid_; }
  bool alive() const;  // the child has not exited
  long RssKiB() const;  // VmRSS of the daemon, -1 if unknown
  std::string Log() const;
  const std::string& mountpoint() const { return mountpoint_; }

 private:
  void Reap(bool block);
  std::string mountpoint_;
  StrataConfig config_;
  std::string log_path_;
  pid_t pid_ = -1;
};

// Kernel overlayfs on `mountpoint`; unmounted on destruction.
class KernelOverlay {
 public:
  KernelOverlay(std::string mountpoint, const StrataConfig& config);
  ~KernelOverlay();
  KernelOverlay(const KernelOverlay&) = delete;
  KernelOverlay& operator=(const KernelOverlay&) = delete;
  bool ok() const { return ok_; }
  int error() const { return errno_; }

 private:
  std::string mountpoint_;
  bool ok_ = false;
  int errno_ = 0;
};

// Runs `fn` in a forked child that dropped to uid/gid (no supplementary
// groups) and returns what fn returned (0..255, by convention 0 or an errno).
// Returns -1 when the child could not be run or did not finish in time.
int RunAs(uid_t uid, gid_t gid, const std::function<int()>& fn,
          std::chrono::seconds limit = std::chrono::seconds(20));

// errno of a syscall-style return value: 0 when rc >= 0.
inline int ErrOf(long rc, int err) { return rc < 0 ? err : 0; }

// One object of a tree as a user sees it (lstat, readlink, content).
struct TreeEntry {
  mode_t mode = 0;  // type and permission bits
  uid_t uid = 0;
  gid_t gid = 0;
  dev_t rdev = 0;
  std::string data;  // file content or symlink target
  bool operator==(const TreeEntry&) const = default;
};
using Tree = std::map<std::string, TreeEntry>;  // relative path -> entry

// Walks `root` without following symlinks. Content of regular files is read
// when `with_data`. Errors are recorded in *error (first one) and skipped.
Tree Snapshot(const std::string& root, bool with_data, std::string* error);

// Human-readable first difference between two trees, empty when equal.
std::string DiffTrees(const Tree& a, const Tree& b);

// Small file helpers (abort the test with a message on failure via the return).
bool WriteFile(const std::string& path, const std::string& data, mode_t mode = 0644);
std::optional<std::string> ReadFile(const std::string& path);
// Deterministic content of `size` bytes derived from `seed`.
std::string Pattern(uint64_t seed, size_t size);

// Copies a directory tree (cp -a semantics, xattrs included) with `cp -a`.
bool CopyTree(const std::string& from, const std::string& to);

// Is the directory empty (no entries besides . and ..)? Missing counts as empty.
bool DirIsEmpty(const std::string& path);

}  // namespace strata::reltest
