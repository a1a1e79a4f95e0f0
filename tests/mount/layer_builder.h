// Writes layer directories entry by entry with exact modes, owners, xattrs
// and (at Finish) deterministic timestamps, so the same fixture can be
// written into any number of directories and compared entry for entry.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace strata::mounttest {

// How whiteouts and opaque markers are written.
//   kKernel: char device 0/0 and trusted.overlay.opaque=y, the only forms
//            kernel overlayfs understands (and the one strata writes).
//   kOci:    `.wh.NAME` files and `.wh..wh..opq` (OCI layer tarball form).
//   kUserXattr: user.overlay.opaque=y (rootless/userxattr form).
enum class MarkerForm { kKernel, kOci, kUserXattr };

class LayerBuilder {
 public:
  // Writes into root (created if missing). Failures abort the process:
  // a fixture that is not what it claims to be would make every test lie.
  explicit LayerBuilder(std::string root);

  void Dir(const std::string& path, mode_t mode, uid_t uid = 0, gid_t gid = 0);
  void File(const std::string& path, mode_t mode, const std::string& content, uid_t uid = 0,
            gid_t gid = 0);
  // A file of `size` bytes that is all hole except `data_len` pseudo-random
  // bytes at `data_offset`.
  void SparseFile(const std::string& path, mode_t mode, off_t size, off_t data_offset,
                  size_t data_len);
  void Symlink(const std::string& path, const std::string& target, uid_t uid = 0, gid_t gid = 0);
  void HardLink(const std::string& existing, const std::string& path);
  void Fifo(const std::string& path, mode_t mode);
  void CharDevice(const std::string& path, mode_t mode, unsigned major_no, unsigned minor_no);
  void Xattr(const std::string& path, const std::string& name, const std::string& value);
  void Whiteout(const std::string& path, MarkerForm form);
  void Opaque(const std::string& dir, MarkerForm form);
  // Sets every entry's atime/mtime to a fixed time derived from its path.
  // Call last: creating children changes a directory's mtime.
  void Finish();

  const std::string& root() const { return root_; }

 private:
  std::string Full(const std::string& path) const { return root_ + "/" + path; }

  std::string root_;
  std::vector<std::string> entries_;  // everything created, for Finish()
};

// Deterministic pseudo-random bytes (the same for the same seed everywhere).
std::string PatternBytes(uint64_t seed, size_t len);

// Timestamps the fixture and tests set explicitly are all before this
// (2015-01-01); times after it are "now" and are not compared across mounts.
constexpr time_t kFixedTimeLimit = 1420070400;

}  // namespace strata::mounttest
