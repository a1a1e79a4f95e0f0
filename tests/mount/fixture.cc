#include "tests/mount/fixture.h"

namespace strata::mounttest {
namespace {

constexpr uid_t kUser = 1000;
constexpr gid_t kUsers = 100;
constexpr uid_t kNobody = 65534;

// Bottom layer: most of the objects the upper layers shadow, hide or merge.
void BuildBottom(LayerBuilder& l) {
  l.Dir("a", 0755);
  l.File("a/f_bottom", 0644, "bottom file\n");
  l.File("a/shadowed", 0644, "from l2\n");
  l.Dir("a/sub", 0750, kUser, kUser);
  l.File("a/sub/deep.txt", 0640, PatternBytes(1, 4095), kUser, kUsers);
  l.Dir("b", 0755);
  l.File("b/x", 0644, "x from l2\n");
  l.File("b/y", 0644, "y from l2\n");
  l.File("b/z", 0644, "z\n");
  l.Dir("opq_dir", 0755);
  l.File("opq_dir/hidden_by_opaque", 0644, "hidden\n");
  l.Dir("oci_opq", 0755);
  l.File("oci_opq/hidden_by_oci_opq", 0644, "hidden\n");
  l.Dir("uopq_dir", 0755);
  l.File("uopq_dir/hidden_by_user_opaque", 0644, "hidden\n");
  l.File("wh_target", 0644, "whited out by l1\n");
  l.File("oci_wh_target", 0644, "whited out by l0\n");
  l.Dir("rm_dir", 0755);
  l.File("rm_dir/inner", 0644, "in removed dir\n");
  l.Dir("rm_dir/sub", 0755);
  l.File("rm_dir/sub/leaf", 0644, "leaf\n");
  l.Dir("oci_rm_dir", 0755);
  l.File("oci_rm_dir/inner", 0644, "in removed dir\n");
  l.SparseFile("big_sparse", 0644, 3 << 20, 1 << 20, 4096);
  l.File("random_200k", 0644, PatternBytes(2, 200000));
  l.Xattr("random_200k", "user.kind", "random");
  l.File("hl_a", 0644, "linked\n");
  l.HardLink("hl_a", "hl_b");
  l.File("exec.sh", 0755, "#!/bin/sh\necho hi\n", kUser, kUser);
  l.File("setuid_bin", 04755, "fake binary\n");
  l.Dir("setgid_dir", 02775, 0, kUsers);
  l.Fifo("fifo1", 0644);
  l.Symlink("sym_rel", "a/f_bottom");
  // Absolute and dangling on the host too: an op that follows it must never
  // touch a host file.
  l.Symlink("sym_abs", "/strata-absent/abs_target");
  l.Symlink("sym_dangling", "nowhere/x", kUser, kUser);
  l.Symlink("sym_to_dir", "a");
  l.Dir("dir_replaced", 0755);
  l.File("dir_replaced/old", 0644, "old\n");
  l.File("file_replaced", 0644, "was a file\n");
  l.File("xattr_file", 0644, "xattrs\n");
  l.Xattr("xattr_file", "user.color", "blue");
  l.Xattr("xattr_file", "user.bin", std::string("\0\1\xff", 3));
  l.Dir("empty_dir", 0755);
  l.CharDevice("null_dev", 0666, 1, 3);
}

// Middle layer: kernel-form whiteouts and opaque dirs, replacements.
void BuildMiddle(LayerBuilder& l, MarkerForm form) {
  l.Dir("a", 0755);
  l.File("a/shadowed", 0644, "from l1 (longer)\n");
  l.File("a/f_mid", 0600, "middle\n");
  l.Dir("opq_dir", 0711);
  l.Opaque("opq_dir", MarkerForm::kKernel);
  l.File("opq_dir/visible_mid", 0644, "visible\n");
  l.Whiteout("wh_target", MarkerForm::kKernel);
  l.Whiteout("ghost", MarkerForm::kKernel);  // hides nothing: must not show
  l.File("dir_replaced", 0644, "now a file\n");
  l.Dir("file_replaced", 0755);
  l.File("file_replaced/inner", 0644, "inner\n");
  l.Dir("b", 0755);
  l.Whiteout("b/x", MarkerForm::kKernel);
  l.File("mode_file", 0600, "nobody's\n", kNobody, kNobody);
  l.File("empty_file", 0644, "");
  l.Dir("uopq_dir", 0755);
  l.Opaque("uopq_dir", form == MarkerForm::kKernel ? MarkerForm::kKernel : MarkerForm::kUserXattr);
  l.File("uopq_dir/visible_mid", 0644, "visible\n");
  l.Dir("deep", 0755);
  l.File("deep/l1only", 0644, "l1 only\n");
}

// Top layer: OCI-form markers (in the foreign variant), new trees, sizes.
void BuildTop(LayerBuilder& l, MarkerForm form) {
  MarkerForm foreign = form == MarkerForm::kKernel ? MarkerForm::kKernel : MarkerForm::kOci;
  l.Dir("a", 0755);
  l.File("a/f_top", 0644, "top\n");
  l.Dir("a/sub", 0750, kUser, kUser);
  l.File("a/sub/top_deep", 0644, "top deep\n");
  l.Whiteout("oci_wh_target", foreign);
  l.Dir("oci_opq", 0755);
  l.Opaque("oci_opq", foreign);
  l.File("oci_opq/visible_top", 0644, "visible\n");
  l.Dir("b", 0755);
  l.Whiteout("b/y", foreign);
  l.Whiteout("rm_dir", MarkerForm::kKernel);
  l.Whiteout("oci_rm_dir", foreign);
  l.Dir("top_only_dir", 0755);
  l.File("top_only_dir/file", 0644, "top only\n");
  l.Dir("top_only_dir/n1", 0755);
  l.Dir("top_only_dir/n1/n2", 0700);
  l.File("top_only_dir/n1/n2/leaf", 0400, "leaf\n");
  l.File("hl_top1", 0644, "top links\n", kUser, kUsers);
  l.HardLink("hl_top1", "hl_top2");
  l.Dir("user_xattr_dir", 0755);
  l.Xattr("user_xattr_dir", "user.note", "dir");
  l.File("size_1", 0644, "1");
  l.File("size_4096", 0644, PatternBytes(3, 4096));
  l.File("size_65537", 0644, PatternBytes(4, 65537));
  l.Symlink("sym_top", "../outside");
}

}  // namespace

std::vector<std::string> BuildFixture(const std::string& dir, MarkerForm form) {
  LayerBuilder bottom(dir + "/l2");
  BuildBottom(bottom);
  LayerBuilder middle(dir + "/l1");
  BuildMiddle(middle, form);
  LayerBuilder top(dir + "/l0");
  BuildTop(top, form);
  bottom.Finish();
  middle.Finish();
  top.Finish();
  return {top.root(), middle.root(), bottom.root()};
}

}  // namespace strata::mounttest
