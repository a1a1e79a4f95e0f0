// TreeReaper: trees queued for deletion in the work directory are gone after
// Drain(), or at the latest when the reaper is destroyed (unmount); symlinks
// inside are not followed; a missing name does not stop the others.
#include "fs/layer/tree_reaper.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <string>

#include "tests/unit/layer_fixture.h"

namespace strata::layer {
namespace {

using unittest::Exists;
using unittest::MakeDirs;
using unittest::MakeSymlink;
using unittest::WriteFile;

class TreeReaperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeDirs(P("work"));
    work_ = UniqueFd(::open(P("work").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(work_.valid());
  }
  std::string P(std::string_view rel) const { return dir_ / rel; }
  // A directory as rmdir leaves it: whiteout-like entries, a subdirectory.
  void MakeTree(const std::string& name, int files) {
    for (int i = 0; i < files; ++i) WriteFile(P("work/" + name + "/f" + std::to_string(i)));
    WriteFile(P("work/" + name + "/sub/deeper/x"), "x");
  }
  unittest::TempDir dir_;
  UniqueFd work_;
};

TEST_F(TreeReaperTest, DrainReturnsOnceQueuedTreesAreGone) {
  TreeReaper reaper(work_.get());
  reaper.Drain();  // nothing queued, no thread yet: returns at once
  for (int t = 0; t < 5; ++t) MakeTree("#t" + std::to_string(t), 50);
  for (int t = 0; t < 5; ++t) reaper.Remove("#t" + std::to_string(t));
  reaper.Drain();
  EXPECT_TRUE(unittest::ListDir(P("work")).empty());
  // The thread keeps serving after going idle.
  MakeTree("#later", 3);
  reaper.Remove("#later");
  reaper.Drain();
  EXPECT_FALSE(Exists(P("work/#later")));
}

TEST_F(TreeReaperTest, DestructionDeletesWhatIsStillQueued) {
  for (int t = 0; t < 20; ++t) MakeTree("#t" + std::to_string(t), 20);
  {
    TreeReaper reaper(work_.get());
    for (int t = 0; t < 20; ++t) reaper.Remove("#t" + std::to_string(t));
  }
  EXPECT_TRUE(unittest::ListDir(P("work")).empty());
}

TEST_F(TreeReaperTest, SymlinksInsideAreNotFollowedAndMissingNamesAreSkipped) {
  WriteFile(P("outside/precious"), "keep");
  MakeTree("#t", 2);
  MakeSymlink(P("outside"), P("work/#t/link"));
  TreeReaper reaper(work_.get());
  reaper.Remove("#missing");
  reaper.Remove("#t");
  reaper.Drain();
  EXPECT_FALSE(Exists(P("work/#t")));
  EXPECT_EQ(unittest::ReadFile(P("outside/precious")), "keep");
}

}  // namespace
}  // namespace strata::layer
