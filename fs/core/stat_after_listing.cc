#include "fs/core/stat_after_listing.h"

#include <algorithm>

namespace strata {

bool StatAfterListing::WantsAttrs(pid_t caller) const {
  // Requests the kernel makes on its own behalf have no caller: give them all.
  if (caller <= 0) return true;
  Slot& s = SlotOf(caller);
  std::lock_guard lock(s.mu);
  return s.caller == caller && s.wants_attrs;
}

void StatAfterListing::ListedBare(pid_t caller, uint64_t dir) {
  if (caller <= 0) return;
  Slot& s = SlotOf(caller);
  std::lock_guard lock(s.mu);
  if (s.caller != caller) {
    s.caller = caller;
    s.wants_attrs = false;
    s.dirs.fill(0);
    s.next_dir = 0;
  }
  if (std::find(s.dirs.begin(), s.dirs.end(), dir) != s.dirs.end()) return;
  s.dirs[s.next_dir] = dir;
  s.next_dir = (s.next_dir + 1) % kWatchedDirs;
}

void StatAfterListing::LookedUp(pid_t caller, uint64_t parent) {
  if (caller <= 0 || parent == 0) return;
  Slot& s = SlotOf(caller);
  std::lock_guard lock(s.mu);
  if (s.caller != caller || s.wants_attrs) return;
  if (std::find(s.dirs.begin(), s.dirs.end(), parent) != s.dirs.end()) s.wants_attrs = true;
}

}  // namespace strata
