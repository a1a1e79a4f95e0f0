// DESIGN §3 copy-up: before the first change to a lower object (open for
// write, truncate, chmod, chown, utimens, xattr change, link, rename), with
// parents first; data (holes too), mode, owner, times and xattrs kept.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "tests/mount/diff_test_base.h"

namespace strata::mounttest {
namespace {

class CopyUp : public DiffTestBase {};

TEST_F(CopyUp, OnWriteKeepsDataModeOwnerAndXattrs) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Write("a/f_bottom", 3, 5, 11), Read("a/f_bottom"), Stat("a/f_bottom"),
       Write("random_200k", 100000, 7000, 12), Read("random_200k"), Listxattr("random_200k"),
       Getxattr("random_200k", "user.kind"), Write("a/sub/deep.txt", 4095, 10, 13),
       Stat("a/sub/deep.txt"), Stat("a/sub"), Write("exec.sh", 0, 2, 14, O_APPEND),
       Stat("exec.sh"), Write("top_only_dir/n1/n2/leaf", 0, 1, 15), Stat("top_only_dir/n1/n2"),
       Write("mode_file", 1, 1, 16), Stat("mode_file")});
  FinishAndCompare();
}

TEST_F(CopyUp, OnOpenForWriteWithoutWriting) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({OpenClose("a/f_mid", O_WRONLY), Stat("a/f_mid"), OpenClose("a/f_top", O_RDWR),
       OpenClose("size_4096", O_WRONLY | O_TRUNC), Stat("size_4096"), Read("a/f_top"),
       OpenClose("xattr_file", O_RDONLY), Listxattr("xattr_file")});
  FinishAndCompare();
}

TEST_F(CopyUp, OnTruncateShrinkAndExtend) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Truncate("a/sub/deep.txt", 100), Read("a/sub/deep.txt"), Truncate("size_65537", 70000),
       Read("size_65537", 65530, 10000), Truncate("empty_file", 0), Stat("empty_file"),
       Truncate("a", 0), Truncate("sym_rel", 1), Read("a/f_bottom")});
  FinishAndCompare();
}

TEST_F(CopyUp, OnMetadataChangesKeepsEverythingElse) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Chmod("exec.sh", 0700), Stat("exec.sh"), Read("exec.sh"), Chown("mode_file", 0, 0),
       Stat("mode_file"), Read("mode_file"), Utimens("a/f_mid", 1100000000, 1200000000),
       Stat("a/f_mid"), Setxattr("xattr_file", "user.new", "v"), Listxattr("xattr_file"),
       Getxattr("xattr_file", "user.bin"), Chmod("a/sub", 0700), Stat("a/sub"),
       Readdir("a/sub"), Chown("sym_rel", 1000, 100), Stat("sym_rel"),
       Utimens("sym_dangling", 1100000000, 1150000000, AT_SYMLINK_NOFOLLOW),
       Stat("sym_dangling"), Chmod("setgid_dir", 0755), Stat("setgid_dir"),
       Setxattr("user_xattr_dir", "user.note", "changed", XATTR_REPLACE),
       Getxattr("user_xattr_dir", "user.note"), Chmod("fifo1", 0600), Stat("fifo1"),
       Chown("null_dev", 1000, 1000), Stat("null_dev")});
  FinishAndCompare();
}

TEST_F(CopyUp, SetIdBitsFollowTheKernelRules) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Write("setuid_bin", 0, 4, 21), Stat("setuid_bin"), Chown("setuid_bin", 1000, 1000),
       Stat("setuid_bin"), Chmod("setuid_bin", 06755), Truncate("setuid_bin", 2),
       Stat("setuid_bin"), Mkdir("setgid_dir/child"), Stat("setgid_dir/child"),
       OpenClose("setgid_dir/file", O_CREAT | O_WRONLY, 0755), Stat("setgid_dir/file")});
  FinishAndCompare();
}

TEST_F(CopyUp, KeepsHoles) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Chmod("big_sparse", 0600), Read("big_sparse", (1 << 20) - 10, 100),
       Write("big_sparse", (2 << 20) + 5, 3, 31), Stat("big_sparse")});
  struct stat kernel_st, daemon_st;
  ASSERT_EQ(lstat(session().KernelPath("big_sparse").c_str(), &kernel_st), 0);
  ASSERT_EQ(lstat(session().DaemonPath("big_sparse").c_str(), &daemon_st), 0);
  // 3 MiB file with two small data ranges: a copy that filled the holes
  // would use about 3 MiB of blocks. (The kernel copies in 1 MiB chunks and
  // so fills the first hole; the 2 MiB one after the data must survive.)
  constexpr long kLimit = 2 << 20;
  EXPECT_LT(kernel_st.st_blocks * 512, kLimit) << "kernel copy-up filled the holes?";
  EXPECT_LT(daemon_st.st_blocks * 512, kLimit) << "daemon copy-up filled the holes";
  struct stat upper_st;
  ASSERT_EQ(lstat((session().daemon_layers().upper + "/big_sparse").c_str(), &upper_st), 0);
  EXPECT_LT(upper_st.st_blocks * 512, kLimit) << "the upper copy is not sparse";
  FinishAndCompare();
}

TEST_F(CopyUp, OpenFileDescriptorsAcrossCopyUp) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({OpenSlot(0, "a/f_bottom", O_RDONLY), OpenSlot(1, "a/f_bottom", O_RDWR),
       PwriteSlot(1, 0, 6, 41), PreadSlot(1, 0, 100), PreadSlot(0, 0, 100), FstatSlot(0),
       FstatSlot(1), FtruncateSlot(1, 2), OpenSlot(2, "a/f_bottom", O_RDONLY),
       PreadSlot(2, 0, 100), CloseSlot(0), CloseSlot(1), CloseSlot(2), Read("a/f_bottom"),
       OpenSlot(3, "newfile", O_CREAT | O_RDWR, 0640), PwriteSlot(3, 10, 10, 42), FstatSlot(3),
       Unlink("newfile"), PreadSlot(3, 0, 100), FstatSlot(3), CloseSlot(3)});
  FinishAndCompare();
}

}  // namespace
}  // namespace strata::mounttest
