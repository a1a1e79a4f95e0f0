// Chunked copy-up (issue 4) in-process costs, on the filesystem of
// $STRATA_BENCH_DIR (default /tmp):
//   OneByteWrite/Chunked  InitChunkedCopy + Open + 1-byte Write + Fsync into a 1 GiB lower
//   OneByteWrite/FullCopy copy_file_range of the whole file + 1-byte pwrite + fsync
//   RandomWrite4K         random 4 KiB writes into a half-copied 256 MiB file vs a plain one
//   SeqRead               128 KiB sequential reads of a half-copied file vs a plain one
// ("half-copied": every other MiB written, whatever the chunk size)
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "fs/chunked/chunked_file.h"
#include "fs/sys/syscalls.h"

namespace strata::chunked {
namespace {

constexpr off_t kBigLower = 1ll << 30;
constexpr off_t kMidFile = 256ll << 20;

// Bench directory with lower/, upper/, work/ and the lower files, made once.
struct BenchDirs {
  std::string root;
  UniqueFd lower, upper, work;

  BenchDirs() {
    const char* base = std::getenv("STRATA_BENCH_DIR");
    root = std::string(base ? base : "/tmp") + "/strata-chunked-bench";
    for (const char* d : {"", "/lower", "/upper", "/work"}) ::mkdir((root + d).c_str(), 0755);
    lower = Open("/lower");
    upper = Open("/upper");
    work = Open("/work");
    MakeLower("big", kBigLower);
    MakeLower("mid", kMidFile);
  }
  ~BenchDirs() {
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  }
  UniqueFd Open(const char* d) {
    return UniqueFd(::open((root + d).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  }
  // Real data (not a sparse file), so that a full copy has bytes to move.
  void MakeLower(const char* name, off_t size) {
    struct stat st;
    if (::fstatat(lower.get(), name, &st, 0) == 0 && st.st_size == size) return;
    UniqueFd fd(::openat(lower.get(), name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    std::vector<char> buf(8 << 20);
    std::mt19937_64 rng(7);
    for (size_t i = 0; i < buf.size(); i += 8) *reinterpret_cast<uint64_t*>(&buf[i]) = rng();
    for (off_t off = 0; off < size; off += static_cast<off_t>(buf.size()))
      (void)sys::PwriteAll(fd.get(), buf.data(), buf.size(), off);
    ::fsync(fd.get());
  }
  struct stat LowerStat(const char* name) {
    struct stat st;
    ::fstatat(lower.get(), name, &st, 0);
    return st;
  }
};

BenchDirs& Dirs() {
  static BenchDirs dirs;
  return dirs;
}

UniqueFd FreshUpper(const char* name) {
  ::unlinkat(Dirs().upper.get(), name, 0);
  return UniqueFd(::openat(Dirs().upper.get(), name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
}

void BM_OneByteWrite_Chunked(benchmark::State& state) {
  const uint32_t chunk = static_cast<uint32_t>(state.range(0));
  const bool durable = state.range(1) != 0, app_fsync = state.range(1) == 2;
  auto& d = Dirs();
  const struct stat lst = d.LowerStat("big");
  const int roots[] = {d.lower.get()};
  int64_t grown = 0;
  for (auto _ : state) {
    UniqueFd up = FreshUpper("one");
    if (!InitChunkedCopy(up.get(), lst, {"big"}, chunk).ok()) state.SkipWithError("init");
    auto f = ChunkedFile::Open(up.get(), roots, d.work.get(), durable);
    if (!f.ok()) {
      state.SkipWithError("open");
      break;
    }
    if (!(*f)->Write("x", 1, kBigLower / 2 + 12345).ok()) state.SkipWithError("write");
    if (app_fsync && !(*f)->Fsync(false).ok()) state.SkipWithError("fsync");
    state.PauseTiming();
    struct stat st;
    ::fstat(up.get(), &st);
    grown = st.st_blocks * 512;
    f->reset();
    state.ResumeTiming();
  }
  state.counters["upper_bytes"] = static_cast<double>(grown);
}
// Args: chunk size, mode: 0 volatile, 1 durable (the chunk is marked pending:
// no sync; a chunked copy-up has no data to sync either), 2 durable and the
// writer calls fsync() (the chunk's data and the map are synced).
BENCHMARK(BM_OneByteWrite_Chunked)
    ->Args({4 << 10, 1})
    ->Args({256 << 10, 1})
    ->Args({1 << 20, 1})
    ->Args({4 << 20, 1})
    ->Args({4 << 10, 0})
    ->Args({4 << 10, 2})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(10);

void BM_OneByteWrite_FullCopy(benchmark::State& state) {
  auto& d = Dirs();
  UniqueFd lower(::openat(d.lower.get(), "big", O_RDONLY | O_CLOEXEC));
  for (auto _ : state) {
    UniqueFd up = FreshUpper("full");
    for (off_t off = 0; off < kBigLower;) {
      loff_t in = off, out = off;
      ssize_t n = ::copy_file_range(lower.get(), &in, up.get(), &out, 64 << 20, 0);
      if (n <= 0) {
        state.SkipWithError("copy_file_range");
        break;
      }
      off += n;
    }
    (void)sys::PwriteAll(up.get(), "x", 1, kBigLower / 2 + 12345);
    ::fsync(up.get());
  }
  ::unlinkat(d.upper.get(), "full", 0);
}
BENCHMARK(BM_OneByteWrite_FullCopy)->Unit(benchmark::kMillisecond)->Iterations(3);

// A 256 MiB file: chunked with every other 1 MiB chunk already written, or plain.
struct MidFile {
  UniqueFd fd;
  std::shared_ptr<ChunkedFile> chunked;
};

MidFile MakeMid(bool chunked, bool durable, uint32_t chunk_size = kDefaultChunkSize,
                bool sparse_plain = false) {
  auto& d = Dirs();
  MidFile m;
  m.fd = FreshUpper(chunked ? "mid-chunked" : "mid-plain");
  UniqueFd lower(::openat(d.lower.get(), "mid", O_RDONLY | O_CLOEXEC));
  if (!chunked && sparse_plain) {  // every other MiB written, the rest holes
    const std::vector<char> mib_of_y(1 << 20, 'y');
    (void)::ftruncate(m.fd.get(), kMidFile);
    for (off_t mib = 0; mib < kMidFile; mib += 2 << 20)
      (void)sys::PwriteAll(m.fd.get(), mib_of_y.data(), mib_of_y.size(), mib);
    ::fsync(m.fd.get());
    return m;
  }
  if (!chunked) {
    for (off_t off = 0; off < kMidFile;) {
      loff_t in = off, out = off;
      ssize_t n = ::copy_file_range(lower.get(), &in, m.fd.get(), &out, 64 << 20, 0);
      if (n <= 0) break;
      off += n;
    }
    ::fsync(m.fd.get());  // timing starts with no writeback of the set-up running
    return m;
  }
  const int roots[] = {d.lower.get()};
  (void)InitChunkedCopy(m.fd.get(), d.LowerStat("mid"), {"mid"}, chunk_size);
  auto f = ChunkedFile::Open(m.fd.get(), roots, d.work.get(), durable);
  if (!f.ok()) return m;
  m.chunked = *f;
  // Half copied whatever the chunk size: every other MiB rewritten whole, in
  // one write (the same page-cache folios at every chunk size: 4 KiB fills
  // would leave 4 KiB folios, which alone read 1.3x slower than large ones).
  const std::vector<char> mib_of_y(1 << 20, 'y');
  for (off_t mib = 0; mib < kMidFile; mib += 2 << 20)
    (void)m.chunked->Write(mib_of_y.data(), mib_of_y.size(), mib);
  (void)m.chunked->Fsync(/*datasync=*/false);
  return m;
}

void BM_RandomWrite4K(benchmark::State& state) {
  // range(0): 0 plain copied-up file, 1 chunked, 2 plain file with the
  // chunked one's holes (what writing into never-copied ranges costs ext4).
  const bool chunked = state.range(0) == 1, durable = state.range(1) != 0;
  const auto chunk_size = static_cast<uint32_t>(state.range(2)) << 10;
  MidFile m = MakeMid(chunked, durable, chunk_size, state.range(0) == 2);
  if (chunked && !m.chunked) {
    state.SkipWithError("open");
    return;
  }
  std::mt19937_64 rng(1);
  std::vector<char> buf(4096, 'w');
  for (auto _ : state) {
    off_t off = static_cast<off_t>(rng() % (kMidFile / 4096)) * 4096;
    if (chunked)
      (void)m.chunked->Write(buf.data(), buf.size(), off);
    else
      (void)sys::PwriteAll(m.fd.get(), buf.data(), buf.size(), off);
  }
  state.SetBytesProcessed(state.iterations() * 4096);
  if (chunked)
    state.counters["missing_MiB_left"] = static_cast<double>(m.chunked->MissingBytes() >> 20);
}
// Args: chunked?, durable?, chunk size in KiB  (plain upper first, as the
// reference; 4 KiB is the default chunk size, the others show why)
BENCHMARK(BM_RandomWrite4K)
    ->Args({0, 1, 4})
    ->Args({2, 1, 4})
    ->Args({1, 1, 4})
    ->Args({1, 0, 4})
    ->Args({1, 1, 64})
    ->Args({1, 1, 1024})
    ->Iterations(20000);

void BM_SeqRead(benchmark::State& state) {
  const bool chunked = state.range(0) != 0;
  MidFile m = MakeMid(chunked, true, static_cast<uint32_t>(state.range(1)) << 10);
  if (chunked && !m.chunked) {
    state.SkipWithError("open");
    return;
  }
  std::vector<char> buf(128 << 10);
  for (auto _ : state) {
    for (off_t off = 0; off < kMidFile; off += static_cast<off_t>(buf.size())) {
      if (chunked)
        benchmark::DoNotOptimize(m.chunked->Read(buf.data(), buf.size(), off));
      else
        benchmark::DoNotOptimize(::pread(m.fd.get(), buf.data(), buf.size(), off));
    }
  }
  state.SetBytesProcessed(state.iterations() * kMidFile);
}
// Args: chunked?, chunk size in KiB
BENCHMARK(BM_SeqRead)
    ->Args({0, 4})
    ->Args({1, 4})
    ->Args({1, 1024})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace strata::chunked

BENCHMARK_MAIN();
