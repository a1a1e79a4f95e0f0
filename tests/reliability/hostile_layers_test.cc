// Hostile layers (issue 7.2): lowers and uppers holding symlinks to `/`, `..`,
// absolute paths and loops, 255-byte names, trees deeper than PATH_MAX, device
// nodes and fifos, setuid files and files with security.capability.
//
// - The daemon never reads or writes outside its layers: canary files outside
//   every layer keep their content, times and directory listing, also when a
//   layer directory is swapped for a symlink to them under a live mount.
// - setuid/setgid/capability handling on write and copy-up matches kernel
//   overlayfs for an unprivileged writer (the CVE-2021-3493 / CVE-2023-0386 class).
// - The daemon never crashes or hangs: it still answers at the end.
#include <fcntl.h>
#include <linux/capability.h>
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

int WriteAt(const std::string& p, const std::string& data, int extra_flags = 0) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC | extra_flags, 0644);
  if (fd < 0) return errno;
  int e = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) ? 0 : errno;
  ::close(fd);
  return e;
}

// A canary directory outside every layer. Its files have an atime far in the
// past, so any read (relatime) moves it; any write moves mtime/ctime.
class Canary {
 public:
  explicit Canary(const std::string& path) : path_(path) {
    ::mkdir(path_.c_str(), 0777);
    WriteFile(path_ + "/passwd", "CANARY passwd\n", 0666);
    WriteFile(path_ + "/f", "CANARY f\n", 0666);
    ::mkdir((path_ + "/sub").c_str(), 0777);
    struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
    for (const char* n : {"passwd", "f", "sub"}) ::utimensat(AT_FDCWD, (path_ + "/" + n).c_str(), old, 0);
    std::string err;
    before_ = Stat();
  }

  // Lists what changed since construction (content, times, entries), empty if nothing.
  std::string Changes() const {
    auto now = Stat();
    for (const auto& [name, st] : before_) {
      auto it = now.find(name);
      if (it == now.end()) return name + " vanished";
      if (std::memcmp(&st.st_mtim, &it->second.st_mtim, sizeof st.st_mtim) != 0) return name + ": mtime changed";
      if (std::memcmp(&st.st_ctim, &it->second.st_ctim, sizeof st.st_ctim) != 0) return name + ": ctime changed";
      if (std::memcmp(&st.st_atim, &it->second.st_atim, sizeof st.st_atim) != 0 && !S_ISDIR(st.st_mode))
        return name + ": atime changed (read)";
      if (st.st_size != it->second.st_size || st.st_mode != it->second.st_mode || st.st_uid != it->second.st_uid)
        return name + ": size/mode/owner changed";
    }
    for (const auto& [name, st] : now)
      if (!before_.count(name)) return name + " appeared";
    return "";
  }
  const std::string& path() const { return path_; }

 private:
  std::map<std::string, struct stat> Stat() const {
    std::map<std::string, struct stat> m;
    struct stat st;
    if (::lstat(path_.c_str(), &st) == 0) m["."] = st;
    DIR* d = ::opendir(path_.c_str());
    if (!d) return m;
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d))
      if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) names.push_back(e->d_name);
    ::closedir(d);
    for (const auto& n : names)
      if (::lstat((path_ + "/" + n).c_str(), &st) == 0) m[n] = st;
    return m;
  }
  std::string path_;
  std::map<std::string, struct stat> before_;
};

std::string Long(char c, size_t n = 255) { return std::string(n, c); }

