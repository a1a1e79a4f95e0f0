#include "tests/mount/ops.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

#include "tests/mount/layer_builder.h"
#include "tests/mount/tree_snapshot.h"

namespace strata::mounttest {
namespace {

const char* KindName(OpKind kind) {
  switch (kind) {
    case OpKind::kOpenClose: return "open_close";
    case OpKind::kOpenSlot: return "open_slot";
    case OpKind::kCloseSlot: return "close_slot";
    case OpKind::kPwriteSlot: return "pwrite_slot";
    case OpKind::kPreadSlot: return "pread_slot";
    case OpKind::kFtruncateSlot: return "ftruncate_slot";
    case OpKind::kFstatSlot: return "fstat_slot";
    case OpKind::kMmapWriteSlot: return "mmap_write_slot";
    case OpKind::kMmapReadSlot: return "mmap_read_slot";
    case OpKind::kWrite: return "write";
    case OpKind::kRead: return "read";
    case OpKind::kTruncate: return "truncate";
    case OpKind::kChmod: return "chmod";
    case OpKind::kChown: return "chown";
    case OpKind::kUtimens: return "utimens";
    case OpKind::kMkdir: return "mkdir";
    case OpKind::kRmdir: return "rmdir";
    case OpKind::kUnlink: return "unlink";
    case OpKind::kRename: return "rename";
    case OpKind::kLink: return "link";
    case OpKind::kSymlink: return "symlink";
    case OpKind::kMkfifo: return "mkfifo";
    case OpKind::kSetxattr: return "setxattr";
    case OpKind::kGetxattr: return "getxattr";
    case OpKind::kRemovexattr: return "removexattr";
    case OpKind::kListxattr: return "listxattr";
    case OpKind::kReaddir: return "readdir";
    case OpKind::kStat: return "stat";
    case OpKind::kReadlink: return "readlink";
    case OpKind::kAccess: return "access";
  }
  return "?";
}

std::string OpenFlags(int flags) {
  std::string out;
  switch (flags & O_ACCMODE) {
    case O_RDONLY: out = "O_RDONLY"; break;
    case O_WRONLY: out = "O_WRONLY"; break;
    default: out = "O_RDWR"; break;
  }
  const std::pair<int, const char*> named[] = {
      {O_CREAT, "O_CREAT"}, {O_EXCL, "O_EXCL"},         {O_TRUNC, "O_TRUNC"},
      {O_APPEND, "O_APPEND"}, {O_DIRECTORY, "O_DIRECTORY"}, {O_NOFOLLOW, "O_NOFOLLOW"}};
  for (const auto& [bit, name] : named) {
    if (flags & bit) out += std::string("|") + name;
  }
  return out;
}

std::string Quoted(const std::string& s) { return "\"" + s + "\""; }

std::string DataDigest(const char* data, size_t len) {
  char buf[64];
  snprintf(buf, sizeof buf, "n=%zu xxh3=%016llx", len,
           static_cast<unsigned long long>(XXH3_64bits(data, len)));
  return buf;
}

bool CompareDirNlink() { return DirNlinkComparedByDefault(); }

std::string StatPayload(const struct stat& st) {
  std::ostringstream out;
  char type = S_ISREG(st.st_mode) ? 'f' : S_ISDIR(st.st_mode) ? 'd' : S_ISLNK(st.st_mode) ? 'l'
            : S_ISFIFO(st.st_mode) ? 'p' : S_ISCHR(st.st_mode) ? 'c' : S_ISBLK(st.st_mode) ? 'b'
            : 's';
  char mode[16];
  snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
  out << type << " " << mode << " " << st.st_uid << ":" << st.st_gid;
  if (type != 'd' || CompareDirNlink()) out << " nlink=" << st.st_nlink;
  if (type != 'd') out << " size=" << st.st_size;
  if (type == 'c' || type == 'b') out << " rdev=" << major(st.st_rdev) << "," << minor(st.st_rdev);
  // Only explicitly set (old) times are the same on two mounts.
  if (st.st_mtim.tv_sec < kFixedTimeLimit) {
    out << " mtime=" << st.st_mtim.tv_sec << "." << st.st_mtim.tv_nsec;
  }
  return out.str();
}

OpResult Failed() { return OpResult{-1, errno, ""}; }
OpResult FromRet(long ret) { return ret < 0 ? Failed() : OpResult{ret, 0, ""}; }

}  // namespace

std::string Op::ToString() const {
  std::ostringstream out;
  out << KindName(kind) << "(";
  switch (kind) {
    case OpKind::kOpenClose:
      out << Quoted(path) << ", " << OpenFlags(flags) << ", 0" << std::oct << mode << std::dec;
      break;
    case OpKind::kOpenSlot:
      out << "slot=" << slot << ", " << Quoted(path) << ", " << OpenFlags(flags) << ", 0"
          << std::oct << mode << std::dec;
      break;
    case OpKind::kCloseSlot:
    case OpKind::kFstatSlot:
      out << "slot=" << slot;
      break;
    case OpKind::kPwriteSlot:
    case OpKind::kMmapWriteSlot:
      out << "slot=" << slot << ", off=" << offset << ", len=" << length << ", seed=" << seed;
      break;
    case OpKind::kPreadSlot:
    case OpKind::kMmapReadSlot:
      out << "slot=" << slot << ", off=" << offset << ", len=" << length;
      break;
    case OpKind::kFtruncateSlot:
      out << "slot=" << slot << ", len=" << offset;
      break;
    case OpKind::kWrite:
      out << Quoted(path) << ", off=" << offset << ", len=" << length << ", seed=" << seed
          << (flags ? ", extra=" + OpenFlags(flags).substr(9) : "");
      break;
    case OpKind::kRead:
      out << Quoted(path) << ", off=" << offset << ", len=" << length;
      break;
    case OpKind::kTruncate:
      out << Quoted(path) << ", " << offset;
      break;
    case OpKind::kChmod:
    case OpKind::kMkdir:
    case OpKind::kMkfifo:
      out << Quoted(path) << ", 0" << std::oct << mode << std::dec;
      break;
    case OpKind::kChown:
      out << Quoted(path) << ", " << uid << ":" << gid;
      break;
    case OpKind::kUtimens:
      out << Quoted(path) << ", atime=" << offset << ", mtime=" << length
          << (flags ? ", AT_SYMLINK_NOFOLLOW" : "");
      break;
    case OpKind::kRename:
      out << Quoted(path) << ", " << Quoted(path2) << ", flags="
          << (flags == RENAME_NOREPLACE ? "NOREPLACE" : flags == RENAME_EXCHANGE ? "EXCHANGE" : "0");
      break;
    case OpKind::kLink:
      out << Quoted(path) << ", " << Quoted(path2);
      break;
    case OpKind::kSymlink:
      out << Quoted(text) << ", " << Quoted(path);
      break;
    case OpKind::kSetxattr:
      out << Quoted(path) << ", " << text << ", " << Quoted(text2) << ", flags=" << flags;
      break;
    case OpKind::kGetxattr:
    case OpKind::kRemovexattr:
      out << Quoted(path) << ", " << text;
      break;
    case OpKind::kStat:
      out << Quoted(path) << (flags ? ", follow" : "");
      break;
    case OpKind::kAccess:
      out << Quoted(path) << ", " << mode;
      break;
    default:
      out << Quoted(path);
      break;
  }
  out << ")";
  return out.str();
}

std::string OpResult::ToString() const {
  std::string out = ret < 0 ? "-1 " + std::string(strerrorname_np(err) ? strerrorname_np(err) : "?")
                            : std::to_string(ret);
  if (!payload.empty()) out += " [" + payload + "]";
  return out;
}

void OpRunner::CloseAll() {
  for (int& fd : fds_) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
}

OpResult OpRunner::Run(const Op& op) {
  errno = 0;
  std::string path = Path(op.path);
  switch (op.kind) {
    case OpKind::kOpenClose: {
      int fd = open(path.c_str(), op.flags | O_CLOEXEC | O_NONBLOCK, op.mode);
      if (fd < 0) return Failed();
      close(fd);
      return {};
    }
    case OpKind::kOpenSlot: {
      int& slot = fds_[op.slot];
      if (slot >= 0) close(slot);
      slot = open(path.c_str(), op.flags | O_CLOEXEC | O_NONBLOCK, op.mode);
      return slot < 0 ? Failed() : OpResult{};
    }
    case OpKind::kCloseSlot: {
      int& slot = fds_[op.slot];
      if (slot < 0) return {-1, EBADF, ""};
      int rc = close(slot);
      slot = -1;
      return FromRet(rc);
    }
    case OpKind::kPwriteSlot: {
      std::string data = PatternBytes(op.seed, op.length);
      return FromRet(pwrite(fds_[op.slot], data.data(), data.size(), op.offset));
    }
    case OpKind::kPreadSlot: {
      std::vector<char> buf(op.length);
      ssize_t got = pread(fds_[op.slot], buf.data(), buf.size(), op.offset);
      if (got < 0) return Failed();
      return {got, 0, DataDigest(buf.data(), got)};
    }
    case OpKind::kFtruncateSlot:
      return FromRet(ftruncate(fds_[op.slot], op.offset));
    case OpKind::kMmapWriteSlot:
    case OpKind::kMmapReadSlot: {
      struct stat st;
      if (fstat(fds_[op.slot], &st) != 0) return Failed();
      if (op.length == 0 || op.offset + static_cast<off_t>(op.length) > st.st_size)
        return {-1, ENXIO, ""};  // a mapping past the end would SIGBUS
      const bool write = op.kind == OpKind::kMmapWriteSlot;
      void* p = mmap(nullptr, op.length, write ? PROT_READ | PROT_WRITE : PROT_READ,
                     MAP_SHARED, fds_[op.slot], op.offset);
      if (p == MAP_FAILED) return Failed();
      OpResult r{0, 0, ""};
      if (write) {
        std::string data = PatternBytes(op.seed, op.length);
        std::memcpy(p, data.data(), data.size());
        if (msync(p, op.length, MS_SYNC) != 0) r = Failed();
      } else {
        r.payload = DataDigest(static_cast<const char*>(p), op.length);
      }
      munmap(p, op.length);
      return r;
    }
    case OpKind::kFstatSlot: {
      struct stat st;
      if (fstat(fds_[op.slot], &st) != 0) return Failed();
      return {0, 0, StatPayload(st)};
    }
    case OpKind::kWrite: {
      int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NONBLOCK | op.flags, 0644);
      if (fd < 0) return Failed();
      std::string data = PatternBytes(op.seed, op.length);
      OpResult result = FromRet(pwrite(fd, data.data(), data.size(), op.offset));
      if (close(fd) != 0 && result.ret >= 0) return Failed();
      return result;
    }
    case OpKind::kRead: {
      int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
      if (fd < 0) return Failed();
      std::vector<char> buf(op.length);
      ssize_t got = pread(fd, buf.data(), buf.size(), op.offset);
      OpResult result = got < 0 ? Failed() : OpResult{got, 0, DataDigest(buf.data(), got)};
      close(fd);
      return result;
    }
    case OpKind::kTruncate:
      return FromRet(truncate(path.c_str(), op.offset));
    case OpKind::kChmod:
      return FromRet(chmod(path.c_str(), op.mode));
    case OpKind::kChown:
      return FromRet(fchownat(AT_FDCWD, path.c_str(), op.uid, op.gid, AT_SYMLINK_NOFOLLOW));
    case OpKind::kUtimens: {
      timespec times[2] = {{op.offset, 0}, {static_cast<time_t>(op.length), 500}};
      return FromRet(utimensat(AT_FDCWD, path.c_str(), times, op.flags));
    }
    case OpKind::kMkdir:
      return FromRet(mkdir(path.c_str(), op.mode));
    case OpKind::kRmdir:
      return FromRet(rmdir(path.c_str()));
    case OpKind::kUnlink:
      return FromRet(unlink(path.c_str()));
    case OpKind::kRename:
      return FromRet(renameat2(AT_FDCWD, path.c_str(), AT_FDCWD, Path(op.path2).c_str(), op.flags));
    case OpKind::kLink:
      return FromRet(link(path.c_str(), Path(op.path2).c_str()));
    case OpKind::kSymlink:
      return FromRet(symlink(op.text.c_str(), path.c_str()));
    case OpKind::kMkfifo:
      return FromRet(mknod(path.c_str(), S_IFIFO | op.mode, 0));
    case OpKind::kSetxattr:
      return FromRet(
          lsetxattr(path.c_str(), op.text.c_str(), op.text2.data(), op.text2.size(), op.flags));
    case OpKind::kGetxattr: {
      char buf[65536];
      ssize_t len = lgetxattr(path.c_str(), op.text.c_str(), buf, sizeof buf);
      if (len < 0) return Failed();
      return {len, 0, std::string(buf, len)};
    }
    case OpKind::kRemovexattr:
      return FromRet(lremovexattr(path.c_str(), op.text.c_str()));
    case OpKind::kListxattr: {
      char buf[65536];
      ssize_t len = llistxattr(path.c_str(), buf, sizeof buf);
      if (len < 0) return Failed();
      std::vector<std::string> names;
      for (ssize_t pos = 0; pos < len;) {
        names.emplace_back(buf + pos);
        pos += names.back().size() + 1;
      }
      std::sort(names.begin(), names.end());
      std::string payload;
      for (const auto& name : names) payload += name + " ";
      return {len, 0, payload};
    }
    case OpKind::kReaddir: {
      DIR* dir = opendir(path.c_str());
      if (dir == nullptr) return Failed();
      std::vector<std::string> names;
      while (dirent* entry = readdir(dir)) {
        names.push_back(std::string(entry->d_name));
      }
      closedir(dir);
      std::sort(names.begin(), names.end());
      std::string payload;
      for (const auto& name : names) payload += name + " ";
      return {static_cast<long>(names.size()), 0, payload};
    }
    case OpKind::kStat: {
      struct stat st;
      int rc = op.flags ? stat(path.c_str(), &st) : lstat(path.c_str(), &st);
      if (rc != 0) return Failed();
      return {0, 0, StatPayload(st)};
    }
    case OpKind::kReadlink: {
      char buf[4096];
      ssize_t len = readlink(path.c_str(), buf, sizeof buf);
      if (len < 0) return Failed();
      return {len, 0, std::string(buf, len)};
    }
    case OpKind::kAccess:
      return FromRet(faccessat(AT_FDCWD, path.c_str(), op.mode, AT_SYMLINK_NOFOLLOW));
  }
  return {-1, ENOSYS, "unknown op"};
}

