#include "tests/mount/mount_registry.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <sstream>

namespace strata::mounttest {
namespace {

std::mutex& RegistryMutex() {
  static std::mutex mutex;
  return mutex;
}
std::vector<std::string>& Registry() {  // guarded by RegistryMutex()
  static std::vector<std::string> mounts;
  return mounts;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string UnescapeMountinfo(const std::string& field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      out.push_back(static_cast<char>(std::stoi(field.substr(i + 1, 3), nullptr, 8)));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

}  // namespace

void RegisterMount(const std::string& mountpoint) {
  std::lock_guard lock(RegistryMutex());
  Registry().push_back(mountpoint);
}

void UnregisterMount(const std::string& mountpoint) {
  std::lock_guard lock(RegistryMutex());
  auto& mounts = Registry();
  auto it = std::find(mounts.rbegin(), mounts.rend(), mountpoint);
  if (it != mounts.rend()) mounts.erase(std::next(it).base());
}

std::vector<std::string> RegisteredMounts() {
  std::lock_guard lock(RegistryMutex());
  return Registry();
}

bool IsMounted(const std::string& mountpoint) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, point;
    fields >> id >> parent >> devno >> root >> point;
    if (UnescapeMountinfo(point) == mountpoint) return true;
  }
  return false;
}

void AbortFuseConnection(const std::string& mountpoint) {
  // Find the mount's device number from mountinfo rather than stat(), which
  // would itself block on a hung daemon.
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, point;
    fields >> id >> parent >> devno >> root >> point;
    if (UnescapeMountinfo(point) != mountpoint) continue;
    if (line.find(" - fuse") == std::string::npos) return;
    unsigned major_no = 0, minor_no = 0;
    if (sscanf(devno.c_str(), "%u:%u", &major_no, &minor_no) != 2) return;
    std::string abort_path = "/sys/fs/fuse/connections/" + std::to_string(minor_no) + "/abort";
    int fd = open(abort_path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      (void)!write(fd, "1", 1);
      close(fd);
    }
    return;
  }
}

}  // namespace strata::mounttest