class HostileLayers : public Differential {
 protected:
  void BuildLayers() override {
    canary_ = std::make_unique<Canary>(dir_.path() + "/canary");
    const std::string l1 = base() + "/l1", l2 = base() + "/l2", up = base() + "/upper";
    const std::string c = canary_->path();
    // Symlinks of every awkward kind, in a lower and in the upper.
    for (const auto& [name, target] : std::vector<std::pair<std::string, std::string>>{
             {"etc", "/"}, {"up", ".."}, {"upup", "../../../../../../../.."}, {"abs", c},
             {"abspasswd", c + "/passwd"}, {"loop1", "loop2"}, {"loop2", "loop1"}, {"self", "self"},
             {"dotdot_passwd", "../../../../../../../.." + c + "/passwd"}, {"empty_name_dir", "./"}})
      ASSERT_EQ(::symlink(target.c_str(), (l2 + "/" + name).c_str()), 0) << name;
    ASSERT_EQ(::symlink(c.c_str(), (up + "/uabs").c_str()), 0);
    ASSERT_EQ(::symlink("/", (up + "/uroot").c_str()), 0);
    // A directory in the top lower over a symlink to the canary in the bottom
    // one: the directory hides it, nothing of the canary may merge in.
    ASSERT_EQ(::mkdir((l1 + "/shadow").c_str(), 0755), 0);
    ASSERT_TRUE(WriteFile(l1 + "/shadow/own", "own"));
    ASSERT_EQ(::symlink(c.c_str(), (l2 + "/shadow").c_str()), 0);
    ASSERT_EQ(::mkdir((up + "/ushadow").c_str(), 0755), 0);
    ASSERT_EQ(::symlink(c.c_str(), (l2 + "/ushadow").c_str()), 0);
    // Directories that a test swaps for symlinks to the canary under the mount.
    ASSERT_EQ(::mkdir((l2 + "/swap").c_str(), 0755), 0);
    ASSERT_TRUE(WriteFile(l2 + "/swap/f", "lower f\n", 0666));
    ASSERT_EQ(::mkdir((up + "/uswap").c_str(), 0755), 0);
    ASSERT_TRUE(WriteFile(up + "/uswap/f", "upper f\n", 0666));
    // Long names.
    ASSERT_TRUE(WriteFile(l2 + "/" + Long('a'), "long a"));
    ASSERT_EQ(::mkdir((l2 + "/" + Long('d')).c_str(), 0755), 0);
    ASSERT_TRUE(WriteFile(l2 + "/" + Long('d') + "/" + Long('e'), "long e"));
    // Devices and fifos (a daemon that opens them would hang or touch hardware).
    ASSERT_EQ(::mknod((l2 + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
    ASSERT_EQ(::mknod((l2 + "/blk").c_str(), S_IFBLK | 0600, makedev(7, 250)), 0);
    ASSERT_EQ(::mknod((l2 + "/fifo").c_str(), S_IFIFO | 0666, 0), 0);
    // setuid / setgid / capabilities.
    ASSERT_TRUE(WriteFile(l2 + "/suid_world", "s", 0));
    ASSERT_EQ(::chmod((l2 + "/suid_world").c_str(), 04777), 0);
    ASSERT_TRUE(WriteFile(l2 + "/sgid_world", "s", 0));
    ASSERT_EQ(::chmod((l2 + "/sgid_world").c_str(), 02777), 0);
    ASSERT_TRUE(WriteFile(l2 + "/suid_trunc", "s", 0));
    ASSERT_EQ(::chmod((l2 + "/suid_trunc").c_str(), 04777), 0);
    ASSERT_TRUE(WriteFile(l2 + "/suid_root", "s", 0));
    ASSERT_EQ(::chmod((l2 + "/suid_root").c_str(), 04755), 0);
    ASSERT_TRUE(WriteFile(l1 + "/suid_own", "s", 0));
    ASSERT_EQ(::chown((l1 + "/suid_own").c_str(), kNobody, kNogroup), 0);
    ASSERT_EQ(::chmod((l1 + "/suid_own").c_str(), 06755), 0);
    ASSERT_TRUE(WriteFile(l2 + "/cap_world", "c", 0777));
    ASSERT_TRUE(WriteFile(l2 + "/cap_root", "c", 0755));
    vfs_cap_data cap{};
    cap.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE;
    cap.data[0].permitted = 1u << CAP_NET_RAW;
    for (const char* f : {"cap_world", "cap_root"})
      ASSERT_EQ(::setxattr((l2 + "/" + f).c_str(), "security.capability", &cap, sizeof cap, 0), 0) << f;
  }

  std::unique_ptr<Canary> canary_;
};

TEST_F(HostileLayers, SymlinksNeverLeadTheDaemonOutOfItsLayers) {
  auto p = [](const std::string& m, const std::string& rel) { return m + "/" + rel; };
  for (const char* link : {"etc", "up", "upup", "abs", "abspasswd", "loop1", "self", "dotdot_passwd", "uabs", "uroot"}) {
    Same(std::string("readlink ") + link, [&](auto m) {
      char a[4096];
      ssize_t n = ::readlink(p(m, link).c_str(), a, sizeof a);
      if (n < 0) return errno;
      // Report the target through the exit code's identity with the layer's.
      std::string t(a, n);
      return t.find(canary_->path()) != std::string::npos || t == "/" || t[0] == '.' || t == "loop2" || t == "self" ? 0 : 1;
    });
  }
  Same("open a symlink loop", [&](auto m) { return Errno(::open(p(m, "loop1").c_str(), O_RDONLY) >= 0); });
  Same("create through a self loop", [&](auto m) { return Errno(::open(p(m, "self/x").c_str(), O_CREAT | O_WRONLY, 0644) >= 0); });
  Same("lchown a symlink to the canary (copy-up)", [&](auto m) { return Errno(::lchown(p(m, "abs").c_str(), kNobody, kNogroup) == 0); });
  Same("chmod a symlink with NOFOLLOW", [&](auto m) { return Errno(::fchmodat(AT_FDCWD, p(m, "abspasswd").c_str(), 0600, AT_SYMLINK_NOFOLLOW) == 0); });
  Same("utimes a symlink with NOFOLLOW", [&](auto m) {
    struct timespec ts[2] = {{5, 0}, {5, 0}};
    return Errno(::utimensat(AT_FDCWD, p(m, "dotdot_passwd").c_str(), ts, AT_SYMLINK_NOFOLLOW) == 0);
  });
  Same("set user.* on a symlink", [&](auto m) { return Errno(::lsetxattr(p(m, "etc").c_str(), "user.x", "1", 1, 0) == 0); });
  Same("set trusted.* on a symlink (copy-up)", [&](auto m) { return Errno(::lsetxattr(p(m, "up").c_str(), "trusted.x", "1", 1, 0) == 0); });
  Same("rename a symlink to /", [&](auto m) { return Errno(::rename(p(m, "etc").c_str(), p(m, "etc2").c_str()) == 0); });
  Same("rename an upper symlink", [&](auto m) { return Errno(::rename(p(m, "uabs").c_str(), p(m, "uabs2").c_str()) == 0); });
  Same("unlink a symlink to .. (whiteout)", [&](auto m) { return Errno(::unlink(p(m, "up").c_str()) == 0); });
  Same("replace a symlink by a directory", [&](auto m) {
    if (::unlink(p(m, "abs").c_str()) != 0) return errno;
    if (::mkdir(p(m, "abs").c_str(), 0755) != 0) return errno;
    return WriteAt(p(m, "abs/passwd"), "not the canary", O_CREAT);
  });
  Same("hard link a symlink (copy-up)", [&](auto m) { return Errno(::link(p(m, "abspasswd").c_str(), p(m, "hl").c_str()) == 0); });
  // A directory over a symlink to the canary: only the directory's own entries.
  Same("lookup a canary name below a dir that hides a symlink", [&](auto m) {
    struct stat st;
    return Errno(::lstat(p(m, "shadow/passwd").c_str(), &st) == 0);
  });
  Same("create below that dir", [&](auto m) { return WriteAt(p(m, "shadow/f"), "mine", O_CREAT); });
  Same("create below an upper dir over a lower symlink", [&](auto m) { return WriteAt(p(m, "ushadow/passwd"), "mine", O_CREAT); });
  Same("rmdir a dir over a symlink", [&](auto m) {
    if (::unlink(p(m, "ushadow/passwd").c_str()) != 0) return errno;
    return Errno(::rmdir(p(m, "ushadow").c_str()) == 0);
  });

  // The resulting trees agree, including the upper as kernel overlayfs reads it.
  std::string err;
  Tree k = Snapshot(kmnt(), true, &err);
  Tree s = Snapshot(smnt(), true, &err);
  k.erase("blk"), s.erase("blk");
  EXPECT_EQ(DiffTrees(k, s), "");
  EXPECT_EQ(canary_->Changes(), "") << "the canary outside the layers was touched";
  ExpectServing();
  std::printf("hostile layers: %d symlink cases\n", cases_);
}

// Layer directories swapped for symlinks to the canary while the mount is live
// (the layers are not supposed to change, but a daemon resolving paths by
// string would then follow them): the daemon keeps working on what it opened,
// or fails, and never touches the canary.
TEST_F(HostileLayers, SwappingLayerDirsForSymlinksDoesNotEscape) {
  const std::string s = smnt();
  struct stat st;
  ASSERT_EQ(::stat((s + "/swap/f").c_str(), &st), 0);
  ASSERT_EQ(::stat((s + "/uswap/f").c_str(), &st), 0);
  const std::string lower = dir_.path() + "/s/l2", upper = supper();
  ASSERT_EQ(::rename((lower + "/swap").c_str(), (lower + "/swap.moved").c_str()), 0);
  ASSERT_EQ(::symlink(canary_->path().c_str(), (lower + "/swap").c_str()), 0);
  ASSERT_EQ(::rename((upper + "/uswap").c_str(), (upper + "/uswap.moved").c_str()), 0);
  ASSERT_EQ(::symlink(canary_->path().c_str(), (upper + "/uswap").c_str()), 0);

  int tried = 0;
  auto attempt = [&](const char* what, const std::function<int()>& fn) {
    int e = RunAs(0, 0, fn);
    ++tried;
    EXPECT_GE(e, 0) << what << ": hang or crash";
    EXPECT_EQ(canary_->Changes(), "") << what << " touched the canary";
  };
  attempt("write a lower file (copy-up) in the swapped dir", [&] { return WriteAt(s + "/swap/f", "new"); });
  attempt("create in the swapped lower dir", [&] { return WriteAt(s + "/swap/passwd", "new", O_CREAT); });
  attempt("write a canary name in the swapped lower dir", [&] { return WriteAt(s + "/swap/f", "again", O_APPEND); });
  attempt("create in the swapped upper dir", [&] { return WriteAt(s + "/uswap/passwd", "x", O_CREAT | O_TRUNC); });
  attempt("write in the swapped upper dir", [&] { return WriteAt(s + "/uswap/f", "x", O_TRUNC); });
  attempt("mkdir in the swapped upper dir", [&] { return Errno(::mkdir((s + "/uswap/sub2").c_str(), 0755) == 0); });
  attempt("rename in the swapped upper dir", [&] { return Errno(::rename((s + "/uswap/f").c_str(), (s + "/uswap/g").c_str()) == 0); });
  attempt("chmod in the swapped upper dir", [&] { return Errno(::chmod((s + "/uswap/f").c_str(), 0600) == 0); });
  attempt("unlink in the swapped upper dir", [&] { return Errno(::unlink((s + "/uswap/sub").c_str()) == 0); });
  attempt("list the swapped dirs", [&] {
    for (const char* d : {"/swap", "/uswap"}) {
      DIR* dir = ::opendir((s + d).c_str());
      if (!dir) continue;
      while (::readdir(dir)) {
      }
      ::closedir(dir);
    }
    return 0;
  });
  // Whatever was read back never comes from the canary.
  for (const char* f : {"/swap/f", "/swap/passwd", "/uswap/passwd", "/uswap/f", "/uswap/g"}) {
    auto data = ReadFile(s + f);
    if (data) EXPECT_EQ(data->find("CANARY"), std::string::npos) << f << " shows the canary's content";
  }
  EXPECT_EQ(canary_->Changes(), "");
  ExpectServing();
  std::printf("hostile layers: %d swapped-directory cases\n", tried);
}

TEST_F(HostileLayers, LongNamesDeepTreesAndDevicesMatchKernel) {
  auto p = [](const std::string& m, const std::string& rel) { return m + "/" + rel; };
  Same("read a 255-byte name", [&](auto m) { return ReadFile(p(m, Long('a'))) ? 0 : errno; });
  Same("chmod a 255-byte name (copy-up)", [&](auto m) { return Errno(::chmod(p(m, Long('a')).c_str(), 0600) == 0); });
  Same("rename to another 255-byte name", [&](auto m) { return Errno(::rename(p(m, Long('a')).c_str(), p(m, Long('b')).c_str()) == 0); });
  Same("write below a 255-byte dir (parent copy-up)", [&](auto m) { return WriteAt(p(m, Long('d') + "/" + Long('e')), "changed"); });
  Same("unlink a 255-byte name below it (whiteout)", [&](auto m) { return Errno(::unlink(p(m, Long('d') + "/" + Long('e')).c_str()) == 0); });
  Same("mkdir a 255-byte name where the whiteout is", [&](auto m) { return Errno(::mkdir(p(m, Long('d') + "/" + Long('e')).c_str(), 0700) == 0); });
  Same("create a 256-byte name", [&](auto m) { return WriteAt(p(m, Long('c', 256)), "x", O_CREAT); });
  Same("rename to a 256-byte name", [&](auto m) { return Errno(::rename(p(m, Long('b')).c_str(), p(m, Long('c', 256)).c_str()) == 0); });

  // Deeper than PATH_MAX, walked with openat: 120 levels of 60-byte names.
  const std::string level(60, 'L');
  Same("build and use a tree deeper than PATH_MAX", [&](auto m) {
    int fd = ::open(m.c_str(), O_RDONLY | O_DIRECTORY);
    for (int i = 0; i < 120 && fd >= 0; ++i) {
      if (::mkdirat(fd, level.c_str(), 0755) != 0 && errno != EEXIST) return errno;
      int next = ::openat(fd, level.c_str(), O_RDONLY | O_DIRECTORY);
      ::close(fd);
      fd = next;
    }
    if (fd < 0) return errno;
    int f = ::openat(fd, "bottom", O_CREAT | O_RDWR, 0644);
    int e = f >= 0 && ::write(f, "deep", 4) == 4 ? 0 : errno;
    if (f >= 0) ::close(f);
    ::close(fd);
    return e;
  });
  Same("read it back through a fresh walk", [&](auto m) {
    int fd = ::open(m.c_str(), O_RDONLY | O_DIRECTORY);
    for (int i = 0; i < 120 && fd >= 0; ++i) {
      int next = ::openat(fd, level.c_str(), O_RDONLY | O_DIRECTORY);
      ::close(fd);
      fd = next;
    }
    if (fd < 0) return errno;
    char buf[8] = {};
    int f = ::openat(fd, "bottom", O_RDONLY);
    int e = f >= 0 && ::read(f, buf, sizeof buf) == 4 && !std::memcmp(buf, "deep", 4) ? 0 : (f < 0 ? errno : 200);
    if (f >= 0) ::close(f);
    ::close(fd);
    return e;
  });

  // Devices and fifos: metadata copy-up only, never opened by the daemon.
  Same("chmod a char device (copy-up)", [&](auto m) { return Errno(::chmod(p(m, "null").c_str(), 0660) == 0); });
  Same("chown a block device (copy-up)", [&](auto m) { return Errno(::chown(p(m, "blk").c_str(), 1, 1) == 0); });
  Same("chmod a fifo (copy-up)", [&](auto m) { return Errno(::chmod(p(m, "fifo").c_str(), 0600) == 0); });
  Same("xattr on a fifo", [&](auto m) { return Errno(::lsetxattr(p(m, "fifo").c_str(), "trusted.t", "1", 1, 0) == 0); });
  Same("write to the copied-up null device", [&](auto m) { return WriteAt(p(m, "null"), "into the void"); });
  Same("rename a device", [&](auto m) { return Errno(::rename(p(m, "null").c_str(), p(m, "null2").c_str()) == 0); });

  std::string err;
  Tree k = Snapshot(kmnt(), false, &err);
  Tree s = Snapshot(smnt(), false, &err);
  EXPECT_EQ(DiffTrees(k, s), "");
  EXPECT_EQ(canary_->Changes(), "");
  ExpectServing();
  std::printf("hostile layers: %d name/depth/device cases\n", cases_);
}

// What an unprivileged writer leaves of setuid/setgid bits and capabilities.
TEST_F(HostileLayers, SetuidAndCapabilitiesFollowKernelRules) {
  auto p = [](const std::string& m, const std::string& rel) { return m + "/" + rel; };
  const uid_t u = kNobody;
  const gid_t g = kNogroup;
  // Each case: an operation, then the resulting mode and capability presence
  // folded into the comparison through a second Same().
  auto mode_of = [&](const char* rel) {
    return [=](const std::string& m) {
      struct stat st;
      if (::lstat(p(m, rel).c_str(), &st) != 0) return 255;
      return static_cast<int>((st.st_mode >> 9) & 7);  // suid/sgid/sticky bits
    };
  };
  auto has_cap = [&](const char* rel) {
    return [=](const std::string& m) {
      return ::lgetxattr(p(m, rel).c_str(), "security.capability", nullptr, 0) > 0 ? 1 : 0;
    };
  };
  EXPECT_EQ(0, Same("nobody writes a 04777 root file", [&](auto m) { return WriteAt(p(m, "suid_world"), "w"); }, u, g));
  Same("its setuid bit afterwards", mode_of("suid_world"));
  EXPECT_EQ(0, Same("nobody writes a 02777 root file", [&](auto m) { return WriteAt(p(m, "sgid_world"), "w"); }, u, g));
  Same("its setgid bit afterwards", mode_of("sgid_world"));
  EXPECT_EQ(0, Same("nobody truncates a 04777 root file", [&](auto m) { return Errno(::truncate(p(m, "suid_trunc").c_str(), 0) == 0); }, u, g));
  Same("its setuid bit afterwards", mode_of("suid_trunc"));
  Same("root writes a 04755 root file", [&](auto m) { return WriteAt(p(m, "suid_root"), "w"); });
  Same("its setuid bit afterwards", mode_of("suid_root"));
  Same("owner touches its 06755 file (metadata copy-up)", [&](auto m) { return Errno(::utimensat(AT_FDCWD, p(m, "suid_own").c_str(), nullptr, 0) == 0); }, u, g);
  Same("its setuid/setgid bits after copy-up", mode_of("suid_own"));
  Same("owner writes its 06755 file", [&](auto m) { return WriteAt(p(m, "suid_own"), "w"); }, u, g);
  Same("its setuid/setgid bits after the write", mode_of("suid_own"));
  Same("owner chmods 06755 while not in the group", [&](auto m) { return Errno(::chmod(p(m, "suid_own").c_str(), 06755) == 0); }, u, g);
  Same("its bits after the chmod", mode_of("suid_own"));
  Same("capability before any write", has_cap("cap_world"));
  EXPECT_EQ(0, Same("nobody writes a 0777 file with a capability", [&](auto m) { return WriteAt(p(m, "cap_world"), "w"); }, u, g));
  Same("its capability afterwards", has_cap("cap_world"));
  Same("nobody sets a capability on its own file", [&](auto m) {
    vfs_cap_data cap{};
    cap.magic_etc = VFS_CAP_REVISION_2;
    return Errno(::lsetxattr(p(m, "suid_own").c_str(), "security.capability", &cap, sizeof cap, 0) == 0);
  }, u, g);
  ExpectServing();
  std::printf("hostile layers: %d setuid/capability cases\n", cases_);
}

// BUGS.md #1 (fixed): copy-up set the xattrs before the owner, and chown(2)
// strips security.capability, so the copied-up file lost its capability where
// kernel overlayfs keeps it.
TEST_F(HostileLayers, CapabilityKeptOnCopyUp) {
  auto p = [](const std::string& m, const std::string& rel) { return m + "/" + rel; };
  auto has_cap = [&](const char* rel) {
    return [=](const std::string& m) {
      return ::lgetxattr(p(m, rel).c_str(), "security.capability", nullptr, 0) > 0 ? 1 : 0;
    };
  };
  EXPECT_EQ(1, Same("capability before copy-up", has_cap("cap_root")));
  EXPECT_EQ(0, Same("root chmods a file with a capability (copy-up)", [&](auto m) { return Errno(::chmod(p(m, "cap_root").c_str(), 0750) == 0); }));
  Same("its capability after copy-up", has_cap("cap_root"));
  ExpectServing();
}

}  // namespace
}  // namespace strata::reltest
