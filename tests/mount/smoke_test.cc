// The fixture alone, untouched: both mounts must show the same merged tree.
#include "tests/mount/diff_test_base.h"

namespace strata::mounttest {
namespace {

class FixtureView : public DiffTestBase {};

TEST_F(FixtureView, MergedTreesAgree) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  FinishAndCompare();
}

TEST_F(FixtureView, MergedTreesAgreeWithUserXattrOpaque) {
  ASSERT_NO_FATAL_FAILURE(StartSession({.daemon_form = MarkerForm::kUserXattr}));
  FinishAndCompare();
}

TEST_F(FixtureView, MergedTreesAgreeWithKernelFormOnly) {
  ASSERT_NO_FATAL_FAILURE(StartSession({.daemon_form = MarkerForm::kKernel}));
  FinishAndCompare();
}

}  // namespace
}  // namespace strata::mounttest
