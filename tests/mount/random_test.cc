// Seeded random operation sequences, compared op by op with kernel
// overlayfs, then the final trees and the remounts. Defaults: 20 seeds x
// 300 ops; STRATA_SEEDS, STRATA_OPS, STRATA_SEED_BASE change them
// (STRATA_SEED_BASE=N STRATA_SEEDS=1 reruns seed N alone).
#include <cstdlib>
#include <string>

#include "tests/mount/diff_test_base.h"
#include "tests/mount/random_ops.h"
#include "tests/mount/tree_snapshot.h"

namespace strata::mounttest {
namespace {

uint64_t EnvNumber(const char* name, uint64_t fallback) {
  const char* text = getenv(name);
  return text && *text ? std::strtoull(text, nullptr, 10) : fallback;
}

class RandomSequences : public DiffTestBase {
 protected:
  // Each seed builds four fixtures, makes five mounts and runs its ops twice.
  int LimitSeconds() const override {
    return 30 + static_cast<int>(EnvNumber("STRATA_SEEDS", 20) *
                                 (5 + EnvNumber("STRATA_OPS", 300) / 50));
  }
  // Runs one seed; returns "" or a report with the seed and the op log.
  std::string RunSeed(uint64_t seed, uint64_t op_count) {
    SessionOptions options;
    options.daemon_form = seed % 2 ? MarkerForm::kOci : MarkerForm::kUserXattr;
    session_ = std::make_unique<DiffSession>("rand", options);
    std::string error = session_->Start();
    if (!error.empty()) return "cannot mount: " + error;
    std::vector<std::string> existing;
    for (const auto& [path, entry] : Snapshot(session_->kernel_mnt())) {
      if (path != ".") existing.push_back(path);
    }
    RandomOps generator(seed, existing);
    std::string report;
    for (uint64_t i = 0; i < op_count; ++i) {
      std::string mismatch = session_->Apply(generator.Next());
      if (!mismatch.empty()) {
        // Later ops would only repeat the consequences of this one.
        report = "first mismatch at op " + std::to_string(i + 1) + ": " + mismatch + "\n";
        break;
      }
    }
    std::string diff = session_->CompareLiveTrees();
    std::string after = session_->CheckAfterUnmount();
    report += diff + after;
    if (!report.empty()) {
      report = "seed " + std::to_string(seed) + " (rerun: STRATA_SEED_BASE=" +
               std::to_string(seed) + " STRATA_SEEDS=1 STRATA_OPS=" + std::to_string(op_count) +
               "):\n" + report + "op log:\n" + session_->Log();
    }
    session_.reset();
    return report;
  }

  void TearDown() override {
    session_.reset();
    DiffTestBase::TearDown();
  }

  std::unique_ptr<DiffSession> session_;
};

TEST_F(RandomSequences, MatchKernelOverlayfs) {
  uint64_t seeds = EnvNumber("STRATA_SEEDS", 20);
  uint64_t ops = EnvNumber("STRATA_OPS", 300);
  uint64_t base = EnvNumber("STRATA_SEED_BASE", 1);
  int failures = 0;
  for (uint64_t seed = base; seed < base + seeds; ++seed) {
    std::string report = RunSeed(seed, ops);
    if (!report.empty()) {
      ++failures;
      ADD_FAILURE() << report;
    }
  }
  EXPECT_EQ(failures, 0) << failures << " of " << seeds << " seeds disagree with the kernel";
}

}  // namespace
}  // namespace strata::mounttest
