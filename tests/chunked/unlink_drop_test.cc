// The chunk map of a chunked file goes when the file's last link goes
// (UnionFsConfig::chunked_drop): unlink and rename over it, through the core
// (UnionFs, no FUSE), with the real chunked library behind the hooks. Open
// handles keep working after the unlink, the map included: it is deleted
// only once the kernel's node for the file is gone.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>

#include "fs/core/union_fs.h"
#include "tests/chunked/chunked_fixture.h"

namespace strata::chunked::testing {
namespace {

constexpr uint32_t kChunk = 64 * 1024;
constexpr uint64_t kRoot = InodeTable::kRootId;

bool WriteFileAt(int dirfd, const char* name, const std::string& data) {
  UniqueFd fd(::openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  return fd.valid() && sys::PwriteAll(fd.get(), data.data(), data.size(), 0).ok();
}

class UnlinkDropTest : public ChunkedFixture {
 protected:
  void SetUp() override {
    ChunkedFixture::SetUp();
    std::string error;
    auto stack = layer::LayerStack::Open({root_ + "/lower0", root_ + "/lower1"}, root_ + "/upper",
                                         root_ + "/work", &error);
    ASSERT_TRUE(stack) << error;
    UnionFsConfig config;
    config.chunked_init = [](int tmp_fd, const struct stat& lower, const std::string& relpath) {
      return InitChunkedCopy(tmp_fd, lower, ChunkedOrigin{relpath}, kChunk);
    };
    config.chunked_has_state = [this](int dirfd, const char* name) {
      ++checks_;
      auto chunked = IsChunkedAt(dirfd, name);
      return !chunked.ok() || *chunked;
    };
    config.chunked_drop = [this](int fd, int workdir_fd) {
      ++drops_;
      return DropChunkedState(fd, workdir_fd);
    };
    fs_.emplace(std::move(*stack), config);
  }
  void TearDown() override {
    fs_.reset();
    ChunkedFixture::TearDown();
  }

  // Looks `name` up in the root (one kernel lookup counted).
  std::shared_ptr<Node> LookupNode(const std::string& name) {
    auto e = fs_->Lookup(kRoot, name);
    EXPECT_TRUE(e.ok() && e->node) << name;
    return e.ok() ? e->node : nullptr;
  }

  // A lower file `name`, copied up (chunked) by an open for writing through
  // the core, then `writes` single bytes written through its ChunkedFile.
  // Returns the node (still looked up once) and the open upper fd.
  std::pair<std::shared_ptr<Node>, UniqueFd> ChunkedUpper(const std::string& name,
                                                          std::string* model, int writes) {
    *model = RandomData(8 * kChunk, static_cast<uint32_t>(name.size() + writes));
    MakeLower(lower0_.get(), name, *model);
    auto node = LookupNode(name);
    if (!node) return {};
    auto fd = fs_->Open(node, O_RDWR);
    EXPECT_TRUE(fd.ok());
    if (!fd.ok()) return {};
    EXPECT_TRUE(*IsChunked(fd->get()));
    auto f = OpenChunked(fd->get());
    for (int i = 0; f && i < writes; ++i) {
      const off_t off = static_cast<off_t>(i) * 3 * kChunk + 7;
      EXPECT_TRUE(f->Write("w", 1, off).ok());
      (*model)[static_cast<size_t>(off)] = 'w';
    }
    return {node, std::move(*fd)};
  }

  std::optional<UnionFs> fs_;
  int checks_ = 0;
  int drops_ = 0;
};

TEST_F(UnlinkDropTest, UnlinkWithoutANodeDropsTheMapAtOnce) {
  std::string model;
  auto [node, fd] = ChunkedUpper("f", &model, 2);
  ASSERT_TRUE(node);
  EXPECT_EQ(MapFileCount(), 1u);
  const uint64_t id = node->nodeid();
  node.reset();
  fd.reset();
  fs_->Forget(id, 1);  // the kernel forgot it: nobody can have it open
  ASSERT_TRUE(fs_->Unlink(kRoot, "f").ok());
  EXPECT_EQ(drops_, 1);
  EXPECT_EQ(MapFileCount(), 0u);
}

TEST_F(UnlinkDropTest, OpenHandleKeepsWorkingAndTheMapGoesWithTheNode) {
  std::string model;
  auto [node, fd] = ChunkedUpper("f", &model, 0);  // no chunk yet: no map
  ASSERT_TRUE(node);
  auto f = OpenChunked(fd.get());  // the handle the kernel still holds
  ASSERT_TRUE(f);
  EXPECT_EQ(MapFileCount(), 0u);
  ASSERT_TRUE(fs_->Unlink(kRoot, "f").ok());
  EXPECT_EQ(drops_, 0) << "the kernel's node is alive: an open handle may still use the map";
  // Writes after the unlink create the map and read back right.
  ASSERT_TRUE(f->Write("after", 5, 5 * kChunk + 1).ok());
  ModelWrite(&model, "after", 5 * kChunk + 1);
  EXPECT_EQ(MapFileCount(), 1u);
  EXPECT_EQ(ReadAll(*f, model.size()), model);
  ASSERT_TRUE(f->Fsync(false).ok());
  f.reset();
  fd.reset();
  const uint64_t id = node->nodeid();
  node.reset();
  EXPECT_EQ(MapFileCount(), 1u);
  fs_->Forget(id, 1);  // last handle released, then the kernel forgets the inode
  EXPECT_EQ(drops_, 1);
  EXPECT_EQ(MapFileCount(), 0u);
}

TEST_F(UnlinkDropTest, RenameOverTheLastLinkDropsItsMap) {
  std::string model;
  {
    auto [node, fd] = ChunkedUpper("victim", &model, 3);
    ASSERT_TRUE(node);
    fs_->Forget(node->nodeid(), 1);
  }
  EXPECT_EQ(MapFileCount(), 1u);
  ASSERT_TRUE(WriteFileAt(upper_dir_.get(), "plain", "x"));
  ASSERT_TRUE(fs_->Rename(kRoot, "plain", kRoot, "victim", 0).ok());
  EXPECT_EQ(drops_, 1);
  EXPECT_EQ(MapFileCount(), 0u);
}

TEST_F(UnlinkDropTest, ReplacedWhileLookedUpDropsWhenForgotten) {
  std::string model;
  auto [node, fd] = ChunkedUpper("victim", &model, 1);
  ASSERT_TRUE(node);
  fd.reset();
  ASSERT_TRUE(WriteFileAt(upper_dir_.get(), "plain", "x"));
  ASSERT_TRUE(fs_->Rename(kRoot, "plain", kRoot, "victim", 0).ok());
  EXPECT_EQ(MapFileCount(), 1u);
  const uint64_t id = node->nodeid();
  node.reset();
  fs_->Forget(id, 1);
  EXPECT_EQ(MapFileCount(), 0u);
}

TEST_F(UnlinkDropTest, AnotherLinkKeepsTheMap) {
  std::string model;
  auto [node, fd] = ChunkedUpper("f", &model, 2);
  ASSERT_TRUE(node);
  ASSERT_TRUE(fs_->Link(node->nodeid(), kRoot, "f2").ok());
  ASSERT_TRUE(fs_->Unlink(kRoot, "f").ok());
  fs_->Forget(node->nodeid(), 2);  // Lookup and Link each counted one
  node.reset();
  EXPECT_EQ(MapFileCount(), 1u);
  EXPECT_EQ(drops_, 0);
  // The map still serves the other name.
  auto f = OpenChunked(fd.get());
  ASSERT_TRUE(f);
  EXPECT_EQ(ReadAll(*f, model.size()), model);
  f.reset();
  fd.reset();
  ASSERT_TRUE(fs_->Unlink(kRoot, "f2").ok());
  EXPECT_EQ(drops_, 1);
  EXPECT_EQ(MapFileCount(), 0u);
}

TEST_F(UnlinkDropTest, PlainFilesAndLowerFilesNeedNoDrop) {
  ASSERT_TRUE(WriteFileAt(upper_dir_.get(), "plain", "x"));
  ASSERT_TRUE(fs_->Unlink(kRoot, "plain").ok());
  MakeLower(lower0_.get(), "low", "data");
  ASSERT_TRUE(fs_->Unlink(kRoot, "low").ok());  // a whiteout
  EXPECT_EQ(checks_, 1) << "only the upper regular file is checked";
  EXPECT_EQ(drops_, 0);
}

TEST_F(UnlinkDropTest, UnmountRunsTheDropsStillWaiting) {
  std::string model;
  auto [node, fd] = ChunkedUpper("f", &model, 1);
  ASSERT_TRUE(node);
  ASSERT_TRUE(fs_->Unlink(kRoot, "f").ok());
  EXPECT_EQ(MapFileCount(), 1u);
  node.reset();
  fs_.reset();  // never forgotten (the kernel does not send every FORGET at unmount)
  EXPECT_EQ(MapFileCount(), 0u);
}

}  // namespace
}  // namespace strata::chunked::testing
