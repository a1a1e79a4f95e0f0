// DESIGN §2/§3: user.* xattrs behave as on the kernel mount; private
// xattrs (trusted.overlay.*, user.overlay.*, user.strata.*) are hidden;
// st_ino is stable across copy-up and remount.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <map>

#include "tests/mount/diff_test_base.h"

namespace strata::mounttest {
namespace {

class Xattrs : public DiffTestBase {};

TEST_F(Xattrs, UserNamespaceMatchesTheKernel) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Listxattr("xattr_file"), Getxattr("xattr_file", "user.color"),
       Getxattr("xattr_file", "user.bin"), Getxattr("xattr_file", "user.none"),
       Setxattr("xattr_file", "user.color", "red", XATTR_CREATE),
       Setxattr("xattr_file", "user.none", "x", XATTR_REPLACE), Removexattr("xattr_file", "user.none"),
       Setxattr("xattr_file", "user.color", "red", XATTR_REPLACE), Removexattr("xattr_file", "user.bin"),
       Listxattr("xattr_file"), Setxattr("a", "user.dir", "d"), Listxattr("a"), Readdir("a"),
       Setxattr("sym_rel", "user.x", "1"), Setxattr("fifo1", "user.x", "1"),
       Setxattr("user_xattr_dir", "user.big", std::string(3000, 'v')),
       Getxattr("user_xattr_dir", "user.big"), Setxattr("nope", "user.x", "1"),
       Listxattr("opq_dir"), Listxattr("")});
  FinishAndCompare();
}

TEST_F(Xattrs, TrustedOverlayXattrsAreHiddenLikeTheKernel) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Listxattr("opq_dir"), Getxattr("opq_dir", "trusted.overlay.opaque"), Readdir("opq_dir"),
       Setxattr("a/f_top", "trusted.other", "1"), Getxattr("a/f_top", "trusted.other"),
       Listxattr("a/f_top")});
  FinishAndCompare();
}

// Kernel 6.7+ accepts trusted.overlay.* through the mount and stores it
// escaped; DESIGN §2 says strata refuses them, so the daemon alone is checked.
TEST_F(Xattrs, TrustedOverlayXattrsAreNotSettableThroughTheDaemon) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  for (const char* name : {"trusted.overlay.opaque", "trusted.overlay.redirect",
                           "trusted.overlay.origin"}) {
    OpResult set = session().ApplyDaemonOnly(Setxattr("a", name, "y"));
    EXPECT_EQ(set.ret, -1) << name << " settable through the mount";
  }
  OpResult removed = session().ApplyDaemonOnly(Removexattr("opq_dir", "trusted.overlay.opaque"));
  EXPECT_EQ(removed.ret, -1) << "trusted.overlay.opaque removable through the mount";
  OpResult readdir = session().ApplyDaemonOnly(Readdir("a"));
  EXPECT_NE(readdir.payload.find("f_bottom"), std::string::npos) << "a became opaque";
  OpResult opq = session().ApplyDaemonOnly(Readdir("opq_dir"));
  EXPECT_EQ(opq.payload.find("hidden_by_opaque"), std::string::npos) << "opq_dir lost its opacity";
}

// strata hides user.overlay.* and user.strata.* too (DESIGN §2); kernel
// overlayfs in its default (trusted) mode does not, so this is not
// differential: the daemon alone is checked.
TEST_F(Xattrs, UserOverlayAndStrataXattrsAreHiddenByTheDaemon) {
  ASSERT_NO_FATAL_FAILURE(StartSession({.daemon_form = MarkerForm::kUserXattr}));
  OpResult list = session().ApplyDaemonOnly(Listxattr("uopq_dir"));
  EXPECT_EQ(list.payload.find("user.overlay"), std::string::npos) << list.ToString();
  OpResult get = session().ApplyDaemonOnly(Getxattr("uopq_dir", "user.overlay.opaque"));
  EXPECT_EQ(get.ret, -1) << "user.overlay.opaque readable: " << get.ToString();
  for (const char* name : {"user.overlay.opaque", "user.overlay.whiteout", "user.strata.x",
                           "user.overlay.redirect"}) {
    OpResult set = session().ApplyDaemonOnly(Setxattr("a/f_top", name, "y"));
    EXPECT_EQ(set.ret, -1) << name << " settable through the mount";
  }
  OpResult readdir = session().ApplyDaemonOnly(Readdir("a"));
  EXPECT_NE(readdir.payload.find("f_bottom"), std::string::npos)
      << "a became opaque: " << readdir.payload;
  OpResult after = session().ApplyDaemonOnly(Listxattr("a/f_top"));
  EXPECT_EQ(after.payload.find("user.overlay"), std::string::npos) << after.ToString();
  EXPECT_EQ(after.payload.find("user.strata"), std::string::npos) << after.ToString();
}

class Inodes : public DiffTestBase {
 protected:
  std::map<std::string, ino_t> InodesOf(const std::vector<std::string>& paths, bool kernel) {
    std::map<std::string, ino_t> inodes;
    for (const std::string& path : paths) {
      struct stat st;
      std::string full = kernel ? session().KernelPath(path) : session().DaemonPath(path);
      if (lstat(full.c_str(), &st) == 0) inodes[path] = st.st_ino;
    }
    return inodes;
  }
};

// Wherever kernel overlayfs keeps st_ino across copy-up (everything but
// hard-linked lower files, whose links it breaks with index=off), the
// daemon must keep it too, and across a remount.
TEST_F(Inodes, StableAcrossCopyUpAndRemount) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  const std::vector<std::string> paths = {"a", "a/f_bottom", "a/sub", "a/sub/deep.txt",
                                          "hl_a", "hl_b", "sym_rel", "fifo1", "exec.sh",
                                          "top_only_dir/n1/n2/leaf", "random_200k"};
  auto kernel_before = InodesOf(paths, true);
  auto before = InodesOf(paths, false);
  ASSERT_EQ(before.size(), paths.size());
  EXPECT_EQ(kernel_before["hl_a"], kernel_before["hl_b"]);
  EXPECT_EQ(before["hl_a"], before["hl_b"]) << "hard links of a lower file have different st_ino";
  Run({Chmod("a/f_bottom", 0600), Write("a/sub/deep.txt", 0, 1, 81), Chown("sym_rel", 1, 1),
       Chmod("fifo1", 0600), Truncate("exec.sh", 1), Write("top_only_dir/n1/n2/leaf", 0, 1, 82),
       Setxattr("random_200k", "user.y", "1"), Chmod("a", 0700), Write("hl_a", 0, 1, 83)});
  auto kernel_after = InodesOf(paths, true);
  auto after_copy_up = InodesOf(paths, false);
  auto remount_error = session().RemountDaemon();
  ASSERT_EQ(remount_error, "");
  auto after_remount = InodesOf(paths, false);
  for (const std::string& path : paths) {
    bool kernel_stable = kernel_before[path] == kernel_after[path];
    if (kernel_stable) {
      EXPECT_EQ(before[path], after_copy_up[path]) << path << " changed st_ino on copy-up";
    }
    EXPECT_EQ(after_copy_up[path], after_remount[path])
        << path << " changed st_ino across remount";
  }
}

}  // namespace
}  // namespace strata::mounttest
