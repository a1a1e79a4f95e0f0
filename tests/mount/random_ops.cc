#include "tests/mount/random_ops.h"

#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>

namespace strata::mounttest {
namespace {

// The splitmix64 output function: unrelated states for neighbouring seeds
// (a plain multiple would make seed N+1 replay seed N shifted by one op).
uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

const char* const kNewNames[] = {"n0", "n1", "n2", "new dir", "x"};
const char* const kSymlinkTargets[] = {"a/f_bottom", "../x", "nowhere", "n0",
                                       "/strata-absent/y", "b", "."};

}  // namespace

RandomOps::RandomOps(uint64_t seed, const std::vector<std::string>& existing)
    : state_(Mix(seed + 0x1234567)) {
  pool_ = existing;
  dirs_.push_back("");
  std::vector<std::string> parents = {""};
  for (const std::string& path : existing) {
    size_t slash = path.rfind('/');
    std::string parent = slash == std::string::npos ? "" : path.substr(0, slash);
    if (std::find(parents.begin(), parents.end(), parent) == parents.end()) {
      parents.push_back(parent);
    }
  }
  for (const std::string& parent : parents) {
    if (!parent.empty()) dirs_.push_back(parent);
    for (const char* name : kNewNames) {
      pool_.push_back(parent.empty() ? name : parent + "/" + name);
    }
  }
  // New names inside new directories, so new trees grow too.
  pool_.push_back("n0/n1");
  pool_.push_back("n0/n1/x");
  pool_.push_back("a/n0/x");
  std::sort(pool_.begin(), pool_.end());
  pool_.erase(std::unique(pool_.begin(), pool_.end()), pool_.end());
}

uint64_t RandomOps::Bits() {
  // splitmix64
  return Mix(state_ += 0x9E3779B97F4A7C15ull);
}

off_t RandomOps::AnyOffset() {
  switch (Below(4)) {
    case 0: return 0;
    case 1: return static_cast<off_t>(Below(100));
    case 2: return static_cast<off_t>(Below(70000));
    default: return static_cast<off_t>(Below(3 << 20));
  }
}

size_t RandomOps::AnyLength() {
  switch (Below(3)) {
    case 0: return Below(16);
    case 1: return Below(5000);
    default: return Below(70000);
  }
}

std::string RandomOps::AnyXattrName() {
  // Private names (trusted.overlay.*) are left to the hand-written cases:
  // the kernel escapes them (6.7+) where strata refuses them by design.
  static const char* const kNames[] = {"user.a", "user.b", "user.color", "user.kind",
                                       "user.note"};
  return kNames[Below(5)];
}

int RandomOps::AnyOpenFlags() {
  static const int kAccess[] = {O_RDONLY, O_WRONLY, O_RDWR};
  int flags = kAccess[Below(3)];
  if (Chance(40)) flags |= O_CREAT;
  if ((flags & O_CREAT) && Chance(30)) flags |= O_EXCL;
  if (flags != O_RDONLY && Chance(20)) flags |= O_TRUNC;
  if (Chance(10)) flags |= O_APPEND;
  if (Chance(5)) flags = O_RDONLY | O_DIRECTORY;
  if (Chance(5)) flags |= O_NOFOLLOW;
  return flags;
}

Op RandomOps::Next() {
  static const mode_t kModes[] = {0644, 0600, 0755, 0700, 0444, 0640, 04755, 02755, 01777};
  static const uid_t kIds[] = {0, 1000, 65534};
  size_t roll = Below(115);
  const std::string& path = AnyPath();
  if (roll < 12) return Write(path, AnyOffset(), AnyLength(), next_seed_++, Chance(10) ? O_APPEND : 0);
  if (roll < 18) return Read(path, AnyOffset(), AnyLength() + 1);
  if (roll < 26) return Stat(path, Chance(20));
  if (roll < 31) return Readdir(Chance(70) ? AnyDir() : path);
  if (roll < 37) return OpenClose(path, AnyOpenFlags(), kModes[Below(6)]);
  if (roll < 41) return Truncate(path, AnyOffset());
  if (roll < 45) return Chmod(path, kModes[Below(9)]);
  if (roll < 48) return Chown(path, kIds[Below(3)], kIds[Below(3)]);
  if (roll < 51) {
    time_t when = 1000000000 + static_cast<time_t>(Below(400000000));
    return Utimens(path, when, when + 1, Chance(50) ? AT_SYMLINK_NOFOLLOW : 0);
  }
  if (roll < 56) return Mkdir(path, kModes[Below(6)]);
  if (roll < 60) return Rmdir(path);
  if (roll < 66) return Unlink(path);
  if (roll < 75) {
    int flags = 0;
    if (Chance(15)) flags = RENAME_NOREPLACE;
    else if (Chance(15)) flags = RENAME_EXCHANGE;
    return Rename(path, AnyPath(), flags);
  }
  if (roll < 78) return Link(path, AnyPath());
  if (roll < 81) return Symlink(kSymlinkTargets[Below(7)], path);
  if (roll < 83) return Mkfifo(path, kModes[Below(6)]);
  if (roll < 87) {
    static const int kFlags[] = {0, 0, XATTR_CREATE, XATTR_REPLACE};
    return Setxattr(path, AnyXattrName(), "v" + std::to_string(Below(1000)), kFlags[Below(4)]);
  }
  if (roll < 90) return Getxattr(path, AnyXattrName());
  if (roll < 92) return Removexattr(path, AnyXattrName());
  if (roll < 95) return Listxattr(path);
  if (roll < 97) return Readlink(path);
  if (roll < 99) {
    static const int kAccessModes[] = {F_OK, R_OK, W_OK, X_OK, R_OK | W_OK};
    return Access(path, kAccessModes[Below(5)]);
  }
  int slot = static_cast<int>(Below(kSlots));
  switch (Below(6)) {
    case 0: return OpenSlot(slot, path, AnyOpenFlags(), 0644);
    case 1: return PwriteSlot(slot, AnyOffset(), AnyLength(), next_seed_++);
    case 2: return PreadSlot(slot, AnyOffset(), AnyLength() + 1);
    case 3: return FtruncateSlot(slot, AnyOffset());
    case 4: return FstatSlot(slot);
    default: return CloseSlot(slot);
  }
}

}  // namespace strata::mounttest
