// Shared helpers for the unit tests: a temporary directory removed in teardown,
// small file-creation helpers that fail the test on error, and LayerTest, a
// fixture that builds an on-disk layer stack (upper, work, lowers) and walks it
// with the real resolver and merged listing, without any FUSE mount.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fs/layer/layer.h"
#include "fs/layer/merged_dir.h"
#include "fs/layer/resolver.h"

namespace strata::unittest {

// A fresh directory under /tmp (ext4 here: trusted.* and user.* xattrs work),
// removed with everything below it when the object goes away. Filesystems
// mounted below it must be unmounted first (see TmpfsMount).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(std::string_view rel) const { return path_ + "/" + std::string(rel); }

 private:
  std::string path_;
};

// A small tmpfs mounted at `dir` (created if missing) for as long as the
// object lives: a second filesystem for cross-device checks.
class TmpfsMount {
 public:
  explicit TmpfsMount(const std::string& dir);
  ~TmpfsMount();
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  bool mounted() const { return mounted_; }

 private:
  std::string dir_;
  bool mounted_ = false;
};

// File-system helpers on absolute paths; each ADD_FAILUREs on error and
// creates missing parent directories (mode 0755).
void MakeDirs(const std::string& path, mode_t mode = 0755);
void WriteFile(const std::string& path, std::string_view data = "", mode_t mode = 0644);
void MakeSymlink(const std::string& target, const std::string& path);
void MakeCharDevice(const std::string& path, unsigned major, unsigned minor);
// The kernel's whiteout: a character device 0/0.
void MakeDeviceWhiteout(const std::string& path);
void MakeFifo(const std::string& path);
// lsetxattr: never follows a symlink.
void SetXattr(const std::string& path, const std::string& name, std::string_view value);
// lgetxattr; nullopt when absent.
std::optional<std::string> GetXattr(const std::string& path, const std::string& name);
std::vector<std::string> ListXattrs(const std::string& path);
struct stat Lstat(const std::string& path);
bool Exists(const std::string& path);
std::string ReadFile(const std::string& path);
// Names in a directory, sorted, without "." and "..".
std::vector<std::string> ListDir(const std::string& path);

// Layer stack fixture. Layout under a TempDir:
//   upper/  work/  lower0/ (top lower) ... lowerN-1/ (bottom)
// With an upper, layer index 0 is the upper and lower i is index i + 1
// (LayerStack's order); LowerIndex() does that arithmetic.
class LayerTest : public ::testing::Test {
 protected:
  // Creates the directories for `lowers` lower layers (and upper/work).
  void SetUpLayers(int lowers);

  std::string Upper(std::string_view rel = "") const { return Sub("upper", rel); }
  std::string Work() const { return dir_.path() + "/work"; }
  std::string Lower(int i, std::string_view rel = "") const {
    return Sub("lower" + std::to_string(i), rel);
  }
  int LowerIndex(int i) const { return with_upper_ ? i + 1 : i; }

  // Opens the stack (with or without the upper); fails the test on error.
  const layer::LayerStack& OpenStack(bool with_upper = true);
  const layer::LayerStack& stack() const { return *stack_; }

  // The root's instances, cut at the first opaque one (as the daemon does).
  std::vector<layer::DirInstance> RootDirs() const;

  // Resolves a relative path ("a/b/c") component by component from the root.
  // An intermediate component that is not a merged directory gives ENOTDIR.
  Result<std::optional<layer::Resolved>> ResolvePath(std::string_view path) const;

  // The merged directory at `path` ("" for the root): instances, then listing.
  std::vector<layer::DirInstance> DirsAt(std::string_view path) const;
  std::vector<layer::MergedEntry> ListAt(std::string_view path) const;
  // Just the names of ListAt(path), sorted.
  std::vector<std::string> NamesAt(std::string_view path) const;

  // Inode number of a real path (lstat).
  static ino_t InoOf(const std::string& path) { return Lstat(path).st_ino; }

  TempDir dir_;

 private:
  std::string Sub(const std::string& top, std::string_view rel) const;
  int lowers_ = 0;
  bool with_upper_ = true;
  std::optional<layer::LayerStack> stack_;
};

}  // namespace strata::unittest