namespace {
Op Make(OpKind kind, const std::string& path = "") {
  Op op;
  op.kind = kind;
  op.path = path;
  return op;
}
}  // namespace

Op OpenClose(const std::string& path, int flags, mode_t mode) {
  Op op = Make(OpKind::kOpenClose, path);
  op.flags = flags;
  op.mode = mode;
  return op;
}
Op Write(const std::string& path, off_t offset, size_t length, uint64_t seed, int flags) {
  Op op = Make(OpKind::kWrite, path);
  op.flags = flags;
  op.offset = offset;
  op.length = length;
  op.seed = seed;
  return op;
}
Op Read(const std::string& path, off_t offset, size_t length) {
  Op op = Make(OpKind::kRead, path);
  op.offset = offset;
  op.length = length;
  return op;
}
Op Truncate(const std::string& path, off_t length) {
  Op op = Make(OpKind::kTruncate, path);
  op.offset = length;
  return op;
}
Op Chmod(const std::string& path, mode_t mode) {
  Op op = Make(OpKind::kChmod, path);
  op.mode = mode;
  return op;
}
Op Chown(const std::string& path, uid_t uid, gid_t gid) {
  Op op = Make(OpKind::kChown, path);
  op.uid = uid;
  op.gid = gid;
  return op;
}
Op Utimens(const std::string& path, time_t atime, time_t mtime, int flags) {
  Op op = Make(OpKind::kUtimens, path);
  op.flags = flags;
  op.offset = atime;
  op.length = static_cast<size_t>(mtime);
  return op;
}
Op Mkdir(const std::string& path, mode_t mode) {
  Op op = Make(OpKind::kMkdir, path);
  op.mode = mode;
  return op;
}
Op Rmdir(const std::string& path) { return Make(OpKind::kRmdir, path); }
Op Unlink(const std::string& path) { return Make(OpKind::kUnlink, path); }
Op Rename(const std::string& from, const std::string& to, int flags) {
  Op op = Make(OpKind::kRename, from);
  op.path2 = to;
  op.flags = flags;
  return op;
}
Op Link(const std::string& from, const std::string& to) {
  Op op = Make(OpKind::kLink, from);
  op.path2 = to;
  return op;
}
Op Symlink(const std::string& target, const std::string& path) {
  Op op = Make(OpKind::kSymlink, path);
  op.text = target;
  return op;
}
Op Mkfifo(const std::string& path, mode_t mode) {
  Op op = Make(OpKind::kMkfifo, path);
  op.mode = mode;
  return op;
}
Op Setxattr(const std::string& path, const std::string& name, const std::string& value,
            int flags) {
  Op op = Make(OpKind::kSetxattr, path);
  op.text = name;
  op.text2 = value;
  op.flags = flags;
  return op;
}
Op Getxattr(const std::string& path, const std::string& name) {
  Op op = Make(OpKind::kGetxattr, path);
  op.text = name;
  return op;
}
Op Removexattr(const std::string& path, const std::string& name) {
  Op op = Make(OpKind::kRemovexattr, path);
  op.text = name;
  return op;
}
Op Listxattr(const std::string& path) { return Make(OpKind::kListxattr, path); }
Op Readdir(const std::string& path) { return Make(OpKind::kReaddir, path); }
Op Stat(const std::string& path, bool follow) {
  Op op = Make(OpKind::kStat, path);
  op.flags = follow ? 1 : 0;
  return op;
}
Op Readlink(const std::string& path) { return Make(OpKind::kReadlink, path); }
Op Access(const std::string& path, int mode) {
  Op op = Make(OpKind::kAccess, path);
  op.mode = static_cast<mode_t>(mode);
  return op;
}
Op OpenSlot(int slot, const std::string& path, int flags, mode_t mode) {
  Op op = Make(OpKind::kOpenSlot, path);
  op.slot = slot;
  op.flags = flags;
  op.mode = mode;
  return op;
}
Op CloseSlot(int slot) {
  Op op = Make(OpKind::kCloseSlot);
  op.slot = slot;
  return op;
}
Op PwriteSlot(int slot, off_t offset, size_t length, uint64_t seed) {
  Op op = Make(OpKind::kPwriteSlot);
  op.slot = slot;
  op.offset = offset;
  op.length = length;
  op.seed = seed;
  return op;
}
Op PreadSlot(int slot, off_t offset, size_t length) {
  Op op = Make(OpKind::kPreadSlot);
  op.slot = slot;
  op.offset = offset;
  op.length = length;
  return op;
}
Op FtruncateSlot(int slot, off_t length) {
  Op op = Make(OpKind::kFtruncateSlot);
  op.slot = slot;
  op.offset = length;
  return op;
}
Op FstatSlot(int slot) {
  Op op = Make(OpKind::kFstatSlot);
  op.slot = slot;
  return op;
}
Op MmapWriteSlot(int slot, off_t offset, size_t length, uint64_t seed) {
  Op op = Make(OpKind::kMmapWriteSlot);
  op.slot = slot;
  op.offset = offset;
  op.length = length;
  op.seed = seed;
  return op;
}
Op MmapReadSlot(int slot, off_t offset, size_t length) {
  Op op = Make(OpKind::kMmapReadSlot);
  op.slot = slot;
  op.offset = offset;
  op.length = length;
  return op;
}

}  // namespace strata::mounttest
