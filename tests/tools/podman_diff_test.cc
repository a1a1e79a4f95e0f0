// `strata diff` against the oracle itself: podman diff of a container whose
// image was made by `strata commit` + `podman import`, changed through
// `podman mount`. Registered only where podman is installed (env PODMAN).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <vector>

#include "tests/tools/test_util.h"

namespace strata::tools {
namespace {

using testing::TempDir;

std::string Sh(const std::string& cmd, int* status = nullptr) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>/dev/null").c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = ::pclose(p);
  if (status) *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// podman prints in walk order; strata sorts by path. Same lines either way.
std::vector<std::string> SortedByPath(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) lines.push_back(l);
  std::sort(lines.begin(), lines.end(),
            [](const std::string& a, const std::string& b) { return a.substr(2) < b.substr(2); });
  return lines;
}

class PodmanDiffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* p = std::getenv("PODMAN");
    podman_ = p ? p : "podman";
    name_ = "strata-tools-diff-" + std::to_string(::getpid());
    image_ = "localhost/strata-tools-test:" + std::to_string(::getpid());
  }
  void TearDown() override {
    Sh(podman_ + " umount " + name_);
    Sh(podman_ + " rm -f " + name_);
    Sh(podman_ + " rmi -f " + image_);
  }
  std::string podman_, name_, image_;
};

TEST_F(PodmanDiffTest, SameLinesAsPodmanDiff) {
  TempDir t;
  testing::WriteFile(t / "base/etc/motd", "motd\n");
  testing::WriteFile(t / "base/etc/passwd", "root\n");
  testing::WriteFile(t / "base/etc/app/a.conf", "a\n");
  testing::WriteFile(t / "base/var/cache/old", "old\n");
  testing::WriteFile(t / "base/usr/share/doc/README", "doc\n");
  testing::MakeDirs(t / "base/opt");
  auto commit = testing::RunStrata("commit --no-progress -u " + t / "base" + " " + t / "base.tar");
  ASSERT_EQ(commit.status, 0);
  int st = 0;
  Sh(podman_ + " import " + t / "base.tar" + " " + image_, &st);
  ASSERT_EQ(st, 0) << "podman import refused the strata commit tarball";
  Sh(podman_ + " create --name " + name_ + " " + image_ + " /bin/true", &st);
  ASSERT_EQ(st, 0);
  std::string m = Sh(podman_ + " mount " + name_, &st);
  ASSERT_EQ(st, 0);
  testing::WriteFile(m + "/etc/motd", "changed\n");
  ASSERT_EQ(::unlink((m + "/etc/passwd").c_str()), 0);
  std::filesystem::remove_all(m + "/etc/app");
  testing::WriteFile(m + "/etc/app/c.conf", "c\n");  // opaque re-created directory
  testing::WriteFile(m + "/srv/new/deep/f", "");
  ASSERT_EQ(::unlink((m + "/var/cache/old").c_str()), 0);
  ASSERT_EQ(::chmod((m + "/usr/share/doc").c_str(), 0700), 0);

  std::string expected = Sh(podman_ + " diff " + name_, &st);
  ASSERT_EQ(st, 0);
  std::string upper = Sh(podman_ + " inspect --format '{{.GraphDriver.Data.UpperDir}}' " + name_);
  std::string lower = Sh(podman_ + " inspect --format '{{.GraphDriver.Data.LowerDir}}' " + name_);
  auto ours = testing::RunStrata("diff -u " + upper + " -l " + lower);
  ASSERT_EQ(ours.status, 0);
  EXPECT_EQ(SortedByPath(ours.out), SortedByPath(expected)) << "podman:\n" << expected << "\nstrata:\n" << ours.out;
  EXPECT_NE(expected.find("D /etc/app"), std::string::npos) << expected;
}

}  // namespace
}  // namespace strata::tools
