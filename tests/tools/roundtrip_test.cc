// import -> mount -> change -> commit -> import -> mount shows the same tree,
// on stratafs (env STRATAFS) and on kernel overlayfs as the reference.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include <cstring>

#include <archive.h>
#include <archive_entry.h>

#include "fs/base/unique_fd.h"
#include "tests/tools/test_util.h"
#include "tools/layer_digest.h"
#include "tools/tar_export.h"
#include "tools/tar_import.h"

namespace strata::tools {
namespace {

using testing::TempDir;

enum class Fs { kKernel, kStratafs };

// A mounted overlay, unmounted when it goes out of scope (lazily as a last
// resort, so a failing test never leaves a mount behind).
class Mount {
 public:
  Mount(Fs fs, const std::string& mnt, const std::string& options) : mnt_(mnt) {
    testing::MakeDirs(mnt);
    if (fs == Fs::kKernel) {
      mounted_ = ::mount("overlay", mnt.c_str(), "overlay", 0, options.c_str()) == 0;
      if (!mounted_) error_ = std::string("kernel overlay mount: ") + std::strerror(errno);
      return;
    }
    const char* exe = std::getenv("STRATAFS");
    if (!exe) {
      error_ = "STRATAFS is not set";
      return;
    }
    pid_t pid = ::fork();
    if (pid == 0) {
      ::execl(exe, exe, mnt.c_str(), "-o", options.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);  // stratafs returns once the mount is live
    mounted_ = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!mounted_) error_ = "stratafs exited with " + std::to_string(status);
  }
  ~Mount() {
    if (!mounted_) return;
    if (::umount2(mnt_.c_str(), 0) < 0) ::umount2(mnt_.c_str(), MNT_DETACH);
  }
  bool ok() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::string mnt_;
  bool mounted_ = false;
  std::string error_;
};

std::string Digest(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  EXPECT_GE(fd, 0) << dir;
  UniqueFd root(fd);
  std::string error;
  auto d = DigestLayer(root.get(), DigestOptions{}, &error);
  EXPECT_TRUE(d.ok()) << error;
  return d.ok() ? d->digest : "";
}

void WriteBaseTar(const std::string& out) {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_add_filter_gzip(a);
  ASSERT_EQ(archive_write_open_filename(a, out.c_str()), ARCHIVE_OK);
  auto add = [&](const char* path, mode_t mode, const std::string& data, const char* link = nullptr) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path);
    archive_entry_set_mode(e, mode);
    archive_entry_set_mtime(e, 1700000000, 0);
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    if (link) archive_entry_set_symlink(e, link);
    archive_write_header(a, e);
    archive_write_data(a, data.data(), data.size());
    archive_entry_free(e);
  };
  add("etc/", S_IFDIR | 0755, "");
  add("etc/motd", S_IFREG | 0644, "welcome\n");
  add("etc/passwd", S_IFREG | 0644, "root:x:0:0::/root:/bin/sh\n");
  add("etc/app/", S_IFDIR | 0755, "");
  add("etc/app/a.conf", S_IFREG | 0600, "a=1\n");
  add("etc/app/b.conf", S_IFREG | 0600, "b=2\n");
  add("usr/bin/", S_IFDIR | 0755, "");
  add("usr/bin/tool", S_IFREG | 0755, std::string(300000, 't'));
  add("usr/bin/alias", S_IFLNK | 0777, "", "tool");
  add("var/log/", S_IFDIR | 0755, "");
  add("var/log/old.log", S_IFREG | 0644, "old\n");
  archive_write_close(a);
  archive_write_free(a);
}

class RoundTripTest : public ::testing::TestWithParam<Fs> {};

