// ListMerged: the merged listing of a 5000-entry directory spread over three
// lowers, with names repeated across layers and whiteouts, as readdir of a
// large image directory needs it.
#include <benchmark/benchmark.h>

#include <string>

#include "bench/layer_fixture.h"
#include "fs/layer/merged_dir.h"

namespace strata::bench {
namespace {

constexpr int kEntries = 5000;

class MergedDirFixture {
 public:
  MergedDirFixture() {
    for (int layer = 0; layer <= 3; ++layer) layer_.MakeDir(layer, "big");
    for (int i = 0; i < kEntries; ++i) {
      const std::string name = "big/entry" + std::to_string(i);
      layer_.WriteFile(1 + i % 3, name);  // each lower holds a third
      if (i % 10 == 0) layer_.WriteFile(3, name);  // some shadowed below
    }
    // Whiteouts in the top lower of names the bottom one provides, and a few
    // entries written in the upper.
    for (int i = 0; i < 100; ++i) {
      const std::string name = "big/gone" + std::to_string(i);
      layer_.WriteFile(3, name);
      layer_.MakeWhiteout(1, name);
    }
    for (int i = 0; i < 50; ++i) layer_.WriteFile(0, "big/new" + std::to_string(i));
    layer_.Open();
    dir_ = layer_.ResolveDir("big");
  }
  const layer::LayerStack& stack() const { return layer_.stack(); }
  const std::vector<layer::DirInstance>& dir() const { return dir_; }

 private:
  LayerFixture layer_;
  std::vector<layer::DirInstance> dir_;
};

MergedDirFixture& Fixture() {
  static MergedDirFixture fixture;
  return fixture;
}

void BM_ListMerged5000(benchmark::State& state) {
  auto& f = Fixture();
  size_t entries = 0;
  for (auto _ : state) {
    auto listing = layer::ListMerged(f.stack(), f.dir());
    if (!listing.ok()) {
      state.SkipWithError("ListMerged failed");
      break;
    }
    entries = listing->size();
    benchmark::DoNotOptimize(listing);
  }
  if (entries != kEntries + 50) state.SkipWithError("unexpected number of merged entries");
  state.counters["entries"] = static_cast<double>(entries);
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(entries));
}

BENCHMARK(BM_ListMerged5000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace strata::bench

BENCHMARK_MAIN();
