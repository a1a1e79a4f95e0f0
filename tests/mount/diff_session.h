// One differential run: the fixture copied for kernel overlayfs and for the
// FUSE daemon under test, both mounted, every op run on both and compared,
// then the final trees compared, the daemon's upper remounted by the daemon
// and by kernel overlayfs and compared again.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tests/mount/layer_builder.h"
#include "tests/mount/mounts.h"
#include "tests/mount/ops.h"
#include "tests/mount/temp_dir.h"
#include "tests/mount/tree_snapshot.h"

namespace strata::mounttest {

struct SessionOptions {
  // Form of the fixture's "foreign" markers on the daemon's side (the kernel
  // always gets kKernel).
  MarkerForm daemon_form = MarkerForm::kOci;
  bool read_only = false;
  // More -o options for the daemon (",name=value,..."), after the layers.
  std::string daemon_options{};
};

class DiffSession {
 public:
  explicit DiffSession(const std::string& tag, SessionOptions options = {});
  ~DiffSession();

  // "" on success, else why a mount failed (the caller fails the test).
  std::string Start();

  // Runs op on both mounts; returns "" when results agree, else a message.
  std::string Apply(const Op& op);
  // Runs op on the daemon mount only (for stratafs-only rules).
  OpResult ApplyDaemonOnly(const Op& op);
  OpResult ApplyKernelOnly(const Op& op);

  // Every op applied so far, numbered, with both results.
  std::string Log() const;

  // Tree of the kernel mount vs the daemon mount ("" when equal).
  std::string CompareLiveTrees();
  // Unmounts both, then: daemon remounted over its own upper vs the kernel's
  // final tree; kernel overlayfs over the daemon's upper and pristine lowers
  // vs the kernel's final tree. Returns all differences found.
  std::string CheckAfterUnmount();

  const std::string& kernel_mnt() const { return kernel_mnt_; }
  const std::string& daemon_mnt() const { return daemon_mnt_; }
  const LayerPaths& daemon_layers() const { return daemon_layers_; }
  const LayerPaths& kernel_layers() const { return kernel_layers_; }
  const std::string& root() const { return dir_.path(); }
  std::string DaemonPath(const std::string& rel) const { return daemon_mnt_ + "/" + rel; }
  std::string KernelPath(const std::string& rel) const { return kernel_mnt_ + "/" + rel; }
  // Remounts the daemon (same layers); "" on success.
  std::string RemountDaemon();

  DiffOptions diff_options;

 private:
  LayerPaths MakeSide(const std::string& name, MarkerForm form);

  SessionOptions options_;
  TempDir dir_;
  std::string exe_;
  LayerPaths kernel_layers_, daemon_layers_;
  std::string kernel_mnt_, daemon_mnt_;
  std::unique_ptr<MountGuard> kernel_mount_, daemon_mount_;
  std::unique_ptr<OpRunner> kernel_runner_, daemon_runner_;
  std::vector<std::string> log_;
  Tree kernel_final_;
  bool have_kernel_final_ = false;
};

}  // namespace strata::mounttest