TEST_P(RoundTripTest, ImportMountChangeCommitImportMount) {
  const Fs fs = GetParam();
  TempDir t;
  WriteBaseTar(t / "base.tar.gz");
  std::string error;
  ASSERT_TRUE(ImportLayerTar(t / "base.tar.gz", t / "L1", &error).ok()) << error;
  testing::MakeDirs(t / "upper");
  testing::MakeDirs(t / "work");

  std::string changed;
  {
    Mount m(fs, t / "m1", "lowerdir=" + t / "L1" + ",upperdir=" + t / "upper" + ",workdir=" + t / "work");
    ASSERT_TRUE(m.ok()) << m.error();
    const std::string r = t / "m1";
    testing::WriteFile(r + "/etc/motd", "changed\n");                      // copy-up
    ASSERT_EQ(::unlink((r + "/etc/passwd").c_str()), 0);                    // whiteout
    ASSERT_EQ(::unlink((r + "/etc/app/a.conf").c_str()), 0);
    ASSERT_EQ(::unlink((r + "/etc/app/b.conf").c_str()), 0);
    ASSERT_EQ(::rmdir((r + "/etc/app").c_str()), 0);                         // dir whiteout
    testing::MakeDirs(r + "/etc/app");                                       // -> opaque dir
    testing::WriteFile(r + "/etc/app/c.conf", "c=3\n");
    ASSERT_EQ(::chmod((r + "/usr/bin/tool").c_str(), 0700), 0);             // metadata copy-up
    testing::WriteFile(r + "/srv/data/new.txt", "new\n");
    ASSERT_EQ(::setxattr((r + "/srv/data/new.txt").c_str(), "user.tag", "x", 1, 0), 0);
    ASSERT_EQ(::symlink("../srv/data/new.txt", (r + "/etc/new-link").c_str()), 0);
    ASSERT_EQ(::unlink((r + "/var/log/old.log").c_str()), 0);
    changed = Digest(r);
    if (fs == Fs::kStratafs) {
      // The layers of a running stratafs are found from its mount point alone.
      auto which = testing::RunStrata("which --mount " + r + " /etc/motd");
      EXPECT_EQ(which.status, 0);
      EXPECT_NE(which.out.find("provided by  upper     " + t / "upper"), std::string::npos) << which.out;
      auto direct = testing::RunStrata("which " + r + "/etc/motd " + r + "/etc/passwd");
      EXPECT_EQ(direct.status, 1) << "/etc/passwd is deleted";
      EXPECT_EQ(direct.out.rfind("/etc/motd\n  provided by  upper", 0), 0u) << direct.out;
      EXPECT_NE(direct.out.find("/etc/passwd\n  not in the merged view: whiteout of /etc/passwd in upper"),
                std::string::npos) << direct.out;
      auto diff = testing::RunStrata("diff --mount " + r);
      EXPECT_NE(diff.out.find("C /etc/motd\n"), std::string::npos) << diff.out;
      EXPECT_NE(diff.out.find("D /etc/passwd\n"), std::string::npos) << diff.out;
      // Live counters: the copy-ups and operations above are counted.
      auto stats = testing::RunStrata("stats " + r);
      EXPECT_EQ(stats.status, 0) << stats.out;
      EXPECT_EQ(stats.out.rfind("stratafs on " + r + " (pid ", 0), 0u) << stats.out;
      EXPECT_NE(stats.out.find("\n  lookup "), std::string::npos) << stats.out;
      EXPECT_EQ(stats.out.find("copy-ups 0 "), std::string::npos) << stats.out;
      auto json = testing::RunStrata("stats --json " + r);
      EXPECT_EQ(json.status, 0);
      EXPECT_EQ(json.out.rfind("{\"pid\":", 0), 0u) << json.out;
      EXPECT_NE(json.out.find("\"mkdir\":{\"count\":"), std::string::npos) << json.out;
      EXPECT_EQ(testing::RunStrata("stats " + t / "L1").status, 1) << "not a mount point";
    }
  }
  auto stats = ExportLayer(::open((t / "upper").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC),
                           t / "layer2.tar", &error);
  ASSERT_TRUE(stats.ok()) << error;
  EXPECT_GE(stats->whiteouts, 3u);  // passwd, old.log, the opaque etc/app
  ASSERT_TRUE(ImportLayerTar(t / "layer2.tar", t / "L2", &error).ok()) << error;

  Mount m2(fs, t / "m2", "lowerdir=" + t / "L2" + ":" + t / "L1");
  ASSERT_TRUE(m2.ok()) << m2.error();
  EXPECT_EQ(Digest(t / "m2"), changed)
      << testing::RunStrata("digest --tree " + t / "m2").out;
  struct stat st;
  EXPECT_NE(::lstat((t / "m2/etc/passwd").c_str(), &st), 0);
  EXPECT_NE(::lstat((t / "m2/etc/app/a.conf").c_str(), &st), 0);
  EXPECT_EQ(testing::ReadFile(t / "m2/etc/app/c.conf"), "c=3\n");
  EXPECT_EQ(testing::ReadFile(t / "m2/etc/motd"), "changed\n");
}

INSTANTIATE_TEST_SUITE_P(Fs, RoundTripTest, ::testing::Values(Fs::kKernel, Fs::kStratafs),
                         [](const auto& info) { return info.param == Fs::kKernel ? "KernelOverlay" : "Stratafs"; });

}  // namespace
}  // namespace strata::tools
