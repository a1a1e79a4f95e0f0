// DESIGN §3 lookup and readdir: top-down lookup stopped by whiteouts (all
// forms), non-directories hiding what is below, directories merging down to
// the first opaque one (all forms); readdir merged, de-duplicated, markers
// hidden.
#include <fcntl.h>

#include "tests/mount/diff_test_base.h"

namespace strata::mounttest {
namespace {

class Lookup : public DiffTestBase {};

TEST_F(Lookup, WhiteoutsOfEveryFormHideLowerEntries) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Stat("wh_target"), Stat("oci_wh_target"), Stat("ghost"), Stat("b/x"), Stat("b/y"),
       Stat("b/z"), Read("wh_target"), Read("b/y"), Stat("rm_dir"), Stat("rm_dir/inner"),
       Stat("oci_rm_dir"), Stat("oci_rm_dir/inner"), Readdir("rm_dir")});
  FinishAndCompare();
}

TEST_F(Lookup, MarkerNamesAreNeverVisible) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Stat(".wh.oci_wh_target"), Stat("b/.wh.y"), Stat("oci_opq/.wh..wh..opq"),
       Read(".wh.oci_wh_target"), Readdir(""), Readdir("b"), Readdir("oci_opq")});
  FinishAndCompare();
}

// A copy-up keeps what a listing learnt of each lower instance (whether it
// holds `.wh.NAME` files) and starts its own instance knowing it holds none:
// an OCI whiteout below must go on hiding its name after the copy-up.
TEST_F(Lookup, OciWhiteoutsStillHideAfterTheirDirectoryIsCopiedUp) {
  ASSERT_NO_FATAL_FAILURE(StartSession({.daemon_form = MarkerForm::kOci}));
  // b/y is first looked up after the copy-up (the kernel would answer a
  // second lookup from its negative entry, without asking the daemon).
  Run({Readdir("b"), OpenClose("b/new", O_CREAT | O_WRONLY), Stat("b/y"), Read("b/y"),
       Unlink("b/z"), Stat("b/z"), Readdir("b"), Mkfifo("b/y"), Stat("b/y"), Readdir("b")});
  FinishAndCompare();
}

TEST_F(Lookup, OpaqueDirectoriesOfEveryFormStopTheMerge) {
  ASSERT_NO_FATAL_FAILURE(StartSession({.daemon_form = MarkerForm::kOci}));
  Run({Readdir("opq_dir"), Stat("opq_dir/hidden_by_opaque"), Stat("opq_dir/visible_mid"),
       Readdir("oci_opq"), Stat("oci_opq/hidden_by_oci_opq"), Read("oci_opq/visible_top"),
       Readdir("uopq_dir"), Stat("uopq_dir/hidden_by_user_opaque"), Stat("opq_dir")});
  FinishAndCompare();
}

TEST_F(Lookup, UserXattrOpaqueFormStopsTheMerge) {
  ASSERT_NO_FATAL_FAILURE(StartSession({.daemon_form = MarkerForm::kUserXattr}));
  Run({Readdir("uopq_dir"), Stat("uopq_dir/hidden_by_user_opaque"), Listxattr("uopq_dir")});
  FinishAndCompare();
}

TEST_F(Lookup, NonDirectoriesHideWhatIsBelow) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Stat("dir_replaced"), Read("dir_replaced"), Stat("dir_replaced/old"),
       Readdir("dir_replaced"), Stat("file_replaced"), Readdir("file_replaced"),
       Read("file_replaced/inner"), Read("a/shadowed"), Stat("a/shadowed")});
  FinishAndCompare();
}

TEST_F(Lookup, DirectoriesMergeAcrossAllLayers) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Readdir(""), Readdir("a"), Readdir("a/sub"), Readdir("b"), Readdir("deep"),
       Readdir("top_only_dir/n1/n2"), Stat("a"), Stat("a/sub"), Stat(""),
       Read("a/sub/deep.txt"), Read("a/sub/top_deep"), Read("a/f_bottom"), Read("a/f_mid")});
  FinishAndCompare();
}

TEST_F(Lookup, SymlinksSpecialFilesAndAttributes) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  Run({Readlink("sym_rel"), Readlink("sym_abs"), Readlink("sym_dangling"), Readlink("sym_top"),
       Stat("sym_rel", true), Stat("sym_dangling", true), Stat("sym_to_dir/f_top", false),
       Read("sym_rel"), Readdir("sym_to_dir"), Stat("fifo1"), Stat("null_dev"),
       Stat("setuid_bin"), Stat("setgid_dir"), Stat("exec.sh"), Stat("mode_file"),
       Stat("hl_a"), Stat("hl_b"), Stat("hl_top1"), Stat("big_sparse"), Read("big_sparse", 1 << 20, 8192),
       Read("random_200k", 100000, 50000), Read("size_65537", 65536, 10), Readlink("a"),
       Access("exec.sh", X_OK), Access("mode_file", R_OK | W_OK), Access("nope", F_OK),
       Stat("a/f_bottom/x"), Stat("sym_dangling/x")});
  FinishAndCompare();
}

TEST_F(Lookup, ReadOnlyMountWithoutUpperGivesErofs) {
  ASSERT_NO_FATAL_FAILURE(StartSession({.read_only = true}));
  Run({Read("a/f_bottom"), Readdir("a"), OpenClose("a/f_bottom", O_WRONLY),
       OpenClose("newfile", O_CREAT | O_WRONLY), Write("a/f_top", 0, 3, 1), Truncate("a/f_top", 0),
       Chmod("a/f_top", 0600), Chown("a/f_top", 1, 1), Utimens("a/f_top", 1200000000, 1200000000),
       Mkdir("newdir"), Rmdir("empty_dir"), Unlink("a/f_top"), Rename("a/f_top", "a/f_x"),
       Link("a/f_top", "a/f_link"), Symlink("x", "a/sym"), Mkfifo("a/fifo"),
       Setxattr("xattr_file", "user.x", "1"), Removexattr("xattr_file", "user.color"),
       Getxattr("xattr_file", "user.color"), Access("a/f_top", W_OK)});
  FinishAndCompare();
}

}  // namespace
}  // namespace strata::mounttest
