// Hostile users (issue 7.3): an unprivileged user (nobody) on a mount started
// by root (allow_other + default_permissions) cannot read, write or list what
// the modes forbid, cannot set trusted.* or see overlay-private xattrs, cannot
// make device nodes. Every case runs on kernel overlayfs and on stratafs over
// copies of the same layers and must give the same errno.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tests/reliability/differential.h"

namespace strata::reltest {
namespace {

int Errno(bool ok) { return ok ? 0 : errno; }

int OpenClose(const std::string& p, int flags) {
  int fd = ::open(p.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  ::close(fd);
  return 0;
}

int WriteOne(const std::string& p) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  int e = ::write(fd, "x", 1) == 1 ? 0 : errno;
  ::close(fd);
  return e;
}

// After one write by the caller: 0 when no set-ID bit is left, 240 + 1
// (set-user-ID) + 2 (set-group-ID) when some is (above every errno, and within
// the exit status the test child reports), or the errno of a failure.
int WriteThenSetIdBits(const std::string& p) {
  if (int e = WriteOne(p)) return e;
  struct stat st;
  if (::stat(p.c_str(), &st) != 0) return errno;
  const int bits = ((st.st_mode & S_ISUID) ? 1 : 0) | ((st.st_mode & S_ISGID) ? 2 : 0);
  return bits ? 240 + bits : 0;
}

int ListDir(const std::string& p) {
  DIR* d = ::opendir(p.c_str());
  if (!d) return errno;
  errno = 0;
  while (::readdir(d)) {
  }
  int e = errno;
  ::closedir(d);
  return e;
}

// 0 when no name of the list starts with one of the private prefixes, 1 if one does.
int ListsPrivate(const std::string& p) {
  char buf[8192];
  ssize_t n = ::llistxattr(p.c_str(), buf, sizeof buf);
  if (n < 0) return errno;
  for (ssize_t i = 0; i < n; i += std::strlen(buf + i) + 1) {
    std::string_view name(buf + i);
    if (name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.") || name.starts_with("user.strata."))
      return 1;
  }
  return 0;
}

class HostileUsers : public Differential {
 protected:
  void BuildLayers() override {
    const std::string l1 = base() + "/l1", l2 = base() + "/l2", up = base() + "/upper";
    ASSERT_TRUE(WriteFile(l2 + "/secret", "secret", 0600));
    ASSERT_TRUE(WriteFile(l2 + "/public", "public", 0644));
    ASSERT_TRUE(WriteFile(l1 + "/mine", "mine", 0644));
    ASSERT_EQ(::chown((l1 + "/mine").c_str(), kNobody, kNogroup), 0);
    ASSERT_EQ(::mkdir((l2 + "/private").c_str(), 0700), 0);
    ASSERT_TRUE(WriteFile(l2 + "/private/x", "x", 0644));
    ASSERT_EQ(::mkdir((l1 + "/xonly").c_str(), 0711), 0);
    ASSERT_TRUE(WriteFile(l1 + "/xonly/known", "known", 0644));
    ASSERT_EQ(::mkdir((l2 + "/sticky").c_str(), 01777), 0);
    ASSERT_TRUE(WriteFile(l2 + "/sticky/rootfile", "r", 0666));
    ASSERT_EQ(::mkdir((l2 + "/writable").c_str(), 0777), 0);
    ASSERT_EQ(::mkdir((l1 + "/writable").c_str(), 0777), 0);
    ASSERT_EQ(::mkdir((l2 + "/rodir").c_str(), 0755), 0);
    ASSERT_TRUE(WriteFile(l2 + "/rodir/f", "f", 0666));
    // An opaque directory in the upper and a file carrying private xattrs.
    ASSERT_EQ(::mkdir((up + "/opq").c_str(), 0755), 0);
    ASSERT_EQ(::setxattr((up + "/opq").c_str(), "trusted.overlay.opaque", "y", 1, 0), 0);
    ASSERT_EQ(::mkdir((l2 + "/opq").c_str(), 0755), 0);
    ASSERT_TRUE(WriteFile(l2 + "/opq/hidden", "hidden", 0644));
    ASSERT_TRUE(WriteFile(l2 + "/tagged", "t", 0666));
    // World-writable set-ID files, in a lower (written through a copy-up)
    // and in the upper (its data passed through to the kernel).
    ASSERT_TRUE(WriteFile(l2 + "/setid_lower", "l", 0666));
    ASSERT_EQ(::chmod((l2 + "/setid_lower").c_str(), 06777), 0);
    ASSERT_TRUE(WriteFile(up + "/setid_upper", "u", 0666));
    ASSERT_EQ(::chmod((up + "/setid_upper").c_str(), 06777), 0);
    for (const char* x : {"trusted.overlay.origin", "user.overlay.origin", "user.strata.origin", "user.visible"})
      ASSERT_EQ(::setxattr((l2 + "/tagged").c_str(), x, "v", 1, 0), 0) << x;
  }
};

TEST_F(HostileUsers, ModesAreEnforcedLikeKernelOverlayfs) {
  const uid_t u = kNobody;
  const gid_t g = kNogroup;
  auto p = [](const std::string& m, const char* rel) { return m + "/" + rel; };
  EXPECT_EQ(EACCES, Same("read a 0600 root file", [&](auto m) { return OpenClose(p(m, "secret"), O_RDONLY); }, u, g));
  Same("write a 0644 root file", [&](auto m) { return OpenClose(p(m, "public"), O_WRONLY); }, u, g);
  Same("truncate a 0600 root file", [&](auto m) { return Errno(::truncate(p(m, "secret").c_str(), 0) == 0); }, u, g);
  Same("list a 0700 dir", [&](auto m) { return ListDir(p(m, "private")); }, u, g);
  Same("stat in a 0700 dir", [&](auto m) { struct stat st; return Errno(::stat(p(m, "private/x").c_str(), &st) == 0); }, u, g);
  Same("list a 0711 dir", [&](auto m) { return ListDir(p(m, "xonly")); }, u, g);
  EXPECT_EQ(0, Same("read a known name in a 0711 dir", [&](auto m) { return OpenClose(p(m, "xonly/known"), O_RDONLY); }, u, g));
  Same("unlink another's file in a sticky dir", [&](auto m) { return Errno(::unlink(p(m, "sticky/rootfile").c_str()) == 0); }, u, g);
  Same("create in a 0755 root dir", [&](auto m) { return OpenClose(p(m, "rodir/new"), O_WRONLY | O_CREAT | O_EXCL); }, u, g);
  Same("unlink in a 0755 root dir", [&](auto m) { return Errno(::unlink(p(m, "rodir/f").c_str()) == 0); }, u, g);
  Same("rename out of a 0755 root dir", [&](auto m) { return Errno(::rename(p(m, "rodir/f").c_str(), p(m, "writable/f").c_str()) == 0); }, u, g);
  Same("write a 0666 file in a 0755 dir (copy-up)", [&](auto m) { return WriteOne(p(m, "rodir/f")); }, u, g);
  Same("chmod another's file", [&](auto m) { return Errno(::chmod(p(m, "public").c_str(), 0666) == 0); }, u, g);
  Same("chown own file to root", [&](auto m) { return Errno(::chown(p(m, "mine").c_str(), 0, 0) == 0); }, u, g);
  Same("utimes(explicit) on another's file", [&](auto m) {
    struct timespec ts[2] = {{1, 0}, {1, 0}};
    return Errno(::utimensat(AT_FDCWD, p(m, "public").c_str(), ts, 0) == 0);
  }, u, g);
  Same("utimes(now) on another's read-only file", [&](auto m) { return Errno(::utimensat(AT_FDCWD, p(m, "public").c_str(), nullptr, 0) == 0); }, u, g);
  Same("hard link to another's file (protected_hardlinks)", [&](auto m) { return Errno(::link(p(m, "public").c_str(), p(m, "writable/l").c_str()) == 0); }, u, g);
  EXPECT_EQ(0, Same("write own file (copy-up)", [&](auto m) { return WriteOne(p(m, "mine")); }, u, g));
  Same("create in a 0777 dir", [&](auto m) { return OpenClose(p(m, "writable/new"), O_WRONLY | O_CREAT | O_EXCL); }, u, g);
  EXPECT_EQ(EPERM, Same("mknod a char device", [&](auto m) { return Errno(::mknod(p(m, "writable/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0); }, u, g));
  Same("mknod a block device", [&](auto m) { return Errno(::mknod(p(m, "writable/blk").c_str(), S_IFBLK | 0666, makedev(7, 0)) == 0); }, u, g);
  Same("mknod a whiteout (0/0)", [&](auto m) { return Errno(::mknod(p(m, "writable/wh").c_str(), S_IFCHR, makedev(0, 0)) == 0); }, u, g);
  EXPECT_EQ(0, Same("mknod a fifo", [&](auto m) { return Errno(::mknod(p(m, "writable/fifo").c_str(), S_IFIFO | 0666, 0) == 0); }, u, g));
  ExpectServing();
  std::printf("hostile users: %d cases compared with kernel overlayfs\n", cases_);
}

// A write by a user without CAP_FSETID clears the set-ID bits (kernel rule):
// whether the daemon copies the file up, or the kernel writes the upper file
// itself through passthrough and asks the daemon only to change the mode.
TEST_F(HostileUsers, WritesClearSetIdBitsLikeKernelOverlayfs) {
  auto p = [](const std::string& m, const char* rel) { return m + "/" + rel; };
  for (const char* f : {"setid_lower", "setid_upper"}) {
    EXPECT_EQ(0, Same(std::string("write world-writable set-ID ") + f,
                      [&](auto m) { return WriteThenSetIdBits(p(m, f)); }, kNobody, kNogroup));
    // Once more: the copy is in the upper now, its bits were cleared; set them
    // again as root and write as nobody.
    Same(std::string("set-ID bits again on ") + f,
         [&](auto m) { return Errno(::chmod(p(m, f).c_str(), 06777) == 0); }, 0, 0);
    EXPECT_EQ(0, Same(std::string("write ") + f + " again",
                      [&](auto m) { return WriteThenSetIdBits(p(m, f)); }, kNobody, kNogroup));
  }
  ExpectServing();
}

TEST_F(HostileUsers, XattrsArePrivateLikeKernelOverlayfs) {
  const uid_t u = kNobody;
  const gid_t g = kNogroup;
  auto p = [](const std::string& m, const char* rel) { return m + "/" + rel; };
  auto set = [&](const char* rel, const char* name) {
    return [=](const std::string& m) { return Errno(::lsetxattr(p(m, rel).c_str(), name, "y", 1, 0) == 0); };
  };
  auto get = [&](const char* rel, const char* name) {
    return [=](const std::string& m) {
      char buf[64];
      return Errno(::lgetxattr(p(m, rel).c_str(), name, buf, sizeof buf) >= 0);
    };
  };
  EXPECT_EQ(EPERM, Same("set trusted.* on own file", set("mine", "trusted.foo"), u, g));
  Same("set trusted.overlay.opaque on own file", set("mine", "trusted.overlay.opaque"), u, g);
  Same("set security.capability on own file", set("mine", "security.capability"), u, g);
  Same("set user.* on another's file", set("public", "user.foo"), u, g);
  Same("set user.* on a 0666 file", set("tagged", "user.foo"), u, g);
  Same("read trusted.overlay.opaque of an opaque dir", get("opq", "trusted.overlay.opaque"), u, g);
  Same("read trusted.overlay.opaque as root", get("opq", "trusted.overlay.opaque"));
  Same("read trusted.overlay.origin as root", get("tagged", "trusted.overlay.origin"));
  Same("read user.visible", get("tagged", "user.visible"), u, g);
  Same("list an opaque dir (lower's entry hidden)", [&](auto m) {
    struct stat st;
    return Errno(::lstat(p(m, "opq/hidden").c_str(), &st) == 0);
  }, u, g);

  // DESIGN.md §2: trusted.overlay.*, user.overlay.* and user.strata.* are
  // private: not readable, not settable, not listed. The kernel without
  // userxattr shows user.* ones, and recent kernels store a set of
  // trusted.overlay.X escaped as trusted.overlay.overlay.X instead of refusing
  // it, so these are checked on stratafs alone.
  for (const char* name : {"user.overlay.origin", "user.strata.origin", "trusted.overlay.origin"}) {
    for (uid_t who : {uid_t{0}, u}) {
      char buf[64];
      int e = RunAs(who, who ? g : 0, [&] { return Errno(::lgetxattr(p(smnt(), "tagged").c_str(), name, buf, sizeof buf) >= 0); });
      EXPECT_EQ(e, ENODATA) << "read " << name << " as uid " << who << ": " << Errname(e);
      e = RunAs(who, who ? g : 0, [&] { return Errno(::lsetxattr(p(smnt(), "tagged").c_str(), name, "z", 1, 0) == 0); });
      EXPECT_TRUE(e == EPERM || e == EOPNOTSUPP) << "set " << name << " as uid " << who << ": " << Errname(e);
      cases_ += 2;
    }
  }
  for (uid_t who : {uid_t{0}, u}) {
    for (const char* rel : {"tagged", "opq"}) {
      int e = RunAs(who, who ? g : 0, [&] { return ListsPrivate(p(smnt(), rel)); });
      EXPECT_EQ(e, 0) << "listxattr of " << rel << " as uid " << who << " shows a private name (or fails: " << Errname(e) << ")";
      ++cases_;
    }
  }
  // Removing a private xattr through the mount must not unmark the directory.
  int e = RunAs(0, 0, [&] { return Errno(::lremovexattr(p(smnt(), "opq").c_str(), "trusted.overlay.opaque") == 0); });
  EXPECT_NE(e, 0);
  char v;
  EXPECT_EQ(::getxattr((supper() + "/opq").c_str(), "trusted.overlay.opaque", &v, 1), 1);
  ++cases_;
  ExpectServing();
  std::printf("hostile users: %d xattr cases\n", cases_);
}

}  // namespace
}  // namespace strata::reltest
