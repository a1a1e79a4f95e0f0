// `strata diff` against hand-built uppers with the lines podman prints.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/tools/test_util.h"
#include "tools/layer_diff.h"

namespace strata::tools {
namespace {

using testing::TempDir;

class DiffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteFile(t_ / "lower/etc/motd", "base");
    testing::WriteFile(t_ / "lower/etc/passwd", "root");
    testing::WriteFile(t_ / "lower/var/cache/old", "old");
    testing::WriteFile(t_ / "lower/opt/app/a", "a");
    testing::MakeDirs(t_ / "upper");
  }
  std::string Diff() {
    auto r = testing::RunStrata("diff --upper " + t_ / "upper" + " --lower " + t_ / "lower");
    EXPECT_EQ(r.status, 0);
    return r.out;
  }
  TempDir t_;
};

TEST_F(DiffTest, ChangedAddedDeleted) {
  testing::WriteFile(t_ / "upper/etc/motd", "changed");          // copy-up
  testing::WriteFile(t_ / "upper/etc/new.conf", "new");          // added
  ASSERT_TRUE(testing::MakeWhiteout(t_ / "upper/etc/passwd"));   // deleted
  testing::MakeDirs(t_ / "upper/srv/data");                       // new tree
  EXPECT_EQ(Diff(),
            "C /etc\n"
            "C /etc/motd\n"
            "A /etc/new.conf\n"
            "D /etc/passwd\n"
            "A /srv\n"
            "A /srv/data\n");
}

TEST_F(DiffTest, WhiteoutReportsParentsOnce) {
  testing::MakeDirs(t_ / "upper/var/cache");
  ASSERT_TRUE(testing::MakeWhiteout(t_ / "upper/var/cache/old"));
  EXPECT_EQ(Diff(), "C /var\nC /var/cache\nD /var/cache/old\n");
}

TEST_F(DiffTest, OpaqueDirectoryIsDeleteThenContents) {
  testing::WriteFile(t_ / "upper/opt/app/b", "b");
  ASSERT_TRUE(testing::SetOpaque(t_ / "upper/opt/app"));
  EXPECT_EQ(Diff(), "C /opt\nD /opt/app\nA /opt/app/b\n");
}

TEST_F(DiffTest, UnchangedCopiedDirectoryIsNotReported) {
  // A directory copied up with the same mode and mtime is only a parent.
  testing::MakeDirs(t_ / "upper/etc");
  struct stat st;
  ASSERT_EQ(::stat((t_ / "lower/etc").c_str(), &st), 0);
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, (t_ / "upper/etc").c_str(), times, 0), 0);
  EXPECT_EQ(Diff(), "");
  testing::WriteFile(t_ / "upper/etc/x", "x");
  ASSERT_EQ(::utimensat(AT_FDCWD, (t_ / "upper/etc").c_str(), times, 0), 0);
  EXPECT_EQ(Diff(), "C /etc\nA /etc/x\n");
}

TEST_F(DiffTest, RecreatedAfterLowerWhiteoutIsAdded) {
  // A middle layer deleted /etc/motd; the upper makes it again: new, not changed.
  testing::MakeDirs(t_ / "mid/etc");
  ASSERT_TRUE(testing::MakeWhiteout(t_ / "mid/etc/motd"));
  testing::WriteFile(t_ / "upper/etc/motd", "again");
  auto r = testing::RunStrata("diff -u " + t_ / "upper" + " -l " + t_ / "mid:" + t_ / "lower");
  EXPECT_EQ(r.out, "C /etc\nA /etc/motd\n");
  auto json = testing::RunStrata("diff --json -u " + t_ / "upper" + " -l " + t_ / "mid:" + t_ / "lower");
  EXPECT_EQ(json.out, "{\"changed\":[\"/etc\"],\"added\":[\"/etc/motd\"],\"deleted\":[]}\n");
}

TEST_F(DiffTest, BadInputIsOneLineAndExit2) {
  auto r = testing::RunStrata("diff --lower " + t_ / "lower", true);
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out.rfind("strata diff: ", 0), 0u) << r.out;
  auto missing = testing::RunStrata("diff -u " + t_ / "nope" + " -l " + t_ / "lower", true);
  EXPECT_EQ(missing.status, 1);
  EXPECT_EQ(std::count(missing.out.begin(), missing.out.end(), '\n'), 1) << missing.out;
}

}  // namespace
}  // namespace strata::tools
