// UnionFs: removing names — unlink and rmdir, leaving whiteouts where a lower
// layer still has the name.
#include <fcntl.h>
#include <sys/stat.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstring>

#include "fs/core/node_keys.h"
#include "fs/core/union_fs.h"
#include "fs/layer/merged_dir.h"
#include "fs/layer/origin_map.h"
#include "fs/layer/whiteout.h"
#include "fs/layer/work_dir.h"
#include "fs/sys/syscalls.h"

namespace strata {

Status UnionFs::RemoveEntry(const std::shared_ptr<Node>& parent, const std::string& name,
                            const layer::Resolved& victim) {
  STRATA_RETURN_IF_ERROR(CopyUp(parent));
  std::shared_ptr<const Placement> keep;
  auto upper = UpperDirFd(parent, &keep);
  if (!upper.ok()) return Errno(upper.error());
  const int upperfd = *upper;
  const int workfd = stack_.workdir_fd();
  const bool is_dir = S_ISDIR(victim.st.st_mode);
  const bool upper_victim = victim.layer == layer::LayerStack::kUpper;
  // A lower victim always leaves a whiteout (that lower has the name); an
  // upper one only when some lower below it has the name too. Asking only
  // then saves rm -rf of a lower tree one walk of the lowers per name.
  bool need_whiteout = !upper_victim;
  if (upper_victim) {
    auto lower_has = layer::LowerHasName(stack_, keep->dirs, name);
    if (!lower_has.ok()) return Errno(lower_has.error());
    need_whiteout = *lower_has;
  }
  std::shared_ptr<Node> victim_node;
  UniqueFd held;
  if (upper_victim && !is_dir) {
    victim_node = table_->Find(KeyOf(stack_, *parent, name, victim));
    PinBeforeRemoval(victim_node);
    held = HoldForDrop(upperfd, name, victim.st);
  }

  if (victim.layer != layer::LayerStack::kUpper) {
    STRATA_RETURN_IF_ERROR(layer::MakeWhiteout(upperfd, name.c_str(), stack_.markers(), stack_.workdir_fd()));
  } else if (need_whiteout) {
    if (is_dir) {
      // Swap the directory for a whiteout in one step, then delete it (and the
      // whiteouts it may hold) out of sight in the work directory, off the
      // request path.
      const std::string tmp = layer::NewTempName();
      if (::mknodat(workfd, tmp.c_str(), S_IFCHR | 0, 0) < 0) return Errno::Last();
      Status s = sys::RenameAt2(workfd, tmp.c_str(), upperfd, name.c_str(), RENAME_EXCHANGE);
      if (!s.ok()) {
        ::unlinkat(workfd, tmp.c_str(), 0);
        return s;
      }
      reaper_.Remove(tmp);
    } else {
      STRATA_RETURN_IF_ERROR(layer::MakeWhiteoutVia(workfd, upperfd, name.c_str(), stack_.markers()));
    }
  } else if (is_dir) {
    if (::unlinkat(upperfd, name.c_str(), AT_REMOVEDIR) < 0) {
      if (errno != ENOTEMPTY && errno != EEXIST) return Errno::Last();
      // Empty in the merged view but holding stale whiteouts: move it away first.
      const std::string tmp = layer::NewTempName();
      STRATA_RETURN_IF_ERROR(sys::RenameAt2(upperfd, name.c_str(), workfd, tmp.c_str(), 0));
      reaper_.Remove(tmp);
    }
  } else {
    if (::unlinkat(upperfd, name.c_str(), 0) < 0) return Errno::Last();
  }
  // Quota: the upper object goes (its last link, at least), a whiteout may come.
  const bool last_link = is_dir || victim.st.st_nlink <= 1;
  if (upper_victim && last_link && !is_dir) layer::RemoveOrigin(stack_.origins(), victim.st.st_ino);
  quota_.Refund(upper_victim && last_link ? QuotaBytes(victim.st) : 0,
                (upper_victim ? 1 : 0) - (need_whiteout ? 1 : 0));
  Unlinked(parent, name, victim);
  DropWhenUnused(victim_node, std::move(held));
  return Status::Ok();
}

UniqueFd UnionFs::HoldForDrop(int dirfd, const std::string& name, const struct stat& st) const {
  if (!config_.chunked_drop || !S_ISREG(st.st_mode) || st.st_nlink > 1) return UniqueFd();
  // The common case, a plain file, costs one syscall.
  if (config_.chunked_has_state && !config_.chunked_has_state(dirfd, name.c_str()))
    return UniqueFd();
  UniqueFd fd(::openat(dirfd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  struct stat now;
  if (!fd.valid() || ::fstat(fd.get(), &now) < 0 || now.st_dev != st.st_dev ||
      now.st_ino != st.st_ino)
    return UniqueFd();
  return fd;
}

// Why wait for the node: a handle still open on the unlinked file keeps
// using the state (a chunked file's map, created lazily on its first copied
// chunk, could even be created after the unlink). Every open handle holds
// the node, and the kernel forgets an unlinked inode once its last file is
// released, so the node going away is the moment no handle is left.
void UnionFs::DropWhenUnused(const std::shared_ptr<Node>& node, UniqueFd held) {
  if (!held.valid()) return;
  struct stat st;
  // A link() may have given it a new name meanwhile: then nothing goes.
  if (::fstat(held.get(), &st) < 0 || st.st_nlink != 0) return;
  if (!node) {
    RunDrop(held.get());
    return;
  }
  std::lock_guard lock(drops_mu_);
  pending_drops_.push_back({node, std::move(held)});
  pending_drop_count_.store(pending_drops_.size(), std::memory_order_relaxed);
}

void UnionFs::RunPendingDrops(bool all) {
  std::vector<UniqueFd> ready;
  {
    std::lock_guard lock(drops_mu_);
    for (auto it = pending_drops_.begin(); it != pending_drops_.end();) {
      if (all || it->node.expired()) {
        ready.push_back(std::move(it->fd));
        it = pending_drops_.erase(it);
      } else {
        ++it;
      }
    }
    pending_drop_count_.store(pending_drops_.size(), std::memory_order_relaxed);
  }
  for (const auto& fd : ready) RunDrop(fd.get());
}

void UnionFs::RunDrop(int fd) {
  Status s = config_.chunked_drop(fd, stack_.workdir_root_fd());
  if (!s.ok())
    spdlog::warn("cannot delete the private state of an unlinked file: {}", std::strerror(s.error()));
}

UnionFs::~UnionFs() {
  // Unmounted: no handle is left that could use the state.
  if (config_.chunked_drop) RunPendingDrops(true);
}

void UnionFs::Unlinked(const std::shared_ptr<Node>& parent, const std::string& name,
                       const layer::Resolved& victim) {
  parent->InvalidateListing();
  // The object is gone from this path; once no name is left its inode number
  // may be reused, so it must not be found by key any more.
  const bool last_link = S_ISDIR(victim.st.st_mode) || victim.st.st_nlink <= 1 ||
                         victim.layer != layer::LayerStack::kUpper;
  if (!last_link) return;
  if (auto node = table_->Find(KeyOf(stack_, *parent, name, victim))) table_->Unkey(node);
}

Status UnionFs::Unlink(uint64_t parent, std::string_view name) {
  if (config_.read_only) return Errno(EROFS);
  auto dir = DirNode(parent);
  if (!dir.ok()) return Errno(dir.error());
  std::lock_guard ns((*dir)->ns_mu());
  auto r = layer::Resolve(stack_, (*dir)->placement()->dirs, name);
  if (!r.ok()) return Errno(r.error());
  if (!r->has_value()) return Errno(ENOENT);
  if (S_ISDIR((*r)->st.st_mode)) return Errno(EISDIR);
  return RemoveEntry(*dir, std::string(name), **r);
}

Status UnionFs::Rmdir(uint64_t parent, std::string_view name) {
  if (config_.read_only) return Errno(EROFS);
  auto dir = DirNode(parent);
  if (!dir.ok()) return Errno(dir.error());
  std::lock_guard ns((*dir)->ns_mu());
  auto r = layer::Resolve(stack_, (*dir)->placement()->dirs, name);
  if (!r.ok()) return Errno(r.error());
  if (!r->has_value()) return Errno(ENOENT);
  if (!S_ISDIR((*r)->st.st_mode)) return Errno(ENOTDIR);
  auto entries = layer::ListMerged(stack_, (*r)->dirs);
  if (!entries.ok()) return Errno(entries.error());
  if (!entries->empty()) return Errno(ENOTEMPTY);
  return RemoveEntry(*dir, std::string(name), **r);
}

}  // namespace strata
