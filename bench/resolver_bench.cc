// Resolve: one name of a merged directory across an upper and three lowers,
// the work behind every FUSE lookup that misses the kernel's dentry cache.
#include <benchmark/benchmark.h>

#include "bench/layer_fixture.h"
#include "fs/layer/resolver.h"

namespace strata::bench {
namespace {

// Layers: 0 upper, 1 top lower (l1) .. 3 bottom lower (l3). Every layer has
// "d", so "d" merges four instances and each probe walks as deep as it must.
class ResolverFixture {
 public:
  ResolverFixture() {
    for (int layer = 0; layer <= 3; ++layer) layer_.MakeDir(layer, "d/sub");
    layer_.WriteFile(0, "d/in_upper");
    layer_.WriteFile(1, "d/in_top_lower");
    layer_.WriteFile(3, "d/in_bottom_lower");
    layer_.WriteFile(3, "d/whited_out");
    layer_.MakeWhiteout(1, "d/whited_out");
    layer_.Open();
    dir_ = layer_.ResolveDir("d");
  }
  const layer::LayerStack& stack() const { return layer_.stack(); }
  const std::vector<layer::DirInstance>& dir() const { return dir_; }

 private:
  LayerFixture layer_;
  std::vector<layer::DirInstance> dir_;
};

ResolverFixture& Fixture() {
  static ResolverFixture fixture;
  return fixture;
}

void ResolveName(benchmark::State& state, const char* name, bool expect_found) {
  auto& f = Fixture();
  for (auto _ : state) {
    auto r = layer::Resolve(f.stack(), f.dir(), name);
    if (!r.ok() || r->has_value() != expect_found) {
      state.SkipWithError("unexpected resolver result");
      break;
    }
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_ResolveHitUpper(benchmark::State& state) { ResolveName(state, "in_upper", true); }
void BM_ResolveHitTopLower(benchmark::State& state) { ResolveName(state, "in_top_lower", true); }
void BM_ResolveHitBottomLower(benchmark::State& state) { ResolveName(state, "in_bottom_lower", true); }
void BM_ResolveMiss(benchmark::State& state) { ResolveName(state, "absent", false); }
void BM_ResolveWhiteout(benchmark::State& state) { ResolveName(state, "whited_out", false); }
// A directory present in all four layers: opens four instances.
void BM_ResolveMergedDir(benchmark::State& state) { ResolveName(state, "sub", true); }

BENCHMARK(BM_ResolveHitUpper);
BENCHMARK(BM_ResolveHitTopLower);
BENCHMARK(BM_ResolveHitBottomLower);
BENCHMARK(BM_ResolveMiss);
BENCHMARK(BM_ResolveWhiteout);
BENCHMARK(BM_ResolveMergedDir);

}  // namespace
}  // namespace strata::bench

BENCHMARK_MAIN();
