// Mounting a layer stack with kernel overlayfs or with a FUSE daemon that
// takes the fuse-overlayfs command line ($STRATAFS), and unmounting it
// reliably.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace strata::mounttest {

struct LayerPaths {
  std::vector<std::string> lowers;  // top first
  std::string upper;                // empty: read-only mount
  std::string work;
  // "lowerdir=A:B[,upperdir=U,workdir=W]"
  std::string OverlayOptions() const;
};

// A live mount; the destructor unmounts it (umount2, retried while busy,
// then MNT_DETACH) and waits, bounded, for it to leave mountinfo.
class MountGuard {
 public:
  explicit MountGuard(std::string mountpoint);
  ~MountGuard();
  MountGuard(const MountGuard&) = delete;
  MountGuard& operator=(const MountGuard&) = delete;

  const std::string& mountpoint() const { return mountpoint_; }
  // Unmounts now; returns an error description or "" on success.
  std::string Unmount();

 private:
  std::string mountpoint_;
  bool mounted_ = true;
};

// Both return nullptr and set *error when the mount cannot be made.
std::unique_ptr<MountGuard> MountKernelOverlay(const LayerPaths& layers,
                                               const std::string& mountpoint,
                                               std::string* error);
std::unique_ptr<MountGuard> MountFuse(const std::string& exe, const LayerPaths& layers,
                                      const std::string& mountpoint, std::string* error,
                                      const std::string& extra_options = "");

// $STRATAFS, or "" when unset.
std::string StratafsPath();

}  // namespace strata::mounttest
