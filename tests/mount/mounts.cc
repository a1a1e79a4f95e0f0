#include "tests/mount/mounts.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/mount/mount_registry.h"

namespace strata::mounttest {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPollInterval = std::chrono::milliseconds(5);
constexpr auto kDaemonStartLimit = std::chrono::seconds(20);
constexpr auto kUnmountLimit = std::chrono::seconds(10);

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::string LayerPaths::OverlayOptions() const {
  std::string options = "lowerdir=";
  for (size_t i = 0; i < lowers.size(); ++i) {
    if (i) options += ":";
    options += lowers[i];
  }
  if (!upper.empty()) options += ",upperdir=" + upper + ",workdir=" + work;
  return options;
}

std::string StratafsPath() {
  const char* exe = getenv("STRATAFS");
  return exe ? exe : "";
}

MountGuard::MountGuard(std::string mountpoint) : mountpoint_(std::move(mountpoint)) {
  RegisterMount(mountpoint_);
}

MountGuard::~MountGuard() {
  std::string error = Unmount();
  if (!error.empty()) fprintf(stderr, "unmount %s: %s\n", mountpoint_.c_str(), error.c_str());
}

std::string MountGuard::Unmount() {
  if (!mounted_) return "";
  mounted_ = false;
  std::string error;
  auto deadline = Clock::now() + kUnmountLimit;
  // A just-closed file can keep the mount busy for a moment (FUSE release is
  // asynchronous), so retry a clean unmount for a bounded time before
  // detaching.
  auto busy_limit = Clock::now() + std::chrono::seconds(2);
  while (umount2(mountpoint_.c_str(), 0) != 0) {
    if (errno == EINVAL || errno == ENOENT) break;  // not mounted any more
    if (errno != EBUSY || Clock::now() > busy_limit) {
      error = std::string("umount2: ") + strerror(errno) + ", detaching";
      AbortFuseConnection(mountpoint_);
      umount2(mountpoint_.c_str(), MNT_DETACH);
      break;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  while (IsMounted(mountpoint_)) {
    if (Clock::now() > deadline) {
      error += " still in mountinfo after unmount";
      break;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  UnregisterMount(mountpoint_);
  return error;
}

std::unique_ptr<MountGuard> MountKernelOverlay(const LayerPaths& layers,
                                               const std::string& mountpoint,
                                               std::string* error) {
  std::string options = layers.OverlayOptions();
  unsigned long flags = layers.upper.empty() ? MS_RDONLY : 0;
  if (mount("overlay", mountpoint.c_str(), "overlay", flags, options.c_str()) != 0) {
    *error = "mount overlay " + options + ": " + strerror(errno);
    return nullptr;
  }
  return std::make_unique<MountGuard>(mountpoint);
}

std::unique_ptr<MountGuard> MountFuse(const std::string& exe, const LayerPaths& layers,
                                      const std::string& mountpoint, std::string* error,
                                      const std::string& extra_options) {
  if (exe.empty()) {
    *error = "STRATAFS is not set (path of the FUSE daemon under test)";
    return nullptr;
  }
  std::string options = layers.OverlayOptions() + extra_options;
  // A whole suite can run with other daemon options (e.g. copyup=chunked).
  if (const char* more = getenv("STRATAFS_EXTRA_OPTS"); more && *more) options += std::string(",") + more;
  // The daemon's own output goes to a log file beside the mount point, so it
  // can be shown when the mount fails.
  std::string log_path = mountpoint + ".daemon-log";
  pid_t pid = fork();
  if (pid < 0) {
    *error = std::string("fork: ") + strerror(errno);
    return nullptr;
  }
  if (pid == 0) {
    int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log >= 0) {
      dup2(log, STDOUT_FILENO);
      dup2(log, STDERR_FILENO);
    }
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    execl(exe.c_str(), exe.c_str(), mountpoint.c_str(), "-o", options.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  auto deadline = Clock::now() + kDaemonStartLimit;
  int status = 0;
  while (true) {
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (Clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      AbortFuseConnection(mountpoint);
      umount2(mountpoint.c_str(), MNT_DETACH);
      *error = exe + " did not return within the start limit; log: " + ReadSmallFile(log_path);
      return nullptr;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    *error = exe + " " + mountpoint + " -o " + options + " failed (status " +
             std::to_string(status) + "): " + ReadSmallFile(log_path);
    if (IsMounted(mountpoint)) umount2(mountpoint.c_str(), MNT_DETACH);
    return nullptr;
  }
  if (!IsMounted(mountpoint)) {
    *error = exe + " exited 0 but " + mountpoint + " is not in mountinfo (not live on return)";
    return nullptr;
  }
  return std::make_unique<MountGuard>(mountpoint);
}

}  // namespace strata::mounttest
