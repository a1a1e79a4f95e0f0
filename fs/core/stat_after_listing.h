// StatAfterListing: does a process look at the attributes of what it lists?
//
// READDIRPLUS lets a listing carry every entry's attributes, which spares the
// kernel a LOOKUP per entry when the caller then stats them (`ls -l`, `tar`,
// `rm -rf`). But each attribute is a stat in a layer, and on a cold cache that
// is a read of the entry's inode from disk: a `find` over the benchmark's
// stack read 35,000 inodes it never needed (cold `find` 0.78 s, 0.50 s
// without them; kernel overlayfs reads none). Directories always get theirs
// (a walk descends into them); other entries get theirs only for a caller
// seen to want them.
//
// A caller is the thread id the kernel gives with each request. One that has
// been listed a directory without attributes and then looks up a name in it
// (a stat, an open, an unlink of what it listed) is taken to want them from
// then on; one that never does (`find`, `ls` without -l) keeps getting bare
// listings. The first bare directory of a stat-heavy caller costs one LOOKUP
// per entry, once.
//
// A fixed table of callers, a slot per hash of the thread id; a thread that
// takes another's slot starts over as bare. Guesses only: a wrong one costs
// round trips, never correctness.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <mutex>

#include "fs/base/small_mutex.h"

namespace strata {

class StatAfterListing {
 public:
  static constexpr size_t kSlots = 64;
  // How many of its latest bare directories a caller is watched in.
  static constexpr size_t kWatchedDirs = 4;

  // Whether `caller`'s listings should carry every entry's attributes.
  bool WantsAttrs(pid_t caller) const;
  // `caller` was given entries of directory node `dir` without attributes.
  void ListedBare(pid_t caller, uint64_t dir);
  // `caller` looks up a name in directory node `parent`.
  void LookedUp(pid_t caller, uint64_t parent);

 private:
  struct Slot {
    mutable SmallMutex mu;
    pid_t caller = 0;
    bool wants_attrs = false;
    std::array<uint64_t, kWatchedDirs> dirs{};
    size_t next_dir = 0;
  };
  Slot& SlotOf(pid_t caller) const { return slots_[static_cast<uint32_t>(caller) % kSlots]; }

  mutable std::array<Slot, kSlots> slots_;
};

}  // namespace strata
