// A busybox rootfs in the lower layers, used through chroot: commands that
// write, delete and rename run on a kernel overlay mount and on the daemon
// mount; outputs, exit codes and trees must agree, the daemon's upper must
// hold what the kernel would write (whiteouts as 0/0 char devices), and
// kernel overlayfs must show the same tree from that upper.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "tests/mount/chroot_run.h"
#include "tests/mount/layer_builder.h"
#include "tests/mount/mounts.h"
#include "tests/mount/temp_dir.h"
#include "tests/mount/tree_snapshot.h"
#include "tests/mount/watchdog.h"

namespace strata::mounttest {
namespace {

constexpr char kBusybox[] = "/bin/busybox";  // Debian's busybox-static
const char* const kApplets[] = {"sh", "ls", "cat", "mv", "rm", "mkdir", "echo", "ln", "chmod",
                                "cp", "touch", "test", "[", "wc", "rmdir", "stat", "sort"};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Two lowers: the base system (busybox, /etc) and an application layer
// that replaces and whites out some of it.
std::vector<std::string> BuildRootfs(const std::string& dir) {
  LayerBuilder base(dir + "/base");
  base.Dir("bin", 0755);
  base.File("bin/busybox", 0755, ReadFile(kBusybox));
  for (const char* applet : kApplets) base.Symlink(std::string("bin/") + applet, "busybox");
  base.Dir("etc", 0755);
  base.File("etc/passwd", 0644, "root:x:0:0:root:/:/bin/sh\n");
  base.File("etc/hostname", 0644, "base-host\n");
  base.File("etc/motd", 0644, "welcome\n");
  base.File("etc/obsolete", 0644, "removed by the app layer\n");
  base.Dir("data", 0755);
  base.File("data/old", 0644, "old\n");
  base.File("data/keep", 0640, "keep me\n");
  base.Dir("data/dir_to_rm", 0755);
  base.File("data/dir_to_rm/a", 0644, "a\n");
  base.Dir("data/dir_to_rm/sub", 0755);
  base.File("data/dir_to_rm/sub/b", 0644, "b\n");
  base.Dir("data/dir_to_mv", 0750);
  base.File("data/dir_to_mv/inside", 0600, "inside\n");
  base.Dir("tmp", 01777);
  base.Finish();
  LayerBuilder app(dir + "/app");
  app.Dir("etc", 0755);
  app.File("etc/hostname", 0644, "strata-test-host\n");
  app.Whiteout("etc/obsolete", MarkerForm::kKernel);
  app.Dir("data", 0755);
  app.File("data/app.conf", 0644, "setting=1\n");
  app.Finish();
  return {app.root(), base.root()};
}

const char kScript[] =
    "set -e\n"
    "cat /etc/hostname\n"
    "test ! -e /etc/obsolete\n"
    "echo hello > /data/new.txt\n"
    "chmod 600 /data/new.txt\n"
    "mkdir -p /data/newdir/sub\n"
    "echo x > /data/newdir/sub/f\n"
    "rm /data/old\n"
    "rm -r /data/dir_to_rm\n"
    "mv /data/keep /data/renamed\n"
    "mv /etc/motd /etc/motd.moved\n"
    "mv /data/dir_to_mv /data/dir_moved\n"
    "echo 'app:x:1000:1000::/:/bin/sh' >> /etc/passwd\n"
    "ln -s new.txt /data/link\n"
    "mv /data/newdir /data/newdir2\n"
    "touch /tmp/scratch\n"
    "rm /tmp/scratch\n"
    "ls /data\n"
    "cat /data/link /data/renamed /data/dir_moved/inside\n"
    "wc -l < /etc/passwd\n"
    "if cat /data/old 2>/dev/null; then exit 9; fi\n"
    "if ls /data/dir_to_rm 2>/dev/null; then exit 10; fi\n"
    "echo done\n";

class Rootfs : public ::testing::Test {
 protected:
  void SetUp() override {
    struct stat st;
    ASSERT_EQ(stat(kBusybox, &st), 0) << "busybox-static is needed (apt-get install busybox-static)";
  }

