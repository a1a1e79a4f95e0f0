// InodeTable: the nodeid map every FUSE request goes through (Get), the
// object map behind every lookup (LookupOrInsert), FORGET, and what one
// cached node costs in memory (issue 3: at most ~300 bytes per cached inode).
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <memory>
#include <vector>

#include "fs/node/inode_table.h"

namespace strata::bench {
namespace {

constexpr int kPopulation = 100000;

std::shared_ptr<const Placement> SharedPlacement() {
  static auto placement = std::make_shared<const Placement>();
  return placement;
}

std::unique_ptr<InodeTable> MakeTable() {
  auto root = std::make_shared<Node>(InodeTable::kRootId, S_IFDIR, 1, SharedPlacement());
  return std::make_unique<InodeTable>(std::move(root));
}

NodeKey KeyFor(uint64_t i) { return NodeKey{2049, 1000000 + i, 0}; }

InodeTable::NodeFactory FileFactory(uint64_t ino) {
  return [ino](uint64_t nodeid) {
    return std::make_shared<Node>(nodeid, S_IFREG, ino, SharedPlacement());
  };
}

// A table holding kPopulation looked-up nodes, shared by the benchmarks
// (the table is internally locked, so threads may share it).
struct Populated {
  std::unique_ptr<InodeTable> table = MakeTable();
  std::vector<std::shared_ptr<Node>> nodes;
  Populated() {
    nodes.reserve(kPopulation);
    for (uint64_t i = 0; i < kPopulation; ++i)
      nodes.push_back(table->LookupOrInsert(KeyFor(i), FileFactory(i)));
  }
};

Populated& Shared() {
  static Populated populated;
  return populated;
}

// Get(nodeid): every FUSE request with an inode argument.
void BM_InodeTableGet(benchmark::State& state) {
  auto& p = Shared();
  uint64_t i = static_cast<uint64_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    auto node = p.table->Get(p.nodes[i % kPopulation]->nodeid());
    benchmark::DoNotOptimize(node);
    i += 104729;  // a large prime stride: spread over the shards
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_InodeTableGet)->Threads(1)->Threads(2)->UseRealTime();

// LookupOrInsert of an object that already has a node (a repeated lookup),
// with the matching Forget so lookup counts stay bounded.
void BM_InodeTableLookupExisting(benchmark::State& state) {
  auto& p = Shared();
  uint64_t i = static_cast<uint64_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    uint64_t k = i % kPopulation;
    auto node = p.table->LookupOrInsert(KeyFor(k), FileFactory(k));
    p.table->Forget(node->nodeid(), 1);
    i += 104729;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_InodeTableLookupExisting)->Threads(1)->Threads(2)->UseRealTime();

// A node's whole life: first lookup creates it, FORGET drops it.
void BM_InodeTableInsertForget(benchmark::State& state) {
  auto table = MakeTable();
  uint64_t i = kPopulation;
  for (auto _ : state) {
    auto node = table->LookupOrInsert(KeyFor(i), FileFactory(i));
    const uint64_t id = node->nodeid();
    node.reset();
    table->Forget(id, 1);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_InodeTableInsertForget);

// Heap bytes per cached node (table entries + Node), measured with mallinfo2
// over kPopulation lookups of distinct objects whose only holder is the
// table. Excludes what a real node also holds (placement fds, listings).
void BM_InodeTableBytesPerNode(benchmark::State& state) {
  double per_node = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto table = MakeTable();
    const size_t before = mallinfo2().uordblks;
    state.ResumeTiming();
    for (uint64_t i = 0; i < kPopulation; ++i) table->LookupOrInsert(KeyFor(i), FileFactory(i));
    state.PauseTiming();
    per_node = static_cast<double>(mallinfo2().uordblks - before) / kPopulation;
    if (table->size() < kPopulation) state.SkipWithError("table did not keep its nodes");
    table.reset();
    state.ResumeTiming();
  }
  state.counters["bytes_per_node"] = per_node;
  state.SetItemsProcessed(state.iterations() * kPopulation);
}
BENCHMARK(BM_InodeTableBytesPerNode)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace strata::bench

BENCHMARK_MAIN();
