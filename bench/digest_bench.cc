// Throughput of the hashing path of `strata digest` on warm (page-cached)
// files: XXH3-128 on memory (the ceiling), one file through HashFd, and whole
// layers through DigestLayer with 1..N threads. Goal: >= 2 GB/s warm.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <time.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fs/base/unique_fd.h"
#include "tools/content_hash.h"
#include "tools/layer_digest.h"

namespace {

// CPU seconds of the whole process (all threads): this machine is shared, so
// wall-clock throughput depends on the neighbours; bytes per CPU-second does not.
double ProcessCpuSeconds() {
  struct timespec ts;
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

constexpr size_t kBigFiles = 8;
constexpr size_t kBigFileBytes = 32 << 20;
constexpr size_t kSmallFiles = 2000;
constexpr size_t kSmallFileBytes = 4096;

// A layer made once per process, removed at exit.
class BenchLayer {
 public:
  static BenchLayer& Get() {
    static BenchLayer layer;
    return layer;
  }
  const std::string& path() const { return path_; }
  uint64_t bytes() const { return kBigFiles * kBigFileBytes + kSmallFiles * kSmallFileBytes; }
  ~BenchLayer() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

 private:
  BenchLayer() {
    char tmpl[] = "/tmp/strata-digest-bench.XXXXXX";
    path_ = ::mkdtemp(tmpl);
    std::string data(kBigFileBytes, '\0');
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 2654435761u) >> 13);
    for (size_t i = 0; i < kBigFiles; ++i) {
      data[0] = static_cast<char>(i);
      std::ofstream(path_ + "/big" + std::to_string(i), std::ios::binary) << data;
    }
    for (size_t i = 0; i < kSmallFiles; ++i) {
      std::string dir = path_ + "/small/d" + std::to_string(i % 50);
      std::filesystem::create_directories(dir);
      std::ofstream(dir + "/f" + std::to_string(i), std::ios::binary) << data.substr(i, kSmallFileBytes);
    }
  }
  std::string path_;
};

void BM_Xxh3Memory(benchmark::State& state) {
  std::string data(64 << 20, 'x');
  for (auto _ : state) benchmark::DoNotOptimize(XXH3_128bits(data.data(), data.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_Xxh3Memory)->Unit(benchmark::kMillisecond);

void BM_HashFdWarm(benchmark::State& state) {
  std::string file = BenchLayer::Get().path() + "/big0";
  for (auto _ : state) {
    strata::UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    auto h = strata::tools::HashFd(fd.get());
    if (!h.ok()) state.SkipWithError("read failed");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBigFileBytes));
}
BENCHMARK(BM_HashFdWarm)->Unit(benchmark::kMillisecond);

void BM_DigestLayerWarm(benchmark::State& state) {
  BenchLayer& layer = BenchLayer::Get();
  strata::UniqueFd root(::open(layer.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  strata::tools::DigestOptions options;
  options.threads = static_cast<unsigned>(state.range(0));
  std::string error;
  (void)strata::tools::DigestLayer(root.get(), options, &error);  // warm the page cache
  double cpu0 = ProcessCpuSeconds();
  for (auto _ : state) {
    auto d = strata::tools::DigestLayer(root.get(), options, &error);
    if (!d.ok()) state.SkipWithError(error.c_str());
  }
  double cpu = ProcessCpuSeconds() - cpu0;
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * layer.bytes()));
  state.counters["GB_per_cpu_s"] = static_cast<double>(state.iterations() * layer.bytes()) / cpu / 1e9;
}
BENCHMARK(BM_DigestLayerWarm)->Arg(1)->Arg(2)->Arg(4)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
