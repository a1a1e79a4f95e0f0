// Hostile and ordinary layer tarballs, built here with libarchive.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <vector>

#include "tests/tools/test_util.h"
#include "tools/tar_import.h"

namespace strata::tools {
namespace {

using testing::TempDir;

struct TarEntry {
  std::string path;
  mode_t mode;  // type | permissions
  std::string data;
  std::string link;      // symlink target
  std::string hardlink;  // hard link target
};

void WriteTar(const std::string& out, const std::vector<TarEntry>& entries, const char* filter = nullptr) {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (filter && std::string(filter) == "gzip") archive_write_add_filter_gzip(a);
  if (filter && std::string(filter) == "zstd") archive_write_add_filter_zstd(a);
  ASSERT_EQ(archive_write_open_filename(a, out.c_str()), ARCHIVE_OK);
  for (const auto& e : entries) {
    struct archive_entry* ae = archive_entry_new();
    archive_entry_set_pathname(ae, e.path.c_str());
    archive_entry_set_mode(ae, e.mode);
    archive_entry_set_mtime(ae, 1700000000, 0);
    if (!e.link.empty()) archive_entry_set_symlink(ae, e.link.c_str());
    if (!e.hardlink.empty()) archive_entry_set_hardlink(ae, e.hardlink.c_str());
    archive_entry_set_size(ae, S_ISREG(e.mode) && e.hardlink.empty() ? static_cast<la_int64_t>(e.data.size()) : 0);
    ASSERT_EQ(archive_write_header(a, ae), ARCHIVE_OK) << archive_error_string(a);
    if (!e.data.empty()) archive_write_data(a, e.data.data(), e.data.size());
    archive_entry_free(ae);
  }
  archive_write_close(a);
  archive_write_free(a);
}

// Imports `entries` into t/layer with a canary file next to it, checks the
// import is refused with `expected` in the message and the canary is intact.
void ExpectRefused(const std::vector<TarEntry>& entries, const std::string& expected) {
  TempDir t;
  testing::WriteFile(t / "canary", "untouched");
  testing::MakeDirs(t / "layer");
  WriteTar(t / "in.tar", entries);
  std::string error;
  auto r = ImportLayerTar(t / "in.tar", t / "layer", &error);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(error.find(expected), std::string::npos) << error;
  EXPECT_EQ(testing::ReadFile(t / "canary"), "untouched");
  // Nothing but the canary, the layer and the tarball next to the layer.
  size_t n = 0;
  for (auto& e : std::filesystem::directory_iterator(t.path())) {
    (void)e;
    ++n;
  }
  EXPECT_EQ(n, 3u);
  struct stat st;
  EXPECT_NE(::stat("/tmp/strata-evil", &st), 0) << "something was written outside the layer";
  auto cli = testing::RunStrata("import --no-progress " + t / "in.tar" + " " + t / "layer2", true);
  EXPECT_EQ(cli.status, 1);
  EXPECT_EQ(std::count(cli.out.begin(), cli.out.end(), '\n'), 1) << cli.out;
  EXPECT_EQ(testing::ReadFile(t / "canary"), "untouched");
}

TEST(ImportTest, RefusesDotDotTraversal) {
  ExpectRefused({{"ok/", S_IFDIR | 0755, "", "", ""}, {"ok/../../canary", S_IFREG | 0644, "evil", "", ""}},
                "'..' component");
}

TEST(ImportTest, RefusesAbsolutePaths) {
  ExpectRefused({{"/tmp/strata-evil", S_IFREG | 0644, "evil", "", ""}}, "absolute path");
}

TEST(ImportTest, RefusesWritingThroughASymlink) {
  ExpectRefused({{"escape", S_IFLNK | 0777, "", "..", ""}, {"escape/canary", S_IFREG | 0644, "evil", "", ""}},
                "symlink");
}

TEST(ImportTest, RefusesWritingThroughASymlinkedDirectory) {
  ExpectRefused({{"d", S_IFLNK | 0777, "", "/tmp", ""}, {"d/strata-evil", S_IFREG | 0644, "evil", "", ""}},
                "symlink");
}

TEST(ImportTest, RefusesHardLinksToOutside) {
  ExpectRefused({{"h", S_IFREG | 0644, "", "", "../canary"}}, "'..' component");
  ExpectRefused({{"h", S_IFREG | 0644, "", "", "/etc/passwd"}}, "absolute path");
}

TEST(ImportTest, RefusesHardLinkThroughSymlink) {
  ExpectRefused({{"up", S_IFLNK | 0777, "", "..", ""}, {"h", S_IFREG | 0644, "", "", "up/canary"}}, "symlink");
}

TEST(ImportTest, RefusesHugeNames) {
  ExpectRefused({{std::string(300, 'n'), S_IFREG | 0644, "x", "", ""}}, "longer than 255");
}

TEST(ImportTest, ReportsTruncatedArchive) {
  TempDir t;
  WriteTar(t / "full.tar", {{"big", S_IFREG | 0644, std::string(200000, 'b'), "", ""}});
  std::string full = testing::ReadFile(t / "full.tar");
  testing::WriteFile(t / "cut.tar", full.substr(0, 50000));
  std::string error;
  auto r = ImportLayerTar(t / "cut.tar", t / "layer", &error);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(error.find("truncated or corrupt"), std::string::npos) << error;
}

// A sparse entry stays sparse: archive_read_data() used to fill its holes, so
// a 10 KiB tarball of an 8 TiB sparse file wrote 8 TiB (seen while writing
// tests/fuzz/fuzz_tar_import.cc, which now has sparse seeds). 2 GiB here: enough to see the
// holes written out, not enough to fill the disk if that comes back.
TEST(ImportTest, SparseEntryKeepsItsHoles) {
  TempDir t;
  const off_t size = off_t{2} << 30;
  {
    int fd = ::open((t / "big").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, "head", 4, 0), 4);
    ASSERT_EQ(::pwrite(fd, "tail", 4, size - 4), 4);
    ::close(fd);
  }
  // GNU tar writes the sparse map (libarchive's writer does not).
  ASSERT_EQ(std::system(("tar -S -C " + t.path() + " -cf " + t / "in.tar" + " big").c_str()), 0);
  std::string error;
  auto r = ImportLayerTar(t / "in.tar", t / "layer", &error);
  ASSERT_TRUE(r.ok()) << error;
  EXPECT_LE(r->bytes, 1u << 16) << "hole bytes counted as data";  // tar keeps 4 KiB blocks
  struct stat st;
  ASSERT_EQ(::stat((t / "layer/big").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, size);
  EXPECT_LT(st.st_blocks * 512, 1 << 20) << "the holes were written out";
  int fd = ::open((t / "layer/big").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  char head[4], mid[4], tail[4];
  EXPECT_EQ(::pread(fd, head, 4, 0), 4);
  EXPECT_EQ(::pread(fd, mid, 4, size / 2), 4);
  EXPECT_EQ(::pread(fd, tail, 4, size - 4), 4);
  ::close(fd);
  EXPECT_EQ(std::string(head, 4), "head");
  EXPECT_EQ(std::string(mid, 4), std::string(4, '\0'));
  EXPECT_EQ(std::string(tail, 4), "tail");
}

TEST(ImportTest, ConvertsWhiteoutsAndKeepsMetadata) {
  for (const char* filter : {"none", "gzip", "zstd"}) {
    TempDir t;
    WriteTar(t / "in.tar",
             {{"etc/", S_IFDIR | 0755, "", "", ""},
              {"etc/.wh.passwd", S_IFREG | 0644, "", "", ""},
              {"etc/app/", S_IFDIR | 0750, "", "", ""},
              {"etc/app/.wh..wh..opq", S_IFREG | 0644, "", "", ""},
              {"etc/app/conf", S_IFREG | 04755, "data", "", ""},
              {"etc/app/conf2", S_IFREG | 04755, "", "", "etc/app/conf"},
              {"etc/l", S_IFLNK | 0777, "", "/nowhere", ""},
              {"fifo", S_IFIFO | 0600, "", "", ""}},
             filter);
    std::string error;
    auto r = ImportLayerTar(t / "in.tar", t / "layer", &error);
    ASSERT_TRUE(r.ok()) << filter << ": " << error;
    struct stat st;
    ASSERT_EQ(::lstat((t / "layer/etc/passwd").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == 0);
    char v[4] = {};
    EXPECT_EQ(::getxattr((t / "layer/etc/app").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
    EXPECT_EQ(v[0], 'y');
    EXPECT_NE(::lstat((t / "layer/etc/app/.wh..wh..opq").c_str(), &st), 0);
    ASSERT_EQ(::lstat((t / "layer/etc/app/conf").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 04755u);
    EXPECT_EQ(st.st_nlink, 2u);
    EXPECT_EQ(st.st_mtim.tv_sec, 1700000000);
    ASSERT_EQ(::lstat((t / "layer/etc/app").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0750u);
    EXPECT_EQ(st.st_mtim.tv_sec, 1700000000);
    ASSERT_EQ(::lstat((t / "layer/fifo").c_str(), &st), 0);
    EXPECT_TRUE(S_ISFIFO(st.st_mode));
    char target[64] = {};
    EXPECT_EQ(::readlink((t / "layer/etc/l").c_str(), target, sizeof target), 8);
  }
}

}  // namespace
}  // namespace strata::tools

namespace strata::tools {
namespace {

TEST(ImportTest, WhiteoutNextToItsOwnNameMakesTheDirectoryOpaque) {
  // OCI: `.wh.sub` deletes the lower `sub`; the `sub` of this layer stays,
  // in either order of the two entries.
  for (bool whiteout_first : {true, false}) {
    testing::TempDir t;
    std::vector<TarEntry> entries = {{"sub/", S_IFDIR | 0755, "", "", ""}, {"sub/f", S_IFREG | 0644, "f", "", ""}};
    TarEntry wh{".wh.sub", S_IFREG | 0644, "", "", ""};
    if (whiteout_first) entries.insert(entries.begin(), wh);
    else entries.push_back(wh);
    WriteTar(t / "in.tar", entries);
    std::string error;
    ASSERT_TRUE(ImportLayerTar(t / "in.tar", t / "layer", &error).ok()) << error;
    struct stat st;
    ASSERT_EQ(::lstat((t / "layer/sub").c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode)) << whiteout_first;
    char v[4] = {};
    EXPECT_EQ(::getxattr((t / "layer/sub").c_str(), "trusted.overlay.opaque", v, sizeof v), 1) << whiteout_first;
    EXPECT_EQ(testing::ReadFile(t / "layer/sub/f"), "f");
  }
}

TEST(ImportTest, CommitToDirectoryWritesOciLayout) {
  testing::TempDir t;
  testing::WriteFile(t / "upper/etc/motd", "m");
  ASSERT_TRUE(testing::MakeWhiteout(t / "upper/etc/passwd"));
  testing::WriteFile(t / "upper/opt/new", "n");
  ASSERT_TRUE(testing::SetOpaque(t / "upper/opt"));
  auto r = testing::RunStrata("commit --json -u " + t / "upper" + " " + t / "out/");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("\"format\":\"directory\""), std::string::npos) << r.out;
  struct stat st;
  ASSERT_EQ(::lstat((t / "out/etc/.wh.passwd").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode) && st.st_size == 0);
  EXPECT_EQ(::lstat((t / "out/opt/.wh..wh..opq").c_str(), &st), 0);
  char v[4];
  EXPECT_LT(::getxattr((t / "out/opt").c_str(), "trusted.overlay.opaque", v, sizeof v), 0)
      << "the OCI layout carries opacity as a marker file, not the xattr";
  EXPECT_EQ(testing::ReadFile(t / "out/opt/new"), "n");
}

}  // namespace
}  // namespace strata::tools
