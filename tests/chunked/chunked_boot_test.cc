// Pending presence marks (FORMAT.md §4): a chunk written but not yet synced
// is trusted after the daemon dies within the same boot (the kernel kept its
// page cache), never after a reboot; fsync and the last close make it durable.
#include <sys/wait.h>

#include "fs/chunked/chunk_map.h"
#include "fs/chunked/chunked_file.h"
#include "fs/base/scope_guard.h"
#include "tests/chunked/chunked_fixture.h"

namespace strata::chunked::testing {
namespace {

constexpr uint32_t kChunk = 64 * 1024;
constexpr const char* kOtherBoot = "00000000-0000-4000-8000-000000000001";

using ChunkedBootTest = ChunkedFixture;

// Runs `writes` on the chunked file in a child that then dies without any
// clean-up (no destructor, no close): what a SIGKILL of the daemon leaves.
void WriteInDyingChild(int upper_fd, std::span<const int> roots, int workdir,
                       const std::function<bool(ChunkedFile&)>& writes) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto f = ChunkedFile::Open(upper_fd, roots, workdir, /*durable=*/true);
    bool ok = f.ok() && writes(**f);
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// Offset of the first byte where a and b differ (-1: equal), so a failure
// names a position rather than printing megabytes.
long FirstDifference(const std::string& a, const std::string& b) {
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    if (a[i] != b[i]) return static_cast<long>(i);
  return a.size() == b.size() ? -1 : static_cast<long>(std::min(a.size(), b.size()));
}

std::string ChunkAt(ChunkedFile& f, uint64_t chunk) {
  std::string buf(kChunk, '\0');
  auto n = f.Read(buf.data(), kChunk, static_cast<off_t>(chunk * kChunk));
  EXPECT_TRUE(n.ok());
  buf.resize(n.ok() ? *n : 0);
  return buf;
}

TEST_F(ChunkedBootTest, PendingChunksSurviveADaemonCrashButNotAReboot) {
  ASSERT_FALSE(CurrentBootId().empty()) << "no /proc/sys/kernel/random/boot_id";
  ScopeGuard restore([] { SetBootIdForTesting(""); });
  const std::string data = RandomData(16 * kChunk, 21);
  UniqueFd up = MakeChunkedCopy("f", "a", data, kChunk);
  std::string model = data;
  auto put = [&](uint64_t chunk, char c) { model[chunk * kChunk + 5] = c; };

  // Chunk 3 fsync'ed, chunk 7 only written; then the daemon dies.
  WriteInDyingChild(up.get(), roots_, work_.get(), [](ChunkedFile& f) {
    return f.Write("A", 1, 3 * kChunk + 5).ok() && f.Fsync(true).ok() &&
           f.Write("B", 1, 7 * kChunk + 5).ok();
  });
  put(3, 'A');
  put(7, 'B');
  {
    // Same boot: both are there. Closing makes chunk 7 durable.
    auto f = OpenChunked(up.get());
    ASSERT_TRUE(f);
    EXPECT_EQ(FirstDifference(ReadAll(*f, model.size()), model), -1);
  }
  // Chunk 11 written and fsync'ed, chunk 9 written after the fsync, then a crash.
  WriteInDyingChild(up.get(), roots_, work_.get(), [](ChunkedFile& f) {
    return f.Write("D", 1, 11 * kChunk + 5).ok() && f.Fsync(false).ok() &&
           f.Write("C", 1, 9 * kChunk + 5).ok();
  });
  put(11, 'D');
  put(9, 'C');
  // The machine "reboots": chunk 9 was never synced, so it reads the lower
  // again; 9's fsync'ed neighbour 11 and the closed file's chunk 7 stay.
  SetBootIdForTesting(kOtherBoot);
  model[9 * kChunk + 5] = data[9 * kChunk + 5];
  {
    auto f = OpenChunked(up.get());
    ASSERT_TRUE(f);
    EXPECT_EQ(FirstDifference(ReadAll(*f, model.size()), model), -1);
    EXPECT_EQ(FirstDifference(ChunkAt(*f, 9), data.substr(9 * kChunk, kChunk)), -1);
  }
}

TEST_F(ChunkedBootTest, PendingChunkOfAnotherBootIsRefilledFromTheLower) {
  ScopeGuard restore([] { SetBootIdForTesting(""); });
  const std::string data = RandomData(8 * kChunk, 22);
  UniqueFd up = MakeChunkedCopy("f", "a", data, kChunk);
  WriteInDyingChild(up.get(), roots_, work_.get(),
                    [](ChunkedFile& f) { return f.Write("X", 1, 2 * kChunk).ok(); });
  SetBootIdForTesting(kOtherBoot);
  // The chunk is missing again: a new partial write must bring back the
  // lower's bytes around it, not whatever the upper held.
  auto f = OpenChunked(up.get());
  ASSERT_TRUE(f);
  ASSERT_TRUE(f->Write("Y", 1, 2 * kChunk + 100).ok());
  std::string want = data.substr(2 * kChunk, kChunk);
  want[100] = 'Y';
  EXPECT_EQ(FirstDifference(ChunkAt(*f, 2), want), -1);
}

}  // namespace
}  // namespace strata::chunked::testing
