#include "tools/layer_diff.h"

#include <fcntl.h>

#include <algorithm>
#include <set>

#include "fs/layer/whiteout.h"
#include "fs/sys/syscalls.h"
#include "tools/layer_entry.h"
#include "tools/tree_walk.h"

namespace strata::tools {

namespace {

// The object at `rel` in one lower layer, without following any symlink
// (containers/storage stats through symlinks; layers here are never followed).
bool LowerStat(int root_fd, const std::string& rel, struct stat* st) {
  auto fd = sys::OpenBeneath(root_fd, rel.c_str(), O_PATH | O_NOFOLLOW);
  if (!fd.ok()) return false;
  auto s = sys::StatFd(fd->get());
  if (!s.ok()) return false;
  *st = *s;
  return true;
}

std::string Parent(const std::string& rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string::npos ? std::string() : rel.substr(0, slash);
}

std::string Base(const std::string& rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string::npos ? rel : rel.substr(slash + 1);
}

// Is `rel` itself whited out in this lower layer (any form)?
bool LowerWhiteout(int root_fd, const std::string& rel) {
  struct stat st;
  if (LowerStat(root_fd, rel, &st) && layer::IsDeviceWhiteout(st)) return true;
  std::string parent = Parent(rel);
  auto dir = parent.empty() ? sys::OpenAt(root_fd, ".", O_RDONLY | O_DIRECTORY)
                            : sys::OpenBeneath(root_fd, parent.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  if (!dir.ok()) return false;
  std::string name = Base(rel);
  if (layer::HasWhiteoutFile(dir->get(), name)) return true;
  struct stat est;
  if (::fstatat(dir->get(), name.c_str(), &est, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISREG(est.st_mode) && est.st_size == 0 && layer::IsXattrWhiteout(dir->get(), name.c_str(), est))
    return true;
  return false;
}

// Is `rel` or one of its parents whited out in this lower layer?
bool LowerWhiteoutOfPathOrParent(int root_fd, const std::string& rel) {
  for (std::string p = rel; !p.empty(); p = Parent(p))
    if (LowerWhiteout(root_fd, p)) return true;
  return false;
}

bool SameTime(const struct timespec& a, const struct timespec& b) {
  // As containers/storage: equal, or equal seconds when one side lost its
  // nanoseconds (tar round trips), allowing the rounded-up second.
  if (a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec) return true;
  if (a.tv_nsec != 0 && b.tv_nsec != 0) return false;
  if (a.tv_sec == b.tv_sec) return true;
  if (b.tv_nsec == 0 && a.tv_sec == b.tv_sec - 1) return true;
  if (a.tv_nsec == 0 && a.tv_sec - 1 == b.tv_sec) return true;
  return false;
}

}  // namespace

Result<std::vector<Change>> UpperChanges(int upper_fd, std::span<const int> lower_fds) {
  std::vector<Change> changes;
  std::set<std::string> changed_dirs;
  int failed = 0;

  auto record_parents = [&](const std::string& rel) {
    std::vector<std::string> missing;
    for (std::string p = Parent(rel); !p.empty(); p = Parent(p))
      if (changed_dirs.insert(p).second) missing.push_back(p);
    for (auto& p : missing) changes.push_back(Change{'C', "/" + p});
  };

  Status walked = WalkTree(upper_fd, false, [&](const WalkItem& item) {
    ClassifiedEntry c = ClassifyEntry(item.parent_fd, item.name, item.st);
    std::string dir = Parent(item.path);
    if (c.kind == EntryKind::kOpaqueMarker) return WalkAction::kContinue;  // the dir says it
    if (c.kind == EntryKind::kWhiteout) {
      std::string target = dir.empty() ? c.target : dir + "/" + c.target;
      record_parents(target);
      changes.push_back(Change{'D', "/" + target});
      return WalkAction::kContinue;
    }
    const bool is_dir = c.kind == EntryKind::kDirectory;
    char kind = 'A';
    if (is_dir && (IsOpaqueDir(item.fd) || layer::HasWhiteoutFile(item.parent_fd, item.name))) {
      // Deleted and re-created here, if some lower had it.
      for (int lower : lower_fds) {
        struct stat st;
        if (LowerStat(lower, item.path, &st)) {
          if (!layer::IsDeviceWhiteout(st)) kind = 'D';
          break;
        }
        if (LowerWhiteoutOfPathOrParent(lower, item.path)) break;
      }
    }
    if (kind != 'D') {
      for (int lower : lower_fds) {
        if (LowerWhiteoutOfPathOrParent(lower, item.path)) break;
        struct stat st;
        if (!LowerStat(lower, item.path, &st)) continue;
        if (S_ISDIR(st.st_mode) && is_dir && st.st_size == item.st.st_size &&
            st.st_mode == item.st.st_mode && SameTime(st.st_mtim, item.st.st_mtim))
          return WalkAction::kContinue;  // only a parent of changes: reported through them
        kind = 'C';
        break;
      }
    }
    if (is_dir) changed_dirs.insert(item.path);
    if (kind != 'C') record_parents(item.path);
    changes.push_back(Change{kind, "/" + item.path});
    return WalkAction::kContinue;
  });
  if (!walked.ok()) return Errno(walked.error());
  if (failed) return Errno(failed);
  std::sort(changes.begin(), changes.end(),
            [](const Change& a, const Change& b) { return a.path < b.path; });
  // Several whiteout forms of one name in one directory: report it once.
  changes.erase(std::unique(changes.begin(), changes.end()), changes.end());
  return changes;
}

}  // namespace strata::tools
