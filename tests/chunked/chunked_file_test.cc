// ChunkedFile against an in-memory model of the merged file.
#include "fs/chunked/chunked_file.h"

#include <linux/falloc.h>
#include <sys/xattr.h>

#include <thread>

#include "tests/chunked/chunked_fixture.h"

namespace strata::chunked::testing {
namespace {

constexpr uint32_t kChunk = 64 * 1024;

using ChunkedFileTest = ChunkedFixture;

TEST_F(ChunkedFileTest, CopyUpSizesUpperWithoutData) {
  const std::string data = RandomData(8 * kChunk + 1234, 1);
  UniqueFd up = MakeChunkedCopy("f", "dir-less-file", data, kChunk);
  struct stat st;
  ASSERT_EQ(::fstat(up.get(), &st), 0);
  EXPECT_EQ(st.st_size, static_cast<off_t>(data.size()));
  EXPECT_LE(st.st_blocks * 512, 4096) << "copy-up must not copy data (one xattr block at most)";
  auto chunked = IsChunked(up.get());
  ASSERT_TRUE(chunked.ok());
  EXPECT_TRUE(*chunked);
  // The same answer by name, without opening (and no for a plain file).
  auto by_name = IsChunkedAt(upper_dir_.get(), "f");
  ASSERT_TRUE(by_name.ok()) << strerror(by_name.error());
  EXPECT_TRUE(*by_name);
  UniqueFd plain(::openat(upper_dir_.get(), "plain", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  ASSERT_TRUE(plain.valid());
  auto plain_by_name = IsChunkedAt(upper_dir_.get(), "plain");
  ASSERT_TRUE(plain_by_name.ok());
  EXPECT_FALSE(*plain_by_name);
  EXPECT_EQ(MapFileCount(), 0u) << "no map before the first chunk is copied";
}

TEST_F(ChunkedFileTest, UntouchedChunksReadTheLower) {
  const std::string data = RandomData(5 * kChunk + kChunk / 2, 2);
  UniqueFd up = MakeChunkedCopy("f", "a", data, kChunk);
  auto f = OpenChunked(up.get());
  ASSERT_TRUE(f);
  EXPECT_EQ(ReadAll(*f, data.size()), data);
  std::mt19937 rng(2);
  for (int i = 0; i < 200; ++i) {
    size_t off = rng() % (data.size() + 100), len = rng() % (3 * kChunk);
    std::string buf(len, 'x');
    auto n = f->Read(buf.data(), len, static_cast<off_t>(off));
    ASSERT_TRUE(n.ok());
    size_t want = off >= data.size() ? 0 : std::min(len, data.size() - off);
    ASSERT_EQ(*n, want);
    ASSERT_EQ(buf.substr(0, want), data.substr(std::min(off, data.size()), want));
  }
}

TEST_F(ChunkedFileTest, OneByteWriteGrowsUpperByAtMostOneChunk) {
  const std::string data = RandomData(64 * kChunk, 3);
  UniqueFd up = MakeChunkedCopy("f", "a", data, kChunk);
  auto f = OpenChunked(up.get());
  ASSERT_TRUE(f);
  ASSERT_TRUE(f->Write("Z", 1, 10 * kChunk + 77).ok());
  struct stat st;
  ASSERT_EQ(::fstat(up.get(), &st), 0);
  EXPECT_LE(st.st_blocks * 512, kChunk + 4096);
  EXPECT_GT(st.st_blocks, 0);
  std::string model = data;
  model[10 * kChunk + 77] = 'Z';
  EXPECT_EQ(ReadAll(*f, model.size()), model);
}

// Random writes (chunk-aligned, partial, crossing chunks, beyond the end)
// checked against the model after each step, and again after a reopen.
TEST_F(ChunkedFileTest, RandomWritesMatchModelAndSurviveReopen) {
  for (uint32_t seed = 10; seed < 14; ++seed) {
    SCOPED_TRACE(seed);
    const std::string name = "f" + std::to_string(seed);
    std::string model = RandomData(40 * kChunk + 100, seed);  // writes stay below chunk 13
    UniqueFd up = MakeChunkedCopy(name, name, model, kChunk);
    auto f = OpenChunked(up.get());
    ASSERT_TRUE(f);
    std::mt19937 rng(seed);
    for (int i = 0; i < 60; ++i) {
      size_t off, len;
      switch (rng() % 4) {
        case 0:
          off = (rng() % 10) * kChunk;
          len = kChunk * (1 + rng() % 2);
          break;  // whole chunks
        case 1:
          off = rng() % (10 * kChunk);
          len = 1 + rng() % 16;
          break;  // tiny
        case 2:
          off = (1 + rng() % 9) * kChunk - 100;
          len = 200;
          break;  // across a boundary
        default:
          off = rng() % (11 * kChunk);
          len = 1 + rng() % (3 * kChunk);
          break;
      }
      if (off > 12 * kChunk) off = kChunk - 100;
      std::string buf(len, '\0');
      for (auto& c : buf) c = static_cast<char>(rng());
      auto n = f->Write(buf.data(), len, static_cast<off_t>(off));
      ASSERT_TRUE(n.ok()) << strerror(n.error());
      ASSERT_EQ(*n, len);
      ModelWrite(&model, buf, off);
      if (i % 10 == 0) {
        ASSERT_EQ(ReadAll(*f, model.size()), model) << "after op " << i;
      }
    }
    ASSERT_EQ(ReadAll(*f, model.size()), model);
    for (int i = 0; i < 100; ++i) {  // reads mixing present and missing chunks
      size_t off = rng() % (model.size() + 10), len = rng() % (4 * kChunk);
      std::string buf(len, 'x');
      auto n = f->Read(buf.data(), len, static_cast<off_t>(off));
      ASSERT_TRUE(n.ok());
      size_t want = off >= model.size() ? 0 : std::min(len, model.size() - off);
      ASSERT_EQ(*n, want);
      ASSERT_EQ(buf.substr(0, want), model.substr(std::min(off, model.size()), want));
    }
    ASSERT_TRUE(f->Fsync(false).ok());
    EXPECT_TRUE(f->chunked());
    f.reset();
    auto again = OpenChunked(up.get());
    ASSERT_TRUE(again);
    EXPECT_EQ(ReadAll(*again, model.size()), model);
  }
}

TEST_F(ChunkedFileTest, TruncateShrinkThenExtendReadsZerosNotLower) {
  std::string model = RandomData(6 * kChunk, 20);
  UniqueFd up = MakeChunkedCopy("f", "a", model, kChunk);
  auto f = OpenChunked(up.get());
  ASSERT_TRUE(f);
  const size_t cut = 2 * kChunk + 1000;  // inside a missing chunk
  ASSERT_TRUE(f->Truncate(static_cast<off_t>(cut)).ok());
  model.resize(cut);
  EXPECT_EQ(ReadAll(*f, model.size()), model);
  ASSERT_TRUE(f->Truncate(static_cast<off_t>(5 * kChunk)).ok());
  model.resize(5 * kChunk, '\0');
  EXPECT_EQ(ReadAll(*f, model.size()), model);
  // Writing into the re-grown area must not bring lower bytes back either.
  ASSERT_TRUE(f->Write("q", 1, 4 * kChunk + 5).ok());
  model[4 * kChunk + 5] = 'q';
  EXPECT_EQ(ReadAll(*f, model.size()), model);
  ASSERT_TRUE(f->Truncate(static_cast<off_t>(kChunk)).ok());  // aligned shrink
  model.resize(kChunk);
  ASSERT_TRUE(f->Truncate(static_cast<off_t>(3 * kChunk)).ok());
  model.resize(3 * kChunk, '\0');
  EXPECT_EQ(ReadAll(*f, model.size()), model);
  f.reset();
  auto again = OpenChunked(up.get());
  ASSERT_TRUE(again);
  EXPECT_EQ(ReadAll(*again, model.size()), model);
}

TEST_F(ChunkedFileTest, ExtendPastUnalignedLowerEndReadsZeros) {
  std::string model = RandomData(3 * kChunk + 500, 21);
  UniqueFd up = MakeChunkedCopy("f", "a", model, kChunk);
  auto f = OpenChunked(up.get());
  ASSERT_TRUE(f);
  ASSERT_TRUE(f->Truncate(static_cast<off_t>(6 * kChunk)).ok());
  model.resize(6 * kChunk, '\0');
  EXPECT_EQ(ReadAll(*f, model.size()), model);
  ASSERT_TRUE(f->Write("abc", 3, 3 * kChunk + 1000).ok());  // fills the partial last chunk
  ModelWrite(&model, "abc", 3 * kChunk + 1000);
  EXPECT_EQ(ReadAll(*f, model.size()), model);
}

TEST_F(ChunkedFileTest, FallocatePunchZeroAndAllocate) {
  std::string model = RandomData(8 * kChunk, 30);
  UniqueFd up = MakeChunkedCopy("f", "a", model, kChunk);
  auto f = OpenChunked(up.get());
  ASSERT_TRUE(f);
  // Partial chunks at both ends, whole chunks inside.
  ASSERT_TRUE(
      f->Fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, kChunk + 100, 2 * kChunk).ok());
  std::fill_n(&model[kChunk + 100], 2 * kChunk, '\0');
  EXPECT_EQ(ReadAll(*f, model.size()), model);
  ASSERT_TRUE(f->Fallocate(FALLOC_FL_ZERO_RANGE, 5 * kChunk + 7, 10).ok());
  std::fill_n(&model[5 * kChunk + 7], 10, '\0');
  EXPECT_EQ(ReadAll(*f, model.size()), model);
  ASSERT_TRUE(f->Fallocate(0, 6 * kChunk, 4 * kChunk).ok());  // allocate, extends the file
  model.resize(10 * kChunk, '\0');
  EXPECT_EQ(ReadAll(*f, model.size()), model);
  ASSERT_TRUE(f->Fallocate(FALLOC_FL_KEEP_SIZE, 0, kChunk).ok());  // content unchanged
  EXPECT_EQ(ReadAll(*f, model.size()), model);
  EXPECT_EQ(f->Fallocate(FALLOC_FL_COLLAPSE_RANGE, 0, kChunk).error(), EOPNOTSUPP);
  f.reset();
  auto again = OpenChunked(up.get());
  ASSERT_TRUE(again);
  EXPECT_EQ(ReadAll(*again, model.size()), model);
}

TEST_F(ChunkedFileTest, MaterializeEqualsModelAndLeavesNoMetadata) {
  std::string model = RandomData(7 * kChunk + 333, 40);
  UniqueFd up = MakeChunkedCopy("f", "a", model, kChunk);
  auto f = OpenChunked(up.get());
  ASSERT_TRUE(f);
  ASSERT_TRUE(f->Write("hello", 5, 3 * kChunk - 2).ok());
  ModelWrite(&model, "hello", 3 * kChunk - 2);
  struct stat before;
  ASSERT_EQ(::fstat(up.get(), &before), 0);
  uint64_t reported = 0;
  ASSERT_TRUE(f->Materialize([&](uint64_t b) { reported += b; }).ok());
  EXPECT_EQ(reported, model.size() - 2 * kChunk);  // two chunks were already there
  EXPECT_FALSE(f->chunked());
  EXPECT_EQ(PreadAllPlain(up.get()), model);
  EXPECT_EQ(ReadAll(*f, model.size()), model);
  char v[64];
  EXPECT_LT(::fgetxattr(up.get(), kChunkedXattr, v, sizeof v), 0);
  EXPECT_EQ(errno, ENODATA);
  EXPECT_EQ(MapFileCount(), 0u);
  auto chunked = IsChunked(up.get());
  ASSERT_TRUE(chunked.ok());
  EXPECT_FALSE(*chunked);
  struct stat after;
  ASSERT_EQ(::fstat(up.get(), &after), 0);
  EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  // Still usable as a plain file afterwards.
  ASSERT_TRUE(f->Write("x", 1, 0).ok());
  model[0] = 'x';
  EXPECT_EQ(PreadAllPlain(up.get()), model);
  EXPECT_EQ(ChunkedFile::Open(up.get(), roots_, work_.get(), true).error(), ENODATA);
}

TEST_F(ChunkedFileTest, WritingEveryChunkDropsTheMetadata) {
  std::string model = RandomData(3 * kChunk, 41);
  UniqueFd up = MakeChunkedCopy("f", "a", model, kChunk);
  auto f = OpenChunked(up.get());
  ASSERT_TRUE(f);
  for (uint32_t c = 0; c < 3; ++c) ASSERT_TRUE(f->Write("w", 1, c * kChunk + 9).ok());
  // Complete, but the last chunks are only pending: the metadata goes once
  // they are durable, here at the fsync (or at the last close).
  EXPECT_TRUE(f->chunked());
  EXPECT_EQ(f->MissingBytes(), 0u);
  ASSERT_TRUE(f->Fsync(true).ok());
  EXPECT_FALSE(f->chunked());
  EXPECT_EQ(MapFileCount(), 0u);
  for (uint32_t c = 0; c < 3; ++c) model[c * kChunk + 9] = 'w';
  EXPECT_EQ(PreadAllPlain(up.get()), model);
}

TEST_F(ChunkedFileTest, CompleteFileBecomesPlainAtLastClose) {
  std::string model = RandomData(2 * kChunk, 42);
  UniqueFd up = MakeChunkedCopy("f", "a", model, kChunk);
  {
    auto f = OpenChunked(up.get());
    ASSERT_TRUE(f);
    for (uint32_t c = 0; c < 2; ++c) ASSERT_TRUE(f->Write("v", 1, c * kChunk).ok());
  }
  auto chunked = IsChunked(up.get());
  ASSERT_TRUE(chunked.ok());
  EXPECT_FALSE(*chunked);
  EXPECT_EQ(MapFileCount(), 0u);
  for (uint32_t c = 0; c < 2; ++c) model[c * kChunk] = 'v';
  EXPECT_EQ(PreadAllPlain(up.get()), model);
}

TEST_F(ChunkedFileTest, ForgedHugeChunkCountIsRefusedWithoutAllocating) {
  UniqueFd up(::openat(upper_dir_.get(), "forged", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  ASSERT_TRUE(up.valid());
  // A valid-looking xattr naming 2^51 chunks of 4 KiB: one byte each would be 2 PiB.
  const std::string forged =
      "v1 0123456789abcdef0123456789abcdef 4096 9223372036854775807 1 0 0 a";
  ASSERT_EQ(::fsetxattr(up.get(), kChunkedXattr, forged.data(), forged.size(), 0), 0);
  auto f = ChunkedFile::Open(up.get(), roots_, work_.get(), true);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error(), EIO);
}

TEST_F(ChunkedFileTest, IdentityMismatchGivesEio) {
  std::string data = RandomData(2 * kChunk, 50);
  UniqueFd up = MakeChunkedCopy("f", "a", data, kChunk);
  // Same size, other mtime: a different file as far as we can tell.
  struct timespec t[2] = {{0, UTIME_OMIT}, {12345, 0}};
  ASSERT_EQ(::utimensat(lower0_.get(), "a", t, AT_SYMLINK_NOFOLLOW), 0);
  EXPECT_EQ(ChunkedFile::Open(up.get(), roots_, work_.get(), true).error(), EIO);
  ASSERT_EQ(::unlinkat(lower0_.get(), "a", 0), 0);
  EXPECT_EQ(ChunkedFile::Open(up.get(), roots_, work_.get(), true).error(), EIO);
  // A symlink where the origin was is never followed.
  ASSERT_EQ(::symlinkat("/etc/passwd", lower0_.get(), "a"), 0);
  EXPECT_EQ(ChunkedFile::Open(up.get(), roots_, work_.get(), true).error(), EIO);
}

TEST_F(ChunkedFileTest, OriginFoundInALowerLayerBelow) {
  std::string data = RandomData(2 * kChunk, 51);
  UniqueFd up = MakeChunkedCopy("f", "a", data, kChunk);
  ASSERT_EQ(::mkdirat(lower1_.get(), "sub", 0755), 0);
  ASSERT_EQ(::renameat(lower0_.get(), "a", lower1_.get(), "a"), 0);  // same inode, other layer
  auto f = OpenChunked(up.get());
  ASSERT_TRUE(f);
  EXPECT_EQ(ReadAll(*f, data.size()), data);
}

TEST_F(ChunkedFileTest, MapFollowsTheInodeThroughRenameAndHardLink) {
  std::string model = RandomData(4 * kChunk, 60);
  UniqueFd up = MakeChunkedCopy("f", "a", model, kChunk);
  ChunkedFileTable table(roots_, work_.get(), true);
  auto f = table.Get(up.get());
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Write("1", 1, 5).ok());
  model[5] = '1';
  ASSERT_EQ(::renameat(upper_dir_.get(), "f", upper_dir_.get(), "g"), 0);
  ASSERT_EQ(::linkat(upper_dir_.get(), "g", upper_dir_.get(), "h", 0), 0);
  UniqueFd h(::openat(upper_dir_.get(), "h", O_RDWR | O_CLOEXEC));
  auto same = table.Get(h.get());
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->get(), f->get()) << "one ChunkedFile per inode";
  f->reset();
  same->reset();
  auto fresh = table.Get(h.get());  // reopened from disk through the other name
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(ReadAll(**fresh, model.size()), model);
}

TEST_F(ChunkedFileTest, ConcurrentWritersOnSharedChunks) {
  std::string model = RandomData(16 * kChunk, 70);
  UniqueFd up = MakeChunkedCopy("f", "a", model, kChunk);
  auto f = OpenChunked(up.get(), /*durable=*/false);
  ASSERT_TRUE(f);
  constexpr int kThreads = 4;
  constexpr size_t kBlock = 4096;
  // Thread t owns the blocks with index % kThreads == t: every chunk is
  // written by all threads at once, so fills race.
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (size_t b = t; b < model.size() / kBlock; b += kThreads) {
        if (rng() % 3 == 0) continue;
        std::string buf(kBlock, static_cast<char>('A' + t));
        ASSERT_TRUE(f->Write(buf.data(), buf.size(), static_cast<off_t>(b * kBlock)).ok());
        std::string got(kBlock, '\0');
        ASSERT_TRUE(f->Read(got.data(), got.size(), static_cast<off_t>(b * kBlock)).ok());
        ASSERT_EQ(got, buf);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    std::mt19937 rng(t);
    for (size_t b = t; b < model.size() / kBlock; b += kThreads) {
      if (rng() % 3 == 0) continue;
      std::fill_n(&model[b * kBlock], kBlock, static_cast<char>('A' + t));
    }
  }
  EXPECT_EQ(ReadAll(*f, model.size()), model);
}

TEST_F(ChunkedFileTest, MaterializeTreeMakesEveryFilePlain) {
  ASSERT_EQ(::mkdirat(upper_dir_.get(), "d", 0755), 0);
  std::string a = RandomData(3 * kChunk + 10, 80), b = RandomData(kChunk / 2, 81);
  UniqueFd fa = MakeChunkedCopy("a", "a", a, kChunk);
  UniqueFd fb = MakeChunkedCopy("b", "b", b, kChunk);
  ASSERT_EQ(::renameat(upper_dir_.get(), "b", upper_dir_.get(), "d/b"), 0);
  ASSERT_EQ(::linkat(upper_dir_.get(), "a", upper_dir_.get(), "d/a-link", 0), 0);
  ASSERT_EQ(::symlinkat("a", upper_dir_.get(), "sym"), 0);
  {
    auto f = OpenChunked(fa.get());
    ASSERT_TRUE(f);
    ASSERT_TRUE(f->Write("!", 1, kChunk).ok());  // a has a map now, b none
    a[kChunk] = '!';
  }
  EXPECT_EQ(MaterializeTree(upper_dir_.get(), roots_, -1, {}).error(), EINVAL);
  EXPECT_EQ(MapFileCount(), 1u);
  uint64_t last_done = 0, last_total = 0;
  ASSERT_TRUE(MaterializeTree(upper_dir_.get(), roots_, work_.get(), [&](uint64_t d, uint64_t t) {
                EXPECT_GE(d, last_done);
                last_done = d;
                last_total = t;
              }).ok());
  EXPECT_EQ(last_total, a.size() - kChunk + b.size());
  EXPECT_EQ(last_done, last_total);
  EXPECT_EQ(PreadAllPlain(fa.get()), a);
  EXPECT_EQ(PreadAllPlain(fb.get()), b);
  EXPECT_FALSE(*IsChunked(fa.get()));
  EXPECT_FALSE(*IsChunked(fb.get()));
  EXPECT_EQ(MapFileCount(), 0u);
}

TEST_F(ChunkedFileTest, OpensFromAnOPathOrAppendFdAndDropsState) {
  std::string model = RandomData(4 * kChunk, 90);
  UniqueFd up = MakeChunkedCopy("f", "a", model, kChunk);
  UniqueFd opath(::openat(upper_dir_.get(), "f", O_PATH | O_CLOEXEC));
  auto f = OpenChunked(opath.get());
  ASSERT_TRUE(f);
  ASSERT_TRUE(f->Write("p", 1, 2 * kChunk + 3).ok());
  f.reset();
  UniqueFd app(::openat(upper_dir_.get(), "f", O_WRONLY | O_APPEND | O_CLOEXEC));
  f = OpenChunked(app.get());
  ASSERT_TRUE(f);
  ASSERT_TRUE(f->Write("q", 1, 5).ok());  // at 5, not at the end
  model[2 * kChunk + 3] = 'p';
  model[5] = 'q';
  EXPECT_EQ(ReadAll(*f, model.size()), model);
  EXPECT_EQ(MapFileCount(), 1u);
  ASSERT_TRUE(DropChunkedState(up.get(), work_.get()).ok());
  EXPECT_EQ(MapFileCount(), 0u);
}

TEST(ChunkSizeForTest, PageChunksUpToTheTrackedLimitThenLarger) {
  EXPECT_EQ(ChunkSizeFor(4096, 1), 4096u);
  EXPECT_EQ(ChunkSizeFor(4096, uint64_t{4} << 30), 4096u);  // exactly 2^20 chunks
  EXPECT_EQ(ChunkSizeFor(4096, (uint64_t{4} << 30) + 1), 8192u);
  EXPECT_EQ(ChunkSizeFor(4096, uint64_t{1} << 40), 1u << 20);
  EXPECT_EQ(ChunkSizeFor(1u << 20, 4096), 1u << 20);  // a larger configured size stays
  EXPECT_EQ(ChunkSizeFor(4096, uint64_t{1} << 62), kMaxChunkSize);
}

// Returns the data extents of `fd` as [begin, end) pairs (SEEK_DATA/SEEK_HOLE).
std::vector<std::pair<off_t, off_t>> DataExtents(int fd) {
  std::vector<std::pair<off_t, off_t>> out;
  off_t pos = 0;
  while (true) {
    off_t data = ::lseek(fd, pos, SEEK_DATA);
    if (data < 0) break;
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    out.emplace_back(data, hole);
    pos = hole;
  }
  return out;
}

TEST_F(ChunkedFileTest, PageChunksWrittenWholeCopyNothingFromTheLower) {
  constexpr uint32_t kPage = 4096;
  std::string model = RandomData(1 << 20, 50);
  UniqueFd up = MakeChunkedCopy("f", "a", model, kPage);
  auto f = OpenChunked(up.get());
  ASSERT_TRUE(f);
  ASSERT_EQ(f->chunk_size(), kPage);
  const std::string block(2 * kPage, 'w');
  ASSERT_TRUE(f->Write(block.data(), block.size(), 16 * kPage).ok());
  ModelWrite(&model, block, 16 * kPage);
  // Only the written pages hold data in the upper: nothing was filled.
  EXPECT_EQ(DataExtents(up.get()),
            (std::vector<std::pair<off_t, off_t>>{{16 * kPage, 18 * kPage}}));
  EXPECT_EQ(f->MissingBytes(), model.size() - 2 * kPage);
  // An unaligned write fills its page only.
  ASSERT_TRUE(f->Write("xy", 2, 40 * kPage + 100).ok());
  ModelWrite(&model, "xy", 40 * kPage + 100);
  EXPECT_EQ(f->MissingBytes(), model.size() - 3 * kPage);
  EXPECT_EQ(ReadAll(*f, model.size()), model);
}

TEST_F(ChunkedFileTest, ReadsAndMaterializeAcrossManyRunsOfPageChunks) {
  constexpr uint32_t kPage = 4096;
  std::string model = RandomData(3 * (1 << 20) + 777, 51);  // 3 MiB: several fill windows
  UniqueFd up = MakeChunkedCopy("f", "a", model, kPage);
  {
    auto f = OpenChunked(up.get());
    ASSERT_TRUE(f);
    std::mt19937 rng(52);
    for (int i = 0; i < 300; ++i) {  // present and missing runs of every length
      const off_t off = static_cast<off_t>(rng() % model.size());
      const std::string bytes(1 + rng() % (3 * kPage), static_cast<char>('a' + i % 26));
      const size_t n = std::min(bytes.size(), model.size() - static_cast<size_t>(off));
      ASSERT_TRUE(f->Write(bytes.data(), n, off).ok());
      ModelWrite(&model, bytes.substr(0, n), off);
    }
    EXPECT_EQ(ReadAll(*f, model.size()), model);
    // Reads of every size at odd offsets cross runs of both kinds.
    for (size_t off = 3; off < model.size(); off += 37 * kPage + 11) {
      std::string buf(5 * kPage + 9, '\0');
      auto n = f->Read(buf.data(), buf.size(), static_cast<off_t>(off));
      ASSERT_TRUE(n.ok());
      buf.resize(*n);
      EXPECT_EQ(buf, model.substr(off, buf.size())) << "at " << off;
    }
  }
  auto f = OpenChunked(up.get());  // the marks, reread from the map
  ASSERT_TRUE(f);
  EXPECT_EQ(ReadAll(*f, model.size()), model);
  const uint64_t missing = f->MissingBytes();
  uint64_t reported = 0;
  ASSERT_TRUE(f->Materialize([&](uint64_t b) { reported += b; }).ok());
  EXPECT_EQ(reported, missing);
  EXPECT_FALSE(f->chunked());
  EXPECT_EQ(PreadAllPlain(up.get()), model);
  EXPECT_EQ(MapFileCount(), 0u);
}

TEST_F(ChunkedFileTest, EmptyLowerStaysPlainAndBadChunkSizeRejected) {
  UniqueFd up = MakeChunkedCopy("f", "a", "", kChunk);
  EXPECT_FALSE(*IsChunked(up.get()));
  struct stat st = MakeLower(lower0_.get(), "b", "data");
  UniqueFd g(::openat(upper_dir_.get(), "g", O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  EXPECT_EQ(InitChunkedCopy(g.get(), st, {"b"}, 1000).error(), EINVAL);
  EXPECT_EQ(InitChunkedCopy(g.get(), st, {"/b"}, kChunk).error(), EINVAL);
}

}  // namespace
}  // namespace strata::chunked::testing
