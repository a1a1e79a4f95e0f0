#include "fs/layer/work_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

#include "fs/sys/syscalls.h"

namespace strata::layer {

Status RemoveTree(int dirfd, const char* name) {
  if (::unlinkat(dirfd, name, 0) == 0) return Status::Ok();
  if (errno == ENOENT) return Status::Ok();
  if (errno != EISDIR && errno != EPERM) return Errno::Last();
  auto dir = sys::OpenAt(dirfd, name, O_RDONLY | O_DIRECTORY);
  if (!dir.ok()) return Errno(dir.error());
  auto entries = sys::ReadDir(dir->get());
  if (!entries.ok()) return Errno(entries.error());
  for (const auto& e : *entries) STRATA_RETURN_IF_ERROR(RemoveTree(dir->get(), e.name.c_str()));
  if (::unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT) return Errno::Last();
  return Status::Ok();
}

Result<UniqueFd> PrepareWorkDir(const std::string& workdir) {
  auto top = sys::OpenAt(AT_FDCWD, workdir.c_str(), O_RDONLY | O_DIRECTORY);
  if (!top.ok()) return Errno(top.error());
  // Like the kernel, "work" is mode 0: only the daemon uses it. Without root
  // the daemon needs its owner's rights on it (kernel overlayfs does not care
  // about the mode of an existing "work", it empties and re-creates it).
  const mode_t mode = ::geteuid() == 0 ? 0 : 0700;
  if (::mkdirat(top->get(), "work", mode) < 0 && errno != EEXIST) return Errno::Last();
  if (mode != 0) ::fchmodat(top->get(), "work", mode, 0);
  auto work = sys::OpenAt(top->get(), "work", O_RDONLY | O_DIRECTORY);
  if (!work.ok()) return Errno(work.error());
  auto entries = sys::ReadDir(work->get());
  if (!entries.ok()) return Errno(entries.error());
  for (const auto& e : *entries) STRATA_RETURN_IF_ERROR(RemoveTree(work->get(), e.name.c_str()));
  return std::move(*work);
}

std::string NewTempName() {
  static std::atomic<unsigned long> counter{0};
  char buf[48];
  std::snprintf(buf, sizeof buf, "#%x.%lx", static_cast<unsigned>(::getpid()),
                counter.fetch_add(1, std::memory_order_relaxed));
  return buf;
}

}  // namespace strata::layer
