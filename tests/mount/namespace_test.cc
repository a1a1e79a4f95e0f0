// DESIGN §3 namespace changes: unlink/rmdir leave whiteouts, a directory
// made where a whiteout was is opaque, rmdir needs the merged view empty,
// rename (EXDEV for lower dirs, flags), hard links and st_nlink.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/mount/diff_test_base.h"

namespace strata::mounttest {
namespace {

class Namespace : public DiffTestBase {
 protected:
  // The daemon's upper must record a deletion as the kernel does: a 0/0
  // character device (DESIGN §2).
  void ExpectUpperWhiteout(const std::string& rel) {
    struct stat st;
    std::string path = session().daemon_layers().upper + "/" + rel;
    ASSERT_EQ(lstat(path.c_str(), &st), 0) << "no whiteout in the upper for " << rel;
    EXPECT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0))
        << rel << " in the upper is not a 0/0 character device";
  }
};

TEST_F(Namespace, UnlinkOfLowerEntriesLeavesWhiteouts) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Unlink("a/f_bottom"), Unlink("a/shadowed"), Unlink("hl_a"), Unlink("sym_rel"),
       Unlink("fifo1"), Unlink("null_dev"), Unlink("a"), Unlink("nope"), Unlink("wh_target"),
       Stat("a/f_bottom"), Stat("hl_b"), Readdir("a"), Readdir("")});
  ExpectUpperWhiteout("a/f_bottom");
  ExpectUpperWhiteout("a/shadowed");
  ExpectUpperWhiteout("hl_a");
  FinishAndCompare();
}

TEST_F(Namespace, RmdirOfLowerDirectoriesLeavesWhiteouts) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Rmdir("empty_dir"), Unlink("b/z"), Rmdir("b"), Rmdir("top_only_dir/n1/n2"),
       Unlink("top_only_dir/n1/n2/leaf"), Rmdir("top_only_dir/n1/n2"), Readdir("top_only_dir/n1"),
       Rmdir("a/f_top"), Rmdir("nope"), Readdir("")});
  ExpectUpperWhiteout("empty_dir");
  ExpectUpperWhiteout("b");
  FinishAndCompare();
}

// rmdir of a copied-up directory holding whiteouts swaps it out of the
// merged view at once and deletes it in the work directory off the request
// path: the work directory must empty by itself while the mount goes on.
TEST_F(Namespace, RemovedDirectoryLeavesTheWorkDirectory) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Unlink("b/z"), Rmdir("b"), Stat("b"), Mkdir("b"), Readdir("b"), Readdir("")});
  const std::string work = session().daemon_layers().work + "/work";
  std::vector<std::string> left;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    left.clear();
    for (const auto& e : std::filesystem::directory_iterator(work)) {
      const std::string name = e.path().filename();
      if (name != "#whiteout") left.push_back(name);  // the shared whiteout stays
    }
    if (left.empty() || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(left.empty()) << left.size() << " entries left in " << work << ", first "
                            << (left.empty() ? "" : left.front());
  FinishAndCompare();
}

TEST_F(Namespace, RmdirOfNonEmptyMergedDirectoryFails) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Rmdir("a"), Rmdir("deep"), Rmdir("a/sub"), Unlink("opq_dir/visible_mid"), Rmdir("opq_dir"),
       Unlink("oci_opq/visible_top"), Rmdir("oci_opq"), Unlink("deep/l1only"), Rmdir("deep"),
       Readdir("")});
  FinishAndCompare();
}

TEST_F(Namespace, MkdirOverAWhiteoutIsOpaque) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Mkdir("rm_dir"), Readdir("rm_dir"), Stat("rm_dir/inner"), Unlink("b/z"), Rmdir("b"),
       Mkdir("b", 0700), Readdir("b"), Stat("b/x"), Unlink("deep/l1only"), Rmdir("deep"),
       Mkdir("deep"), OpenClose("deep/new", O_CREAT | O_WRONLY), Readdir("deep"),
       Mkdir("wh_target"), Readdir("wh_target"), Listxattr("rm_dir")});
  FinishAndCompare();
}

TEST_F(Namespace, CreateOverWhiteoutAndNewObjects) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({OpenClose("wh_target", O_CREAT | O_WRONLY, 0600), Stat("wh_target"), Read("wh_target"),
       OpenClose("oci_wh_target", O_CREAT | O_EXCL | O_WRONLY, 0640), Stat("oci_wh_target"),
       OpenClose("a/f_top", O_CREAT | O_EXCL | O_WRONLY), OpenClose("a/f_top", O_DIRECTORY),
       OpenClose("a", O_WRONLY), Mkdir("a"), Mkdir("new"), Mkdir("new/deeper", 0700),
       Symlink("../a/f_top", "new/sym"), Readlink("new/sym"), Read("new/sym"), Mkfifo("new/fifo"),
       Stat("new/fifo"), Symlink("x", "a/f_top"), Mkfifo("b/y"), Stat("b/y"),
       Mkdir("nope/child"), Readdir("new")});
  FinishAndCompare();
}

