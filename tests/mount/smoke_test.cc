// The fixture alone, untouched: both mounts must show the same merged tree.
#include "tests/mount/diff_test_base.h"

namespace strata::mounttest {
namespace {

class FixtureView : public DiffTestBase {};

TEST_F(FixtureView, MergedTreesAgree) {
  StartSession();
  FinishAndCompare();
}

TEST_F(FixtureView, MergedTreesAgreeWithUserXattrOpaque) {
  StartSession({.daemon_form = MarkerForm::kUserXattr});
  FinishAndCompare();
}

TEST_F(FixtureView, MergedTreesAgreeWithKernelFormOnly) {
  StartSession({.daemon_form = MarkerForm::kKernel});
  FinishAndCompare();
}

}  // namespace
}  // namespace strata::mounttest
