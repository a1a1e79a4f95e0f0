// The work directory: WORKDIR/work created and emptied at start-up, trees
// removed without following symlinks, fresh temporary names.
#include "fs/layer/work_dir.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <set>

#include "tests/unit/layer_fixture.h"

namespace strata::layer {
namespace {

using unittest::Exists;
using unittest::MakeDirs;
using unittest::MakeSymlink;
using unittest::WriteFile;

class WorkDirTest : public ::testing::Test {
 protected:
  std::string P(std::string_view rel) const { return dir_ / rel; }
  unittest::TempDir dir_;
};

TEST_F(WorkDirTest, CreatesWorkWithModeZero) {
  MakeDirs(P("w"));
  auto fd = PrepareWorkDir(P("w"));
  ASSERT_TRUE(fd.ok()) << std::strerror(fd.error());
  struct stat st = unittest::Lstat(P("w/work"));
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0u);
  struct stat fst;
  ASSERT_EQ(::fstat(fd->get(), &fst), 0);
  EXPECT_EQ(fst.st_ino, st.st_ino);
}

TEST_F(WorkDirTest, EmptiesAnExistingWork) {
  MakeDirs(P("w/work"));
  WriteFile(P("w/work/#a.1"), "partial");
  WriteFile(P("w/work/#d.2/x/y/z"), "deep");
  MakeDirs(P("w/work/#empty"));
  unittest::MakeFifo(P("w/work/#fifo"));
  WriteFile(P("outside/precious"), "keep");
  MakeSymlink(P("outside"), P("w/work/#link-to-dir"));
  MakeSymlink(P("outside/precious"), P("w/work/#link-to-file"));
  auto fd = PrepareWorkDir(P("w"));
  ASSERT_TRUE(fd.ok()) << std::strerror(fd.error());
  EXPECT_TRUE(unittest::ListDir(P("w/work")).empty());
  EXPECT_EQ(unittest::ReadFile(P("outside/precious")), "keep");
}

TEST_F(WorkDirTest, WorkThatIsNotADirectoryFails) {
  WriteFile(P("w/work"), "a file");
  EXPECT_FALSE(PrepareWorkDir(P("w")).ok());
  EXPECT_EQ(unittest::ReadFile(P("w/work")), "a file");
  MakeDirs(P("v"));
  MakeSymlink(P("outside"), P("v/work"));
  MakeDirs(P("outside"));
  WriteFile(P("outside/precious"), "keep");
  EXPECT_FALSE(PrepareWorkDir(P("v")).ok()) << "work must not be reached through a symlink";
  EXPECT_TRUE(Exists(P("outside/precious")));
}

TEST_F(WorkDirTest, RemoveTreeDoesNotFollowSymlinks) {
  WriteFile(P("outside/precious"), "keep");
  WriteFile(P("d/t/file"));
  MakeSymlink(P("outside"), P("d/t/dirlink"));
  MakeSymlink("../../outside", P("d/t/sub/rel"));
  UniqueFd d(::open(P("d").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(RemoveTree(d.get(), "t").ok());
  EXPECT_FALSE(Exists(P("d/t")));
  EXPECT_EQ(unittest::ReadFile(P("outside/precious")), "keep");
  // A symlink to a directory given as the tree itself: only the link goes.
  MakeSymlink(P("outside"), P("d/top"));
  ASSERT_TRUE(RemoveTree(d.get(), "top").ok());
  EXPECT_FALSE(Exists(P("d/top")));
  EXPECT_TRUE(Exists(P("outside/precious")));
  // Missing names are fine.
  EXPECT_TRUE(RemoveTree(d.get(), "missing").ok());
}

TEST_F(WorkDirTest, RemoveTreeOfUnwritableDirectories) {
  // A copied-up directory tree may carry mode 0555 dirs; root removes them.
  WriteFile(P("d/t/ro/file"));
  ::chmod(P("d/t/ro").c_str(), 0555);
  ::chmod(P("d/t").c_str(), 0);
  UniqueFd d(::open(P("d").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(RemoveTree(d.get(), "t").ok());
  EXPECT_FALSE(Exists(P("d/t")));
}

TEST_F(WorkDirTest, TempNamesAreFreshAndPlain) {
  std::set<std::string> names;
  for (int i = 0; i < 1000; ++i) {
    std::string n = NewTempName();
    EXPECT_EQ(n.find('/'), std::string::npos);
    EXPECT_FALSE(n.starts_with(".wh."));
    names.insert(n);
  }
  EXPECT_EQ(names.size(), 1000u);
}

}  // namespace
}  // namespace strata::layer