TEST_F(Namespace, RenameOfLowerDirectoryGivesExdev) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Rename("a", "a2"), Rename("empty_dir", "empty2"), Rename("top_only_dir/n1", "n1"),
       Rename("a/sub", "b/sub"), Readdir(""), Stat("a2")});
  FinishAndCompare();
}

TEST_F(Namespace, RenameOfPureUpperDirectory) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Mkdir("newd"), Write("newd/f", 0, 10, 51), Mkdir("newd/inner"), Rename("newd", "a/moved"),
       Readdir("a/moved"), Read("a/moved/f"), Stat("newd"), Rename("a/moved", "rm_dir"),
       Readdir("rm_dir"), Mkdir("other"), Rename("other", "rm_dir"), Rename("rm_dir", "empty_dir"),
       Readdir("")});
  FinishAndCompare();
}

TEST_F(Namespace, RenameOfFilesCopiesUpAndWhitesOutTheSource) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Rename("a/f_bottom", "b/moved"), Read("b/moved"), Stat("a/f_bottom"),
       Rename("xattr_file", "a/xattr_moved"), Listxattr("a/xattr_moved"),
       Rename("hl_top1", "a/f_mid"), Read("a/f_mid"), Stat("hl_top2"), Rename("sym_rel", "sym2"),
       Readlink("sym2"), Rename("fifo1", "b/fifo"), Rename("b/z", "wh_target"),
       Rename("a/f_top", "a"), Rename("top_only_dir", "a/f_top"), Rename("nope", "x"),
       Rename("size_1", "size_1"), Readdir("a"), Readdir("b"), Readdir("")});
  ExpectUpperWhiteout("a/f_bottom");
  FinishAndCompare();
}

TEST_F(Namespace, RenameNoreplace) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Rename("a/f_top", "a/f_mid", RENAME_NOREPLACE), Rename("a/f_top", "a/fresh", RENAME_NOREPLACE),
       Rename("a/fresh", "wh_target", RENAME_NOREPLACE), Rename("size_1", "b/x", RENAME_NOREPLACE),
       Rename("size_4096", "b/z", RENAME_NOREPLACE), Readdir("a"), Readdir("")});
  FinishAndCompare();
}

TEST_F(Namespace, RenameExchange) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Rename("a/f_top", "b/z", RENAME_EXCHANGE), Read("a/f_top"), Read("b/z"),
       Rename("a/f_mid", "nope", RENAME_EXCHANGE), Mkdir("n1"), Mkdir("n2"),
       Write("n1/f", 0, 5, 61), Rename("n1", "n2", RENAME_EXCHANGE), Readdir("n1"), Readdir("n2"),
       Rename("n1", "a", RENAME_EXCHANGE), Rename("size_1", "n2", RENAME_EXCHANGE),
       Stat("size_1"), Readdir("n2"), Readdir("")});
  FinishAndCompare();
}

TEST_F(Namespace, RenameOverExistingTargets) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Rename("size_1", "a/f_bottom"), Read("a/f_bottom"), Rename("size_4096", "a"),
       Rename("empty_dir", "size_65537"), Mkdir("up"), Rename("up", "a"), Rename("up", "deep"),
       Mkdir("up2"), Rename("up2", "empty_dir"), Readdir(""), Readdir("empty_dir")});
  FinishAndCompare();
}

TEST_F(Namespace, HardLinksCopyUpTheirSource) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Stat("hl_a"), Stat("hl_b"), Link("hl_a", "hl_c"), Stat("hl_a"), Stat("hl_b"),
       Stat("hl_c"), Write("hl_c", 0, 3, 71), Read("hl_a"), Read("hl_b"), Write("hl_top1", 0, 3, 72),
       Read("hl_top2"), Stat("hl_top1"), Stat("hl_top2"), Link("a/f_bottom", "b/linked"),
       Stat("a/f_bottom"), Link("a", "a_link"), Link("nope", "x"), Link("size_1", "size_4096"),
       Link("sym_rel", "sym_link2"), Readlink("sym_link2"), Link("fifo1", "fifo2"),
       Stat("fifo2"), Unlink("hl_c"), Stat("hl_a")});
  FinishAndCompare();
}

}  // namespace
}  // namespace strata::mounttest
