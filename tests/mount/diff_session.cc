#include "tests/mount/diff_session.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "tests/mount/fixture.h"

namespace strata::mounttest {

DiffSession::DiffSession(const std::string& tag, SessionOptions options)
    : options_(options), dir_(tag), exe_(StratafsPath()) {
  kernel_layers_ = MakeSide("k", MarkerForm::kKernel);
  daemon_layers_ = MakeSide("s", options_.daemon_form);
  kernel_mnt_ = dir_.Sub("k/mnt", true);
  daemon_mnt_ = dir_.Sub("s/mnt", true);
}

DiffSession::~DiffSession() {
  // Files open on a mount keep it busy: close them before unmounting.
  kernel_runner_.reset();
  daemon_runner_.reset();
  daemon_mount_.reset();
  kernel_mount_.reset();
}

LayerPaths DiffSession::MakeSide(const std::string& name, MarkerForm form) {
  LayerPaths layers;
  layers.lowers = BuildFixture(dir_.Sub(name), form);
  if (!options_.read_only) {
    layers.upper = dir_.Sub(name + "/upper", true);
    layers.work = dir_.Sub(name + "/work", true);
  }
  return layers;
}

std::string DiffSession::Start() {
  std::string error;
  kernel_mount_ = MountKernelOverlay(kernel_layers_, kernel_mnt_, &error);
  if (!kernel_mount_) return "kernel overlay: " + error;
  daemon_mount_ = MountFuse(exe_, daemon_layers_, daemon_mnt_, &error, options_.daemon_options);
  if (!daemon_mount_) return "daemon: " + error;
  kernel_runner_ = std::make_unique<OpRunner>(kernel_mnt_);
  daemon_runner_ = std::make_unique<OpRunner>(daemon_mnt_);
  return "";
}

std::string DiffSession::RemountDaemon() {
  daemon_runner_.reset();
  if (daemon_mount_) {
    std::string error = daemon_mount_->Unmount();
    daemon_mount_.reset();
    if (!error.empty()) return "unmount: " + error;
  }
  std::string error;
  daemon_mount_ = MountFuse(exe_, daemon_layers_, daemon_mnt_, &error, options_.daemon_options);
  if (!daemon_mount_) return "remount: " + error;
  daemon_runner_ = std::make_unique<OpRunner>(daemon_mnt_);
  return "";
}

std::string DiffSession::Apply(const Op& op) {
  if (!kernel_runner_ || !daemon_runner_) return "not mounted: " + op.ToString();
  OpResult want = kernel_runner_->Run(op);
  OpResult got = daemon_runner_->Run(op);
  std::string line = std::to_string(log_.size() + 1) + ". " + op.ToString() +
                     " -> kernel: " + want.ToString();
  if (want == got) {
    log_.push_back(line);
    return "";
  }
  line += "  DAEMON: " + got.ToString() + "   <== MISMATCH";
  log_.push_back(line);
  return "op " + op.ToString() + ": kernel " + want.ToString() + ", daemon " + got.ToString();
}

OpResult DiffSession::ApplyDaemonOnly(const Op& op) {
  if (!daemon_runner_) return {-1, ENOTCONN, "not mounted"};
  OpResult got = daemon_runner_->Run(op);
  log_.push_back(std::to_string(log_.size() + 1) + ". [daemon only] " + op.ToString() + " -> " +
                 got.ToString());
  return got;
}

OpResult DiffSession::ApplyKernelOnly(const Op& op) {
  if (!kernel_runner_) return {-1, ENOTCONN, "not mounted"};
  OpResult got = kernel_runner_->Run(op);
  log_.push_back(std::to_string(log_.size() + 1) + ". [kernel only] " + op.ToString() + " -> " +
                 got.ToString());
  return got;
}

std::string DiffSession::Log() const {
  std::string out;
  for (const std::string& line : log_) out += "  " + line + "\n";
  return out;
}

std::string DiffSession::CompareLiveTrees() {
  Tree kernel = Snapshot(kernel_mnt_);
  Tree daemon = Snapshot(daemon_mnt_);
  kernel_final_ = kernel;
  have_kernel_final_ = true;
  std::string diff = DiffTrees(kernel, daemon, diff_options);
  return diff.empty() ? "" : "live trees (expected = kernel, actual = daemon):\n" + diff;
}

std::string DiffSession::CheckAfterUnmount() {
  if (!have_kernel_final_) kernel_final_ = Snapshot(kernel_mnt_);
  kernel_runner_.reset();
  daemon_runner_.reset();
  std::string report;
  if (kernel_mount_) {
    std::string error = kernel_mount_->Unmount();
    if (!error.empty()) report += "kernel unmount: " + error + "\n";
    kernel_mount_.reset();
  }
  if (std::string error = RemountDaemon(); !error.empty()) {
    return report + "daemon " + error + "\n";
  }
  std::string diff = DiffTrees(kernel_final_, Snapshot(daemon_mnt_), diff_options);
  if (!diff.empty()) report += "daemon remounted over its upper (expected = kernel):\n" + diff;
  daemon_runner_.reset();
  if (std::string error = daemon_mount_->Unmount(); !error.empty()) {
    report += "daemon unmount: " + error + "\n";
  }
  daemon_mount_.reset();
  if (options_.read_only) return report;

  // With copyup=chunked the upper holds chunked files: `strata materialize`
  // turns them into plain ones, after which the kernel must see the same tree.
  if (const char* strata = getenv("STRATA_MT_MATERIALIZE"); strata && *strata) {
    std::string lowers;
    for (const auto& l : daemon_layers_.lowers) lowers += (lowers.empty() ? "" : ":") + l;
    std::string cmd = std::string(strata) + " materialize --no-progress " + daemon_layers_.upper +
                      " --lower " + lowers + " --workdir " + daemon_layers_.work + " >/dev/null";
    if (int rc = std::system(cmd.c_str()); rc != 0)
      report += "strata materialize failed (" + std::to_string(rc) + "): " + cmd + "\n";
  }
  // Kernel overlayfs reading the daemon's upper over pristine kernel-form lowers.
  LayerPaths check;
  check.lowers = BuildFixture(dir_.Sub("pristine"), MarkerForm::kKernel);
  check.upper = daemon_layers_.upper;
  check.work = dir_.Sub("s/kernel-work", true);
  std::string mnt = dir_.Sub("pristine/mnt", true);
  std::string error;
  auto mount = MountKernelOverlay(check, mnt, &error);
  if (!mount) return report + "kernel over daemon upper: " + error + "\n";
  diff = DiffTrees(kernel_final_, Snapshot(mnt), diff_options);
  if (!diff.empty()) report += "kernel overlayfs over the daemon's upper (expected = kernel):\n" + diff;
  return report;
}

}  // namespace strata::mounttest
