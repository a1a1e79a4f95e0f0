// File-system operations as data, so the same sequence can run on two
// mounts and every result (return value, errno, what was read) compared.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <string>

namespace strata::mounttest {

enum class OpKind {
  kOpenClose,   // open(path, flags, mode) then close
  kOpenSlot,    // open(path, flags, mode) into fd slot `slot`
  kCloseSlot,
  kPwriteSlot,  // pwrite(slot, PatternBytes(seed, length), offset)
  kPreadSlot,
  kFtruncateSlot,
  kFstatSlot,
  kMmapWriteSlot,  // MAP_SHARED mmap of slot's [offset, offset+length), write pattern, msync
  kMmapReadSlot,   // mmap of slot's [offset, offset+length), digest of what it shows
  kWrite,       // open(path, O_WRONLY|flags) + pwrite + close
  kRead,        // open(path, O_RDONLY) + pread + close
  kTruncate,
  kChmod,
  kChown,       // fchownat(..., AT_SYMLINK_NOFOLLOW)
  kUtimens,     // explicit atime/mtime (offset, length as seconds), flags = AT_ flags
  kMkdir,
  kRmdir,
  kUnlink,
  kRename,      // renameat2(path, path2, flags)
  kLink,
  kSymlink,     // symlink(text, path)
  kMkfifo,
  kSetxattr,    // name = text, value = text2, flags
  kGetxattr,
  kRemovexattr,
  kListxattr,
  kReaddir,     // sorted names and d_type
  kStat,        // lstat (flags = 0) or stat (flags = 1)
  kReadlink,
  kAccess,      // faccessat(path, mode)
};

struct Op {
  OpKind kind = OpKind::kStat;
  std::string path;
  std::string path2;
  std::string text;
  std::string text2;
  int flags = 0;
  mode_t mode = 0;
  int slot = 0;
  off_t offset = 0;
  size_t length = 0;
  uint64_t seed = 0;
  uid_t uid = 0;
  gid_t gid = 0;

  std::string ToString() const;
};

struct OpResult {
  long ret = 0;
  int err = 0;          // errno when ret < 0
  std::string payload;  // what was observed (data hash, stat fields, names...)

  bool operator==(const OpResult&) const = default;
  std::string ToString() const;
};

constexpr int kSlots = 4;

// Runs ops relative to a root directory; owns the fd slots.
class OpRunner {
 public:
  explicit OpRunner(std::string root) : root_(std::move(root)) { fds_.fill(-1); }
  ~OpRunner() { CloseAll(); }
  OpRunner(const OpRunner&) = delete;
  OpRunner& operator=(const OpRunner&) = delete;

  OpResult Run(const Op& op);
  void CloseAll();

 private:
  std::string Path(const std::string& rel) const { return rel.empty() ? root_ : root_ + "/" + rel; }

  std::string root_;
  std::array<int, kSlots> fds_;
};

// Convenience constructors for hand-written cases.
Op OpenClose(const std::string& path, int flags, mode_t mode = 0644);
Op Write(const std::string& path, off_t offset, size_t length, uint64_t seed, int flags = 0);
Op Read(const std::string& path, off_t offset = 0, size_t length = 1 << 20);
Op Truncate(const std::string& path, off_t length);
Op Chmod(const std::string& path, mode_t mode);
Op Chown(const std::string& path, uid_t uid, gid_t gid);
Op Utimens(const std::string& path, time_t atime, time_t mtime, int flags = 0);
Op Mkdir(const std::string& path, mode_t mode = 0755);
Op Rmdir(const std::string& path);
Op Unlink(const std::string& path);
Op Rename(const std::string& from, const std::string& to, int flags = 0);
Op Link(const std::string& from, const std::string& to);
Op Symlink(const std::string& target, const std::string& path);
Op Mkfifo(const std::string& path, mode_t mode = 0644);
Op Setxattr(const std::string& path, const std::string& name, const std::string& value,
            int flags = 0);
Op Getxattr(const std::string& path, const std::string& name);
Op Removexattr(const std::string& path, const std::string& name);
Op Listxattr(const std::string& path);
Op Readdir(const std::string& path);
Op Stat(const std::string& path, bool follow = false);
Op Readlink(const std::string& path);
Op Access(const std::string& path, int mode);
Op OpenSlot(int slot, const std::string& path, int flags, mode_t mode = 0644);
Op CloseSlot(int slot);
Op PwriteSlot(int slot, off_t offset, size_t length, uint64_t seed);
Op PreadSlot(int slot, off_t offset, size_t length);
Op FtruncateSlot(int slot, off_t length);
Op FstatSlot(int slot);
// offset: a multiple of the page size; the range must lie within the file
// (checked before mapping: ENXIO otherwise, never a SIGBUS).
Op MmapWriteSlot(int slot, off_t offset, size_t length, uint64_t seed);
Op MmapReadSlot(int slot, off_t offset, size_t length);

}  // namespace strata::mounttest
