// Digest stability: same tree -> same digest whatever the creation order and
// marker forms; any change of content, mode, owner or xattr -> a new digest.
#include <fcntl.h>
#include <gtest/gtest.h>

#include "tests/tools/test_util.h"
#include "fs/base/unique_fd.h"
#include "tools/layer_digest.h"

namespace strata::tools {
namespace {

using testing::TempDir;

std::string Digest(const std::string& dir, bool with_times = false) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  EXPECT_GE(fd, 0);
  UniqueFd root(fd);
  DigestOptions o;
  o.with_times = with_times;
  std::string error;
  auto d = DigestLayer(root.get(), o, &error);
  EXPECT_TRUE(d.ok()) << error;
  return d.ok() ? d->digest : "";
}

void BuildForward(const std::string& root) {
  testing::MakeDirs(root + "/a/b");
  testing::WriteFile(root + "/a/b/one", "1111");
  testing::WriteFile(root + "/a/two", std::string(100000, 'x'), 0755);
  testing::WriteFile(root + "/z", "zz");
  ::symlink("a/two", (root + "/link").c_str());
  ::setxattr((root + "/z").c_str(), "user.note", "v", 1, 0);
  ASSERT_TRUE(testing::MakeWhiteout(root + "/gone"));
}

void BuildBackward(const std::string& root) {
  testing::MakeDirs(root);
  ASSERT_TRUE(testing::MakeWhiteout(root + "/gone"));
  testing::WriteFile(root + "/z", "zz");
  ::setxattr((root + "/z").c_str(), "user.note", "v", 1, 0);
  ::symlink("a/two", (root + "/link").c_str());
  testing::MakeDirs(root + "/a");
  testing::WriteFile(root + "/a/two", std::string(100000, 'x'), 0755);
  testing::MakeDirs(root + "/a/b");
  testing::WriteFile(root + "/a/b/one", "1111");
  // Overlay-private xattrs are machine state, not content.
  ::setxattr((root + "/a/two").c_str(), "user.strata.origin", "12345678", 8, 0);
}

TEST(DigestTest, IndependentOfCreationOrderAndTimes) {
  TempDir t;
  BuildForward(t / "x");
  ::usleep(20000);
  BuildBackward(t / "y");
  EXPECT_EQ(Digest(t / "x"), Digest(t / "y"))
      << testing::RunStrata("digest --tree " + t / "x" + " " + t / "y").out;
  EXPECT_NE(Digest(t / "x", true), Digest(t / "y", true)) << "--with-times must see the mtimes";
  EXPECT_EQ(Digest(t / "x").size(), std::string("xxh3-128:").size() + 32);
}

TEST(DigestTest, WhiteoutFormsAreEquivalent) {
  TempDir t;
  BuildForward(t / "x");
  BuildForward(t / "y");
  ::unlink((t / "y/gone").c_str());
  testing::WriteFile(t / "y/.wh.gone", "");  // OCI form
  EXPECT_EQ(Digest(t / "x"), Digest(t / "y"));
  testing::SetOpaque(t / "x/a");
  EXPECT_NE(Digest(t / "x"), Digest(t / "y"));
  testing::WriteFile(t / "y/a/.wh..wh..opq", "");
  EXPECT_EQ(Digest(t / "x"), Digest(t / "y"));
}

TEST(DigestTest, EveryChangeChangesTheDigest) {
  TempDir t;
  BuildForward(t / "x");
  const std::string base = Digest(t / "x");
  ::chmod((t / "x/z").c_str(), 0600);
  std::string after_mode = Digest(t / "x");
  EXPECT_NE(base, after_mode);
  ::chmod((t / "x/z").c_str(), 0644);
  EXPECT_EQ(base, Digest(t / "x"));
  ::setxattr((t / "x/z").c_str(), "user.note", "w", 1, 0);
  EXPECT_NE(base, Digest(t / "x"));
  ::setxattr((t / "x/z").c_str(), "user.note", "v", 1, 0);
  testing::WriteFile(t / "x/a/b/one", "1112");
  EXPECT_NE(base, Digest(t / "x"));
  testing::WriteFile(t / "x/a/b/one", "1111");
  EXPECT_EQ(base, Digest(t / "x"));
  ASSERT_EQ(::lchown((t / "x/z").c_str(), 1, 1), 0);
  EXPECT_NE(base, Digest(t / "x"));
  ASSERT_EQ(::lchown((t / "x/z").c_str(), 0, 0), 0);
  ::unlink((t / "x/link").c_str());
  ::symlink("a/b", (t / "x/link").c_str());
  EXPECT_NE(base, Digest(t / "x"));
}

TEST(DigestTest, CliVerifyAndTree) {
  TempDir t;
  BuildForward(t / "x");
  std::string d = Digest(t / "x");
  auto ok = testing::RunStrata("digest --verify " + d + " " + t / "x");
  EXPECT_EQ(ok.status, 0) << ok.out;
  auto bad = testing::RunStrata("digest --verify xxh3-128:00000000000000000000000000000000 " + t / "x");
  EXPECT_EQ(bad.status, 1);
  auto tree = testing::RunStrata("digest --tree " + t / "x");
  EXPECT_EQ(tree.status, 0);
  EXPECT_NE(tree.out.find(" /a/b/one"), std::string::npos) << tree.out;
  EXPECT_NE(tree.out.find("w 0000"), std::string::npos) << tree.out;
  auto json = testing::RunStrata("digest --json " + t / "x");
  EXPECT_NE(json.out.find("\"digest\":\"" + d + "\""), std::string::npos) << json.out;
  auto missing = testing::RunStrata("digest " + t / "nope", true);
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.out.find("strata digest: "), std::string::npos);
}

}  // namespace
}  // namespace strata::tools