  Watchdog watchdog_{"Rootfs", 90};
  TempDir dir_{"rootfs"};
};

TEST_F(Rootfs, ChrootCommandsWriteDeleteRenameLikeKernelOverlayfs) {
  LayerPaths kernel_layers{BuildRootfs(dir_.Sub("k")), dir_.Sub("k/upper", true),
                           dir_.Sub("k/work", true)};
  LayerPaths daemon_layers{BuildRootfs(dir_.Sub("s")), dir_.Sub("s/upper", true),
                           dir_.Sub("s/work", true)};
  std::string error;
  auto kernel_mount = MountKernelOverlay(kernel_layers, dir_.Sub("k/mnt", true), &error);
  ASSERT_TRUE(kernel_mount) << error;
  auto daemon_mount = MountFuse(StratafsPath(), daemon_layers, dir_.Sub("s/mnt", true), &error);
  ASSERT_TRUE(daemon_mount) << error;

  ChrootResult want = RunInChroot(kernel_mount->mountpoint(), kScript);
  ChrootResult got = RunInChroot(daemon_mount->mountpoint(), kScript);
  ASSERT_EQ(want.exit_code, 0) << "the script fails on kernel overlayfs: " << want.error << "\n"
                               << want.output;
  EXPECT_EQ(got.exit_code, want.exit_code) << got.error;
  EXPECT_EQ(got.output, want.output);
  EXPECT_NE(got.output.find("strata-test-host"), std::string::npos) << got.output;

  Tree kernel_tree = Snapshot(kernel_mount->mountpoint());
  Tree daemon_tree = Snapshot(daemon_mount->mountpoint());
  std::string diff = DiffTrees(kernel_tree, daemon_tree);
  EXPECT_TRUE(diff.empty()) << "expected = kernel, actual = daemon:\n" << diff;
  ASSERT_EQ(daemon_mount->Unmount(), "");
  ASSERT_EQ(kernel_mount->Unmount(), "");

  // The daemon's upper, read directly.
  const std::string upper = daemon_layers.upper;
  auto expect_whiteout = [&](const std::string& rel) {
    struct stat st;
    ASSERT_EQ(lstat((upper + "/" + rel).c_str(), &st), 0) << rel << " has no whiteout";
    EXPECT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0))
        << rel << " in the upper is not a 0/0 char device";
  };
  expect_whiteout("data/old");
  expect_whiteout("data/dir_to_rm");
  expect_whiteout("data/keep");
  expect_whiteout("data/dir_to_mv");
  expect_whiteout("etc/motd");
  EXPECT_EQ(ReadFile(upper + "/data/new.txt"), "hello\n");
  EXPECT_EQ(ReadFile(upper + "/data/renamed"), "keep me\n");
  EXPECT_EQ(ReadFile(upper + "/data/dir_moved/inside"), "inside\n");
  EXPECT_EQ(ReadFile(upper + "/etc/motd.moved"), "welcome\n");
  EXPECT_EQ(ReadFile(upper + "/data/newdir2/sub/f"), "x\n");
  EXPECT_EQ(ReadFile(upper + "/etc/passwd"),
            "root:x:0:0:root:/:/bin/sh\napp:x:1000:1000::/:/bin/sh\n");
  struct stat st;
  EXPECT_NE(lstat((upper + "/bin/busybox").c_str(), &st), 0) << "busybox was copied up";
  EXPECT_NE(lstat((upper + "/tmp/scratch").c_str(), &st), 0) << "a pure-upper file left a trace";

  // Kernel overlayfs over the daemon's upper shows the kernel's tree.
  LayerPaths check{BuildRootfs(dir_.Sub("p")), upper, dir_.Sub("s/kernel-work", true)};
  auto check_mount = MountKernelOverlay(check, dir_.Sub("p/mnt", true), &error);
  ASSERT_TRUE(check_mount) << error;
  diff = DiffTrees(kernel_tree, Snapshot(check_mount->mountpoint()));
  EXPECT_TRUE(diff.empty()) << "kernel overlayfs over the daemon's upper (expected = kernel):\n"
                            << diff;
}

}  // namespace
}  // namespace strata::mounttest
