// LayerStack::Open: every impossible setup of DESIGN.md §1 gives one clear
// line, symlinked lowers are resolved once, the work directory is cleaned, and
// reported inode numbers stay unique across filesystems.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>

#include "fs/layer/layer.h"
#include "fs/layer/origin_map.h"
#include "tests/unit/layer_fixture.h"

namespace strata::layer {
namespace {

using unittest::MakeDirs;
using unittest::MakeSymlink;
using unittest::WriteFile;
using Strings = std::vector<std::string>;

class LayerStackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* d : {"l0", "l1", "upper", "work"}) MakeDirs(P(d));
  }
  std::string P(std::string_view rel) const { return dir_ / rel; }

  std::optional<LayerStack> Open(const Strings& lowers, const std::string& upper,
                                 const std::string& work, std::string* error) {
    return LayerStack::Open(lowers, upper, work, error);
  }
  // Expects Open to fail; returns its one-line message.
  std::string OpenError(const Strings& lowers, const std::string& upper, const std::string& work) {
    std::string error;
    auto s = Open(lowers, upper, work, &error);
    EXPECT_FALSE(s.has_value());
    EXPECT_FALSE(error.empty());
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
    return error;
  }

  unittest::TempDir dir_;
};

TEST_F(LayerStackTest, OpensAReadWriteStack) {
  std::string error;
  auto s = Open({P("l0"), P("l1")}, P("upper"), P("work"), &error);
  ASSERT_TRUE(s.has_value()) << error;
  EXPECT_TRUE(s->has_upper());
  EXPECT_EQ(s->size(), 3u);
  EXPECT_EQ(s->first_lower(), 1);
  EXPECT_TRUE(s->at(0).writable);
  EXPECT_FALSE(s->at(1).writable);
  EXPECT_EQ(s->at(1).path, P("l0"));
  EXPECT_EQ(s->at(2).path, P("l1"));
  EXPECT_EQ(s->at(1).root_ino, unittest::Lstat(P("l0")).st_ino);
  EXPECT_GE(s->workdir_fd(), 0);
  EXPECT_TRUE(s->single_fs());
  // WORKDIR/work exists, mode 0 like the kernel's.
  struct stat st = unittest::Lstat(P("work/work"));
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0u);
}

TEST_F(LayerStackTest, OpensAReadOnlyStack) {
  std::string error;
  auto s = Open({P("l0")}, "", "", &error);
  ASSERT_TRUE(s.has_value()) << error;
  EXPECT_FALSE(s->has_upper());
  EXPECT_EQ(s->size(), 1u);
  EXPECT_EQ(s->first_lower(), 0);
  EXPECT_LT(s->workdir_fd(), 0);
  EXPECT_LT(s->origins().map_fd, 0);
  EXPECT_FALSE(s->at(0).writable);
}

TEST_F(LayerStackTest, MissingDirectories) {
  EXPECT_NE(OpenError({P("l0"), P("nope")}, "", "").find("nope"), std::string::npos);
  EXPECT_NE(OpenError({P("l0")}, P("nope"), P("work")).find("nope"), std::string::npos);
  EXPECT_NE(OpenError({P("l0")}, P("upper"), P("nope")).find("nope"), std::string::npos);
  OpenError({}, "", "");
  OpenError({P("l0"), ""}, "", "");
}

TEST_F(LayerStackTest, NotDirectories) {
  WriteFile(P("file"));
  EXPECT_NE(OpenError({P("file")}, "", "").find("not a directory"), std::string::npos);
  OpenError({P("l0")}, P("file"), P("work"));
  OpenError({P("l0")}, P("upper"), P("file"));
}

TEST_F(LayerStackTest, UnreadableLowerForAnUnprivilegedUser) {
  // Root reads everything; check the refusal as an ordinary user in a child.
  MakeDirs(P("closed"), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgid(65534) < 0 || ::setuid(65534) < 0) ::_exit(2);
    std::string error;
    auto s = LayerStack::Open({P("closed")}, "", "", &error);
    ::_exit(!s && error.find("closed") != std::string::npos ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "2: could not drop privileges, 1: Open did not refuse";
}

TEST_F(LayerStackTest, UpperWithoutWorkdirAndTheReverse) {
  EXPECT_NE(OpenError({P("l0")}, P("upper"), "").find("workdir"), std::string::npos);
  OpenError({P("l0")}, "", P("work"));
}

TEST_F(LayerStackTest, UpperEqualsALower) {
  OpenError({P("l0"), P("upper")}, P("upper"), P("work"));
  // Also when spelt differently.
  MakeSymlink(P("upper"), P("upper-link"));
  OpenError({P("l0"), P("upper-link")}, P("upper"), P("work"));
  OpenError({P("l0")}, P("l0/."), P("work"));
}

TEST_F(LayerStackTest, UpperInsideALowerAndLowerInsideTheUpper) {
  MakeDirs(P("l0/nested-upper"));
  MakeDirs(P("upper/nested-lower"));
  EXPECT_NE(OpenError({P("l0")}, P("l0/nested-upper"), P("work")).find("inside"), std::string::npos);
  EXPECT_NE(OpenError({P("upper/nested-lower")}, P("upper"), P("work")).find("inside"),
            std::string::npos);
  // A sibling whose name merely starts the same is not inside.
  MakeDirs(P("l0x"));
  std::string error;
  EXPECT_TRUE(Open({P("l0")}, P("l0x"), P("work"), &error).has_value()) << error;
}

TEST_F(LayerStackTest, WorkdirInsideUpperOrUpperInsideWorkdir) {
  MakeDirs(P("upper/w"));
  OpenError({P("l0")}, P("upper"), P("upper/w"));
  MakeDirs(P("work/u"));
  OpenError({P("l0")}, P("work/u"), P("work"));
  OpenError({P("l0")}, P("upper"), P("upper"));
}

TEST_F(LayerStackTest, WorkdirOnAnotherFilesystem) {
  unittest::TmpfsMount tmpfs(P("tmpfs"));
  ASSERT_TRUE(tmpfs.mounted());
  MakeDirs(P("tmpfs/work"));
  std::string e = OpenError({P("l0")}, P("upper"), P("tmpfs/work"));
  EXPECT_NE(e.find("filesystem"), std::string::npos) << e;
  // Nothing was created there.
  EXPECT_FALSE(unittest::Exists(P("tmpfs/work/work")));
}

TEST_F(LayerStackTest, SymlinkedLowersAreResolvedOnce) {
  // containers-storage passes l/SHORTID links to the layer directories.
  MakeDirs(P("storage/l"));
  MakeSymlink("../../l0", P("storage/l/ABC"));
  std::string error;
  auto s = Open({P("storage/l/ABC")}, P("upper"), P("work"), &error);
  ASSERT_TRUE(s.has_value()) << error;
  EXPECT_EQ(s->at(1).path, P("l0"));
  EXPECT_EQ(s->at(1).root_ino, unittest::Lstat(P("l0")).st_ino);
  // The held fd keeps naming the layer even if the link changes afterwards.
  ::unlink(P("storage/l/ABC").c_str());
  MakeSymlink("../../l1", P("storage/l/ABC"));
  struct stat st;
  ASSERT_EQ(::fstat(s->at(1).root.get(), &st), 0);
  EXPECT_EQ(st.st_ino, unittest::Lstat(P("l0")).st_ino);
}

TEST_F(LayerStackTest, StaleWorkFilesAreRemoved) {
  WriteFile(P("keep/precious"), "keep");
  MakeDirs(P("work/work"), 0);
  WriteFile(P("work/work/#1.2"), "half a copy-up");
  WriteFile(P("work/work/#dir/sub/deep"), "x");
  MakeSymlink(P("keep"), P("work/work/#link"));
  unittest::MakeDeviceWhiteout(P("work/work/#wh"));
  WriteFile(P("work/index-or-other"), "not ours to clean");
  // Recorded origins must survive a remount: they are not work files.
  MakeSymlink("456", P("work/strata-origin/123"));
  std::string error;
  auto s = Open({P("l0")}, P("upper"), P("work"), &error);
  ASSERT_TRUE(s.has_value()) << error;
  EXPECT_TRUE(unittest::ListDir(P("work/work")).empty());
  // ... and, having entries, that map is still consulted.
  EXPECT_TRUE(s->origins().map_in_use);
  EXPECT_EQ(GetOrigin(s->origins(), AT_FDCWD, "/no/such/object", 123), 456u);
  // Removal never followed the symlink.
  EXPECT_EQ(unittest::ReadFile(P("keep/precious")), "keep");
  EXPECT_TRUE(unittest::Exists(P("work/index-or-other")));
}

TEST_F(LayerStackTest, ReportedInoOnOneFilesystemIsTheRealOne) {
  std::string error;
  auto s = Open({P("l0"), P("l1")}, P("upper"), P("work"), &error);
  ASSERT_TRUE(s.has_value()) << error;
  ASSERT_TRUE(s->single_fs());
  for (int layer = 0; layer < 3; ++layer) EXPECT_EQ(s->ReportedIno(layer, 12345), 12345u);
}

TEST_F(LayerStackTest, ReportedInoAcrossFilesystemsStaysUnique) {
  unittest::TmpfsMount tmpfs(P("tmpfs"));
  ASSERT_TRUE(tmpfs.mounted());
  MakeDirs(P("tmpfs/lower"));
  std::string error;
  auto s = Open({P("tmpfs/lower"), P("l0")}, P("upper"), P("work"), &error);
  ASSERT_TRUE(s.has_value()) << error;
  EXPECT_FALSE(s->single_fs());
  EXPECT_NE(s->at(0).fs_index, s->at(1).fs_index);
  EXPECT_EQ(s->at(0).fs_index, s->at(2).fs_index);
  // The same real number on two filesystems gives two reported numbers...
  std::set<ino_t> seen;
  for (ino_t ino : {ino_t{2}, ino_t{12345}, ino_t{1} << 40}) {
    EXPECT_NE(s->ReportedIno(0, ino), s->ReportedIno(1, ino)) << ino;
    // ...and the mapping is the same for layers on the same filesystem.
    EXPECT_EQ(s->ReportedIno(0, ino), s->ReportedIno(2, ino)) << ino;
    seen.insert(s->ReportedIno(0, ino));
    seen.insert(s->ReportedIno(1, ino));
  }
  EXPECT_EQ(seen.size(), 6u);
  s.reset();  // close the layer fds before the tmpfs goes away
}

TEST_F(LayerStackTest, MarkerNamespaceDefaultsToTrusted) {
  std::string error;
  auto s = Open({P("l0")}, P("upper"), P("work"), &error);
  ASSERT_TRUE(s.has_value()) << error;
  EXPECT_EQ(s->markers(), MarkerNamespace::kTrusted);
  s->set_markers(MarkerNamespace::kUser);
  EXPECT_EQ(s->markers(), MarkerNamespace::kUser);
}

}  // namespace
}  // namespace strata::layer
